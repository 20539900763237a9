"""The audit entries of a review task's transitions, in the trail of the run that waits for it.

Each is an entry of the run (its instance id) named after the human_review step and the
transition, "review:claimed" say, with the task as it became (and what the person asked for:
the decision and its justification, the new assignee) and the actor: the subject, or `system`
for a claim that lapsed and an escalation. A step's name never holds ":", so no transition can
be read as an attempt of a step (recovery.py skips them). The key holds the task's revision and
the transition's time: a change rolled back after its entry was stored (service.py) leaves that
entry under a key no later change reuses.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2
from orchestrator.reviews.model import ReviewTask

SYSTEM_ACTOR = "system"
EVENT_SEPARATOR = ":"


class Transition(StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    UNCLAIMED = "unclaimed"
    CLAIM_EXPIRED = "claim_expired"
    REASSIGNED = "reassigned"
    DECIDED = "decided"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"  # with its run (runs/cancellation.py)


def is_step_event(step_name: str) -> bool:
    """Whether an audit entry's step name is an event of a step (a review's transition), not one of its attempts."""
    return EVENT_SEPARATOR in step_name


def transition_record(
    task: ReviewTask, transition: Transition, *, actor: str, at: datetime, request: dict[str, Any] | None = None
) -> audit_pb2.AuditRecord:
    details: dict[str, Any] = {"review_task_id": str(task.review_task_id), **(request or {})}
    if transition is Transition.CREATED:
        details.update(
            citizen_id=task.citizen_id,
            scheme_name=task.scheme_name,
            scheme_version=task.scheme_version,
            recommendation=task.recommendation,
            reasons=task.reasons,
            candidate_role=task.candidate_role,
            submitted_by=task.submitted_by,
        )
    return audit_pb2.AuditRecord(
        instance_id=str(task.instance_id),
        step_name=f"{task.step_name}{EVENT_SEPARATOR}{transition.value}",
        step_index=task.step_index,
        # `task` is as the transition left it: its entries number 1 (created), 2, 3, ... in the order they happened.
        attempt=task.revision + 1,
        status=audit_pb2.STEP_STATUS_SUCCESS,
        started_at=to_timestamp(at),
        completed_at=to_timestamp(at),
        input_json=canonical_json(details),
        output_json=canonical_json(task.audit_view()),
        actor=actor,
        idempotency_key=f"{task.instance_id}/review/{task.review_task_id}/{task.revision}/{at.timestamp():.6f}",
    )
