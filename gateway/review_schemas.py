"""The /reviews routes' JSON: pydantic models, and the one conversion from the orchestrator's ReviewTask to each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, cast

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from civicflow.auth.tokens import MAX_SUBJECT_LENGTH
from civicflow.input_limits import MAX_TEXT_LENGTH
from civicflow.v1 import orchestrator_pb2
from gateway.schemas import RequestBody

ReviewStatusName = Literal["open", "claimed", "decided", "cancelled"]
ReviewDecisionName = Literal["ELIGIBLE", "NOT_ELIGIBLE"]
STATUS_NAMES: dict[int, ReviewStatusName] = {
    orchestrator_pb2.REVIEW_STATUS_OPEN: "open",
    orchestrator_pb2.REVIEW_STATUS_CLAIMED: "claimed",
    orchestrator_pb2.REVIEW_STATUS_DECIDED: "decided",
    orchestrator_pb2.REVIEW_STATUS_CANCELLED: "cancelled",
}
STATUS_VALUES: dict[ReviewStatusName, orchestrator_pb2.ReviewStatus] = {
    "open": orchestrator_pb2.REVIEW_STATUS_OPEN,
    "claimed": orchestrator_pb2.REVIEW_STATUS_CLAIMED,
    "decided": orchestrator_pb2.REVIEW_STATUS_DECIDED,
    "cancelled": orchestrator_pb2.REVIEW_STATUS_CANCELLED,
}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MIN_JUSTIFICATION_LENGTH = 20


class ReviewTask(BaseModel):
    review_task_id: str
    instance_id: str = Field(description="The run that waits for the task's decision.")
    citizen_id: str
    scheme_name: str
    scheme_version: int
    recommendation: str = Field(description="What the engine recommended: NEEDS_REVIEW.")
    reasons: list[Any] = Field(description="The engine's reasons, one per criterion, as in a decision's `reasons`.")
    status: ReviewStatusName
    assignee: str | None = Field(description="Who holds (or decided) the task; null while it is open.")
    submitted_by: str = Field(description="Who started the run: never its reviewer.")
    created_at: datetime | None
    due_at: datetime | None
    overdue: bool = Field(description="Past due_at and neither decided nor cancelled.")
    decided_at: datetime | None = Field(description="Null until decided.")
    decision: ReviewDecisionName | None = Field(description="The reviewer's decision; null until decided.")
    justification: str | None = Field(description="The reviewer's reasons; null until decided.")
    candidate_role: str = Field(description="The role a reviewer must hold.")
    claim_expires_at: datetime | None = Field(
        description="While claimed: when the claim lapses and the task returns to the queue; null otherwise."
    )


class ReviewPage(BaseModel):
    items: list[ReviewTask]
    next_offset: int | None = Field(description="The offset of the next page; null on the last page.")


class ReassignBody(RequestBody):
    assignee: str = Field(
        min_length=1,
        max_length=MAX_SUBJECT_LENGTH,
        description="The subject who takes the task over; never the run's submitter.",
        examples=["bob"],
    )


class DecideBody(RequestBody):
    decision: ReviewDecisionName = Field(description="The reviewer's decision.", examples=["ELIGIBLE"])
    justification: str = Field(
        min_length=MIN_JUSTIFICATION_LENGTH,
        max_length=MAX_TEXT_LENGTH,
        description="Why, in at least 20 characters; recorded in the run's outputs and its audit trail.",
        examples=["Income verified against the employer's statement: below the ceiling."],
    )


def review_task(message: orchestrator_pb2.ReviewTask) -> ReviewTask:
    claimed = message.status == orchestrator_pb2.REVIEW_STATUS_CLAIMED
    return ReviewTask(
        review_task_id=message.review_task_id,
        instance_id=message.instance_id,
        citizen_id=message.citizen_id,
        scheme_name=message.scheme_name,
        scheme_version=message.scheme_version,
        recommendation=message.recommendation,
        reasons=json.loads(message.reasons_json) if message.reasons_json else [],
        status=STATUS_NAMES[message.status],
        assignee=message.assignee or None,
        submitted_by=message.submitted_by,
        created_at=_timestamp(message, "created_at"),
        due_at=_timestamp(message, "due_at"),
        overdue=message.overdue,
        decided_at=_timestamp(message, "decided_at"),
        # proto3 has no null: "" stands for it until the task is decided.
        decision=cast(ReviewDecisionName | None, message.decision or None),
        justification=message.justification or None,
        candidate_role=message.candidate_role,
        # A lapsed or ended claim may leave its time behind; only a held claim has one to show.
        claim_expires_at=_timestamp(message, "claim_expires_at") if claimed else None,
    )


def review_page(reply: orchestrator_pb2.ListReviewsResponse) -> ReviewPage:
    return ReviewPage(
        items=[review_task(item) for item in reply.items],
        next_offset=reply.next_offset if reply.HasField("next_offset") else None,
    )


def _timestamp(message: orchestrator_pb2.ReviewTask, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    timestamp: Timestamp = getattr(message, field)
    return timestamp.ToDatetime(tzinfo=UTC)
