"""A benefit application the rules cannot decide waits for a caseworker, through the orchestrator's gRPC API."""

from __future__ import annotations

import json

import grpc

from civicflow.auth.principals import Role
from civicflow.v1 import evaluator_pb2, orchestrator_pb2
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import citizens_decided
from tests.support.review_runs import JUSTIFICATION, apply, finished, orchestrator_as, refusal, review_events


def test_a_needs_review_application_waits_then_completes_with_the_reviewers_decision(
    credentials: Credentials, orchestrator_target: str
) -> None:
    submitter = orchestrator_as(credentials, orchestrator_target, "cw-submitter", Role.CASEWORKER)
    reviewer = orchestrator_as(credentials, orchestrator_target, "cw-reviewer", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=200)

    waiting = apply(submitter, citizen_id)
    assert waiting.status == orchestrator_pb2.RUN_STATUS_WAITING
    task_id = waiting.waiting_for_review_task_id
    assert json.loads(waiting.outputs_json)["recommendation"]["decision"] == "NEEDS_REVIEW"
    assert (waiting.progress.steps_completed, waiting.progress.steps_total) == (5, 7)

    task = reviewer.GetReview(orchestrator_pb2.GetReviewRequest(review_task_id=task_id)).task
    assert (task.status, task.citizen_id, task.submitted_by, task.recommendation) == (
        orchestrator_pb2.REVIEW_STATUS_OPEN,
        citizen_id,
        "cw-submitter",
        "NEEDS_REVIEW",
    )
    claim = orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id)
    assert refusal(submitter.ClaimReview, claim) == grpc.StatusCode.PERMISSION_DENIED
    claimed = reviewer.ClaimReview(claim).task
    assert (claimed.status, claimed.assignee) == (orchestrator_pb2.REVIEW_STATUS_CLAIMED, "cw-reviewer")

    decide = orchestrator_pb2.DecideReviewRequest(
        review_task_id=task_id, decision="NOT_ELIGIBLE", justification=JUSTIFICATION
    )
    assert refusal(submitter.DecideReview, decide) == grpc.StatusCode.PERMISSION_DENIED
    # A watch reports the run waiting, and goes on through the decision to the run's end.
    watch = submitter.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=waiting.instance_id), timeout=60)
    assert next(watch).instance.status == orchestrator_pb2.RUN_STATUS_WAITING
    decided = reviewer.DecideReview(decide).task
    assert [update.instance.status for update in watch][-1] == orchestrator_pb2.RUN_STATUS_COMPLETED
    assert (decided.status, decided.decision) == (orchestrator_pb2.REVIEW_STATUS_DECIDED, "NOT_ELIGIBLE")
    assert refusal(reviewer.DecideReview, decide) == grpc.StatusCode.FAILED_PRECONDITION

    final = finished(submitter, waiting.instance_id)
    assert final.status == orchestrator_pb2.RUN_STATUS_COMPLETED
    decision = json.loads(final.outputs_json)["decision"]
    assert decision["decision"] == "NOT_ELIGIBLE"
    assert (decision["reviewed_by"], decision["justification"], decision["review_task_id"]) == (
        "cw-reviewer",
        JUSTIFICATION,
        task_id,
    )
    assert decision["recommended"]["decision"] == "NEEDS_REVIEW" and decision["recommended"]["reasons"]
    assert (final.progress.steps_completed, final.progress.steps_total) == (7, 7)

    assert review_events(submitter, waiting.instance_id) == [
        ("caseworker_review:created", "cw-submitter"),
        ("caseworker_review:claimed", "cw-reviewer"),
        ("caseworker_review:decided", "cw-reviewer"),
    ]
    # The trail reads in the order things happened.
    trail = submitter.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=waiting.instance_id)).entries
    assert [entry.record.step_name for entry in trail] == [
        "fetch_citizen",
        "fetch_scheme_rules",
        "evaluate_rules",
        "make_decision",
        "route_by_recommendation",
        "caseworker_review:created",
        "caseworker_review:claimed",
        "caseworker_review:decided",
        "caseworker_review",
        "record_final_decision",
    ]


def test_an_eligible_application_completes_without_a_task(credentials: Credentials, orchestrator_target: str) -> None:
    submitter = orchestrator_as(credentials, orchestrator_target, "cw-submitter", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("ELIGIBLE", "scheme_alpha", start=200)
    done = apply(submitter, citizen_id)
    assert done.status == orchestrator_pb2.RUN_STATUS_COMPLETED and not done.waiting_for_review_task_id
    outputs = json.loads(done.outputs_json)
    assert outputs["decision"]["decision"] == "ELIGIBLE" and "review" not in outputs
    assert (done.progress.steps_completed, done.progress.steps_total) == (6, 6)


def test_a_reviewed_decision_is_appealed_like_any_other(credentials: Credentials, orchestrator_target: str) -> None:
    submitter = orchestrator_as(credentials, orchestrator_target, "cw-appeals-desk", Role.CASEWORKER)
    reviewer = orchestrator_as(credentials, orchestrator_target, "cw-appeals-reviewer", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=700)
    task_id = apply(submitter, citizen_id).waiting_for_review_task_id
    reviewer.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id))
    decided = reviewer.DecideReview(
        orchestrator_pb2.DecideReviewRequest(
            review_task_id=task_id, decision="NOT_ELIGIBLE", justification=JUSTIFICATION
        )
    ).task
    original = finished(submitter, decided.instance_id)

    appeal = submitter.SubmitAppeal(
        orchestrator_pb2.SubmitAppealRequest(
            original_instance_id=original.instance_id, new_data_json=json.dumps({"income": 1000})
        )
    )
    assert (appeal.original_decision, appeal.new_decision, appeal.outcome) == (
        evaluator_pb2.DECISION_NOT_ELIGIBLE,
        evaluator_pb2.DECISION_ELIGIBLE,
        orchestrator_pb2.APPEAL_OUTCOME_DECISION_CHANGED,
    )
    assert json.loads(appeal.new_instance.inputs_json)["scheme_version"] == 1
