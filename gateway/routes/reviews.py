"""Review tasks: the queue a run waiting for a person puts its case in, and the person who claims and decides it.

Who may do what is the orchestrator's to decide (four eyes included); these routes translate.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from civicflow.v1 import orchestrator_pb2
from gateway import review_schemas as schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(prefix="/reviews", tags=["reviews"], responses=error_responses(401, 403, 413, 422, 429, 503, 504))


@router.get("")
async def list_reviews(
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
    status: Annotated[
        schemas.ReviewStatusName | None,
        Query(description="Only tasks in this state; without it, the tasks still to decide (open and claimed)."),
    ] = None,
    assignee: Annotated[
        str | None, Query(min_length=1, max_length=schemas.MAX_SUBJECT, description='A subject, or "me".')
    ] = None,
    scheme_name: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> schemas.ReviewPage:
    """The review queue: overdue tasks first, then by due time. Roles: caseworker, admin, auditor."""
    request = orchestrator_pb2.ListReviewsRequest(
        status=schemas.STATUS_VALUES[status] if status else orchestrator_pb2.REVIEW_STATUS_UNSPECIFIED,
        assignee=assignee or "",
        scheme_name=scheme_name or "",
        offset=offset,
        limit=limit,
    )
    reply = await orchestrator.ListReviews(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_page(reply)


@router.get("/{review_task_id}", responses=error_responses(404))
async def get_review(
    review_task_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ReviewTask:
    """One task. Unknown: 404."""
    request = orchestrator_pb2.GetReviewRequest(review_task_id=str(review_task_id))
    reply = await orchestrator.GetReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/claim", responses=error_responses(404, 409))
async def claim_review(
    review_task_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ReviewTask:
    """Takes the task for the caller, for REVIEW_CLAIM_SECONDS (claiming it again renews the claim). 409 if another
    subject holds it or it is decided or cancelled; 403 if the caller submitted the application or lacks the task's
    candidate role. Of simultaneous claims exactly one wins."""
    request = orchestrator_pb2.ClaimReviewRequest(review_task_id=str(review_task_id))
    reply = await orchestrator.ClaimReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/unclaim", responses=error_responses(404, 409))
async def unclaim_review(
    review_task_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ReviewTask:
    """Gives the task back to the queue: only its assignee (403 otherwise). 409 if it is decided or cancelled."""
    request = orchestrator_pb2.UnclaimReviewRequest(review_task_id=str(review_task_id))
    reply = await orchestrator.UnclaimReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/reassign", responses=error_responses(404, 409))
async def reassign_review(
    review_task_id: uuid.UUID,
    body: schemas.ReassignBody,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
) -> schemas.ReviewTask:
    """Gives the task to another subject. Role: admin, not the subject who submitted the application; never to that
    subject (403).
    409 if it is decided or cancelled."""
    request = orchestrator_pb2.ReassignReviewRequest(review_task_id=str(review_task_id), assignee=body.assignee)
    reply = await orchestrator.ReassignReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/decide", responses=error_responses(404, 409))
async def decide_review(
    review_task_id: uuid.UUID,
    body: schemas.DecideBody,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
) -> schemas.ReviewTask:
    """Records the decision and its justification; the run resumes and completes with it. Only the assignee, never
    the submitter (403). 409 if the task is decided or cancelled already, or its run has ended."""
    request = orchestrator_pb2.DecideReviewRequest(
        review_task_id=str(review_task_id), decision=body.decision, justification=body.justification
    )
    reply = await orchestrator.DecideReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)
