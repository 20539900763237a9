"""The /reviews routes' JSON: pydantic models, and the one conversion from the orchestrator's messages to each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from civicflow.v1 import orchestrator_pb2
from gateway.conversions import optional_timestamp

ReviewStatusName = Literal["open", "claimed", "decided", "cancelled"]
STATUS_VALUES: dict[ReviewStatusName, orchestrator_pb2.ReviewStatus] = {
    "open": orchestrator_pb2.REVIEW_STATUS_OPEN,
    "claimed": orchestrator_pb2.REVIEW_STATUS_CLAIMED,
    "decided": orchestrator_pb2.REVIEW_STATUS_DECIDED,
    "cancelled": orchestrator_pb2.REVIEW_STATUS_CANCELLED,
}
STATUS_NAMES: dict[int, ReviewStatusName] = {value: name for name, value in STATUS_VALUES.items()}
MAX_SUBJECT = 200


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReassignBody(_Body):
    assignee: str = Field(min_length=1, max_length=MAX_SUBJECT, description="The subject who takes the task over.")


class DecideBody(_Body):
    decision: Literal["ELIGIBLE", "NOT_ELIGIBLE"]
    justification: str = Field(
        min_length=20, max_length=4000, description="Why, in at least 20 characters: recorded in the audit log."
    )


class ReviewTask(BaseModel):
    review_task_id: str
    instance_id: str = Field(description="The run that waits for the decision.")
    citizen_id: str
    scheme_name: str
    scheme_version: int
    recommendation: str = Field(description="What the engine recommended: NEEDS_REVIEW.")
    reasons: list[Any] = Field(description="The engine's reasons, one per criterion.")
    status: ReviewStatusName
    assignee: str | None = Field(description="Who holds (or decided) the task; null while it is open.")
    submitted_by: str = Field(description="Who submitted the application: never its reviewer.")
    created_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Past due_at and neither decided nor cancelled.")
    decided_at: datetime | None
    decision: Literal["ELIGIBLE", "NOT_ELIGIBLE"] | None
    justification: str | None
    candidate_role: str = Field(description="The role a reviewer must hold.")
    claim_expires_at: datetime | None = Field(description="While claimed: when the claim lapses unused.")


class ReviewPage(BaseModel):
    items: list[ReviewTask] = Field(description="Overdue tasks first, then by due time.")
    next_offset: int | None = Field(description="The offset of the next page; null on the last page.")


def review_task(task: orchestrator_pb2.ReviewTask) -> ReviewTask:
    return ReviewTask(
        review_task_id=task.review_task_id,
        instance_id=task.instance_id,
        citizen_id=task.citizen_id,
        scheme_name=task.scheme_name,
        scheme_version=task.scheme_version,
        recommendation=task.recommendation,
        reasons=json.loads(task.reasons_json) if task.reasons_json else [],
        status=STATUS_NAMES[task.status],
        assignee=task.assignee or None,
        submitted_by=task.submitted_by,
        created_at=task.created_at.ToDatetime(tzinfo=UTC),
        due_at=task.due_at.ToDatetime(tzinfo=UTC),
        overdue=task.overdue,
        decided_at=optional_timestamp(task, "decided_at"),
        decision=task.decision or None,
        justification=task.justification or None,
        candidate_role=task.candidate_role,
        claim_expires_at=optional_timestamp(task, "claim_expires_at"),
    )


def review_page(reply: orchestrator_pb2.ListReviewsResponse) -> ReviewPage:
    return ReviewPage(
        items=[review_task(task) for task in reply.items],
        next_offset=reply.next_offset if reply.HasField("next_offset") else None,
    )
