"""REST answers a review task with nulls for what proto3 leaves empty, a waiting run with the task it waits for
(and no `waiting_for` key otherwise), and refuses a decide or reassign body that is not one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from civicflow.v1 import orchestrator_pb2
from gateway import conversions
from gateway.review_schemas import DecideBody, ReassignBody, review_page, review_task

TASK_ID = "7d0c3c4e-9a51-4bde-8f0e-1d2a3b4c5d6e"
INSTANCE_ID = "0b6f8d0e-2c1a-4d3e-9f8a-7b6c5d4e3f2a"
CREATED = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
REASONS = [{"criterion": "review_band", "kind": "review", "passed": False, "detail": "income in the review band"}]


def _timestamp(moment: datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp


def _task(**fields: Any) -> orchestrator_pb2.ReviewTask:
    base: dict[str, Any] = {
        "review_task_id": TASK_ID,
        "instance_id": INSTANCE_ID,
        "citizen_id": "CIT-0000011",
        "scheme_name": "scheme_alpha",
        "scheme_version": 1,
        "recommendation": "NEEDS_REVIEW",
        "reasons_json": json.dumps(REASONS),
        "status": orchestrator_pb2.REVIEW_STATUS_OPEN,
        "submitted_by": "alice",
        "created_at": _timestamp(CREATED),
        "due_at": _timestamp(CREATED + timedelta(days=2)),
        "candidate_role": "caseworker",
    }
    return orchestrator_pb2.ReviewTask(**{**base, **fields})


def _json(model: Any) -> dict[str, Any]:
    answered: dict[str, Any] = json.loads(model.model_dump_json())
    return answered


def test_an_open_task_has_nulls_for_its_assignee_claim_and_decision() -> None:
    answered = _json(review_task(_task()))

    assert answered == {
        "review_task_id": TASK_ID,
        "instance_id": INSTANCE_ID,
        "citizen_id": "CIT-0000011",
        "scheme_name": "scheme_alpha",
        "scheme_version": 1,
        "recommendation": "NEEDS_REVIEW",
        "reasons": REASONS,
        "status": "open",
        "assignee": None,
        "submitted_by": "alice",
        "created_at": "2026-12-04T09:30:00Z",
        "due_at": "2026-12-06T09:30:00Z",
        "overdue": False,
        "decided_at": None,
        "decision": None,
        "justification": None,
        "candidate_role": "caseworker",
        "claim_expires_at": None,
    }


def test_a_claimed_task_shows_its_assignee_and_when_the_claim_lapses() -> None:
    expires = CREATED + timedelta(hours=1)
    task = _task(status=orchestrator_pb2.REVIEW_STATUS_CLAIMED, assignee="bob", claim_expires_at=_timestamp(expires))

    answered = _json(review_task(task))

    assert (answered["status"], answered["assignee"]) == ("claimed", "bob")
    assert answered["claim_expires_at"] == "2026-12-04T10:30:00Z"


def test_a_decided_task_shows_the_decision_and_when() -> None:
    task = _task(
        status=orchestrator_pb2.REVIEW_STATUS_DECIDED,
        assignee="bob",
        decision="NOT_ELIGIBLE",
        justification="Income confirmed above the ceiling by the employer.",
        decided_at=_timestamp(CREATED + timedelta(hours=3)),
        overdue=False,
    )

    answered = _json(review_task(task))

    assert answered["status"] == "decided"
    assert answered["decision"] == "NOT_ELIGIBLE"
    assert answered["justification"] == "Income confirmed above the ceiling by the employer."
    assert answered["decided_at"] == "2026-12-04T12:30:00Z"
    assert answered["claim_expires_at"] is None


def test_a_page_has_a_next_offset_until_the_last_page() -> None:
    more = orchestrator_pb2.ListReviewsResponse(items=[_task(), _task()], next_offset=2)
    last = orchestrator_pb2.ListReviewsResponse(items=[_task()])

    assert _json(review_page(more))["next_offset"] == 2
    assert len(_json(review_page(more))["items"]) == 2
    assert _json(review_page(last))["next_offset"] is None


def _instance(status: int, task_id: str = "") -> orchestrator_pb2.WorkflowInstance:
    return orchestrator_pb2.WorkflowInstance(
        instance_id=INSTANCE_ID,
        template_id="benefit_application",
        template_version="1.0.0",
        status=status,  # type: ignore[arg-type]
        inputs_json="{}",
        outputs_json="{}",
        waiting_for_review_task_id=task_id,
        created_at=_timestamp(CREATED),
    )


def test_a_waiting_run_names_its_review_task_wherever_an_instance_is_shown() -> None:
    waiting = _instance(orchestrator_pb2.RUN_STATUS_WAITING, TASK_ID)

    for model in (
        conversions.workflow_instance(waiting),
        conversions.execute_result(waiting),
        conversions.execute_accepted(waiting),
    ):
        answered = _json(model)
        assert answered["status"] == "waiting"
        assert answered["waiting_for"] == {"review_task_id": TASK_ID}


@pytest.mark.parametrize(
    "status",
    [orchestrator_pb2.RUN_STATUS_RUNNING, orchestrator_pb2.RUN_STATUS_COMPLETED, orchestrator_pb2.RUN_STATUS_FAILED],
)
def test_a_run_that_is_not_waiting_has_no_waiting_for_key(status: int) -> None:
    for model in (conversions.workflow_instance(_instance(status)), conversions.execute_result(_instance(status))):
        assert "waiting_for" not in _json(model)
        assert "waiting_for" not in model.model_dump(mode="json")


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "NEEDS_REVIEW", "justification": "x" * 20},
        {"decision": "eligible", "justification": "x" * 20},
        {"decision": "ELIGIBLE", "justification": "x" * 19},
        {"decision": "ELIGIBLE"},
        {"decision": "ELIGIBLE", "justification": "x" * 20, "reviewer": "me"},
    ],
)
def test_a_decide_body_is_one_of_two_decisions_and_a_justification_of_20_characters(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DecideBody.model_validate(body)


def test_a_decide_body_of_20_characters_is_enough() -> None:
    assert DecideBody.model_validate({"decision": "ELIGIBLE", "justification": "x" * 20}).decision == "ELIGIBLE"


@pytest.mark.parametrize("body", [{}, {"assignee": ""}, {"assignee": "bob", "note": "please"}])
def test_a_reassign_body_names_one_subject(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReassignBody.model_validate(body)
