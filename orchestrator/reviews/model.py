"""A review task as the orchestrator holds it, the values its fields take, and its protobuf."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from civicflow.grpc_errors import FieldProblem
from civicflow.timestamps import to_timestamp
from civicflow.v1 import orchestrator_pb2
from orchestrator.errors import InputValidationError

OPEN, CLAIMED, DECIDED, CANCELLED = "open", "claimed", "decided", "cancelled"
# What a reviewer may decide: NEEDS_REVIEW is what the engine says when it cannot.
REVIEW_DECISIONS = ("ELIGIBLE", "NOT_ELIGIBLE")
MIN_JUSTIFICATION = 20
MAX_JUSTIFICATION = 4000
MAX_SUBJECT = 200
_STATUS_VALUES = {
    OPEN: orchestrator_pb2.REVIEW_STATUS_OPEN,
    CLAIMED: orchestrator_pb2.REVIEW_STATUS_CLAIMED,
    DECIDED: orchestrator_pb2.REVIEW_STATUS_DECIDED,
    CANCELLED: orchestrator_pb2.REVIEW_STATUS_CANCELLED,
}
STATUS_NAMES = {value: name for name, value in _STATUS_VALUES.items()}
# Columns every statement that returns a task selects; `overdue` is judged by the database's clock.
TASK_COLUMNS = (
    "review_task_id, instance_id, step_index, step_name, citizen_id, scheme_name, scheme_version, recommendation,"
    " reasons, candidate_role, submitted_by, status, assignee, claim_expires_at, created_at, due_at, escalated_at,"
    " decided_at, decision, justification, revision,"
    " (status IN ('open', 'claimed') AND due_at < now()) AS overdue,"
    " (status = 'claimed' AND claim_expires_at < now()) AS claim_lapsed"
)


@dataclass(frozen=True)
class ReviewTask:
    review_task_id: uuid.UUID
    instance_id: uuid.UUID
    step_index: int
    step_name: str
    citizen_id: str
    scheme_name: str
    scheme_version: int
    recommendation: str
    reasons: Any
    candidate_role: str
    submitted_by: str
    status: str
    assignee: str | None
    claim_expires_at: datetime | None
    created_at: datetime
    due_at: datetime
    escalated_at: datetime | None
    decided_at: datetime | None
    decision: str | None
    justification: str | None
    revision: int
    overdue: bool
    # Claimed, but unused for its lease: as good as back in the queue, whether the sweep has returned it yet or not.
    claim_lapsed: bool

    @property
    def finished(self) -> bool:
        return self.status in (DECIDED, CANCELLED)

    @property
    def holder(self) -> str | None:
        """Who holds the task now: its assignee while claimed and the claim has not lapsed."""
        return self.assignee if self.status == CLAIMED and not self.claim_lapsed else None

    @classmethod
    def from_row(cls, row: Any) -> ReviewTask:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def audit_view(self) -> dict[str, Any]:
        """The task as its audit entries show it after a transition: its state, not what it was created with."""
        return {
            "review_task_id": str(self.review_task_id),
            "status": self.status,
            "assignee": self.assignee,
            "claim_expires_at": _iso(self.claim_expires_at),
            "due_at": _iso(self.due_at),
            "decision": self.decision,
            "justification": self.justification,
            "decided_at": _iso(self.decided_at),
            "revision": self.revision,
        }

    def outcome(self) -> dict[str, Any]:
        """What the human_review step produces once the task is decided."""
        assert self.status == DECIDED
        return {
            "review_task_id": str(self.review_task_id),
            "decision": self.decision,
            "justification": self.justification,
            "reviewed_by": self.assignee,
            "decided_at": _iso(self.decided_at),
        }

    def to_proto(self) -> orchestrator_pb2.ReviewTask:
        message = orchestrator_pb2.ReviewTask(
            review_task_id=str(self.review_task_id),
            instance_id=str(self.instance_id),
            citizen_id=self.citizen_id,
            scheme_name=self.scheme_name,
            scheme_version=self.scheme_version,
            recommendation=self.recommendation,
            reasons_json=json.dumps(self.reasons),
            status=_STATUS_VALUES[self.status],
            assignee=self.assignee or "",
            submitted_by=self.submitted_by,
            created_at=to_timestamp(self.created_at),
            due_at=to_timestamp(self.due_at),
            overdue=self.overdue,
            decision=self.decision or "",
            justification=self.justification or "",
            candidate_role=self.candidate_role,
        )
        if self.decided_at is not None:
            message.decided_at.CopyFrom(to_timestamp(self.decided_at))
        if self.claim_expires_at is not None:
            message.claim_expires_at.CopyFrom(to_timestamp(self.claim_expires_at))
        return message


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def checked_decision(decision: str, justification: str) -> tuple[str, str]:
    """The decision and its justification, or InputValidationError naming every problem."""
    problems = []
    if decision not in REVIEW_DECISIONS:
        problems.append(FieldProblem("decision", f"must be one of {', '.join(REVIEW_DECISIONS)}"))
    text = justification.strip()
    if len(text) < MIN_JUSTIFICATION:
        problems.append(FieldProblem("justification", f"must be at least {MIN_JUSTIFICATION} characters"))
    elif len(text) > MAX_JUSTIFICATION or "\x00" in text:
        problems.append(
            FieldProblem("justification", f"must be at most {MAX_JUSTIFICATION} characters of text, without NUL")
        )
    if problems:
        raise InputValidationError(problems)
    return decision, text


def checked_subject(value: str, field: str = "assignee") -> str:
    if not value.strip() or len(value) > MAX_SUBJECT or not value.isprintable():
        raise InputValidationError([FieldProblem(field, f"must be a subject: 1 to {MAX_SUBJECT} printable characters")])
    return value
