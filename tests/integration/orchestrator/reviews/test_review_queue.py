"""The review queue under contention and over time: one claim wins, lapsed claims return, overdue tasks lead."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2
from tests.integration.orchestrator.reviews.conftest import CLAIM_SECONDS, SLA_SECONDS
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import citizens_decided
from tests.support.orchestrators import wait_until
from tests.support.review_runs import apply, orchestrator_as, review_events
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
