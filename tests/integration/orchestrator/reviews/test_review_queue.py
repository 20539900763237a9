"""The review queue under contention and over time: one claim wins, lapsed claims return, overdue tasks lead."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import sqlalchemy as sa

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2
from tests.integration.orchestrator.reviews.conftest import CLAIM_SECONDS, SLA_SECONDS
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import citizens_decided
from tests.support.orchestrators import wait_until
from tests.support.review_runs import JUSTIFICATION, apply, orchestrator_as, review_events
from tests.support.stacks import OwnStack


def _task(stub: object, task_id: str) -> orchestrator_pb2.ReviewTask:
    return stub.GetReview(orchestrator_pb2.GetReviewRequest(review_task_id=task_id)).task  # type: ignore[attr-defined]


def test_twenty_simultaneous_claims_give_the_task_to_exactly_one_and_a_lapsed_claim_returns_it(
    credentials: Credentials, hurried_stack: OwnStack
) -> None:
    target = hurried_stack.orchestrator_target
    submitter = orchestrator_as(credentials, target, "cw-applicant-desk", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=300)
    task_id = apply(submitter, citizen_id).waiting_for_review_task_id
    reviewers = [orchestrator_as(credentials, target, f"cw-{n}", Role.CASEWORKER) for n in range(20)]

    def claim(stub: object) -> grpc.StatusCode:
        try:
            stub.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id))  # type: ignore[attr-defined]
        except grpc.RpcError as refused:
            return refused.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(claim, reviewers))
    assert outcomes.count(grpc.StatusCode.OK) == 1
    assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == 19
    winner = f"cw-{outcomes.index(grpc.StatusCode.OK)}"
    assert _task(submitter, task_id).assignee == winner

    # Unused for CLAIM_SECONDS, the claim lapses: the task is open again, and the log says the system did it.
    wait_until(
        lambda: _task(submitter, task_id).status == orchestrator_pb2.REVIEW_STATUS_OPEN,
        timeout=CLAIM_SECONDS + 10,
        what="the lapsed claim to return the task to the queue",
    )
    assert review_events(submitter, _instance(submitter, task_id))[:3] == [
        ("caseworker_review:created", "cw-applicant-desk"),
        ("caseworker_review:claimed", winner),
        ("caseworker_review:claim_expired", "system"),
    ]
    again = reviewers[(outcomes.index(grpc.StatusCode.OK) + 1) % 20]
    assert again.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id)).task.status == (
        orchestrator_pb2.REVIEW_STATUS_CLAIMED
    )


def _instance(stub: object, task_id: str) -> str:
    return _task(stub, task_id).instance_id


def test_overdue_tasks_come_first_then_by_due_time_and_their_escalation_is_audited(
    credentials: Credentials, hurried_stack: OwnStack
) -> None:
    target = hurried_stack.orchestrator_target
    submitter = orchestrator_as(credentials, target, "cw-overdue-desk", Role.CASEWORKER)
    reader = orchestrator_as(credentials, target, "auditor-9", Role.AUDITOR)
    citizens = citizens_decided("NEEDS_REVIEW", "scheme_gamma", count=4, start=400)
    early = [apply(submitter, citizen_id, "scheme_gamma").waiting_for_review_task_id for citizen_id in citizens[:3]]

    def queue() -> list[orchestrator_pb2.ReviewTask]:
        request = orchestrator_pb2.ListReviewsRequest(
            status=orchestrator_pb2.REVIEW_STATUS_OPEN, scheme_name="scheme_gamma", limit=10
        )
        return list(reader.ListReviews(request).items)

    wait_until(lambda: all(task.overdue for task in queue()), timeout=SLA_SECONDS + 10, what="the tasks to be overdue")
    late = apply(submitter, citizens[3], "scheme_gamma").waiting_for_review_task_id
    listed = queue()
    assert [task.review_task_id for task in listed] == [*early, late]
    assert [task.overdue for task in listed] == [True, True, True, False]
    wait_until(
        lambda: ("caseworker_review:escalated", "system") in review_events(reader, listed[0].instance_id),
        timeout=10,
        what="the escalation to be audited",
    )
    first_page = reader.ListReviews(
        orchestrator_pb2.ListReviewsRequest(
            status=orchestrator_pb2.REVIEW_STATUS_OPEN, scheme_name="scheme_gamma", limit=2
        )
    )
    assert [task.review_task_id for task in first_page.items] == early[:2] and first_page.next_offset == 2


def test_an_admin_who_submitted_an_application_may_not_choose_its_reviewer(
    credentials: Credentials, hurried_stack: OwnStack
) -> None:
    admin = orchestrator_as(credentials, hurried_stack.orchestrator_target, "admin-submitter", Role.ADMIN)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1200)
    task_id = apply(admin, citizen_id).waiting_for_review_task_id
    reassign = orchestrator_pb2.ReassignReviewRequest(review_task_id=task_id, assignee="cw-friend")
    with pytest.raises(grpc.RpcError) as refused:
        admin.ReassignReview(reassign)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not choose its reviewer" in refused.value.details()


def test_a_task_whose_run_has_ended_cannot_be_decided(credentials: Credentials, hurried_stack: OwnStack) -> None:
    target = hurried_stack.orchestrator_target
    desk = orchestrator_as(credentials, target, "cw-ended-desk", Role.CASEWORKER)
    reviewer = orchestrator_as(credentials, target, "cw-ended-reviewer", Role.CASEWORKER)
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1300)
    waiting = apply(desk, citizen_id)
    reviewer.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=waiting.waiting_for_review_task_id))
    # Ended behind the services' backs, as a run failed by an operator would be.
    with sa.create_engine(hurried_stack.database.admin_url).begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE orchestrator.workflow_instances SET status = 'failed', error = 'ended by hand',"
                " completed_at = now(), waiting_for_review = NULL WHERE instance_id = :id"
            ),
            {"id": waiting.instance_id},
        )
    decide = orchestrator_pb2.DecideReviewRequest(
        review_task_id=waiting.waiting_for_review_task_id, decision="ELIGIBLE", justification=JUSTIFICATION
    )
    with pytest.raises(grpc.RpcError) as refused:
        reviewer.DecideReview(decide)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has ended" in refused.value.details()
    task = reviewer.GetReview(orchestrator_pb2.GetReviewRequest(review_task_id=waiting.waiting_for_review_task_id))
    assert task.task.status == orchestrator_pb2.REVIEW_STATUS_CLAIMED
