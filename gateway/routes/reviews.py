"""Review tasks: the queue of runs waiting for a person's decision; claim one, give it back or over, decide it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from civicflow.auth.tokens import MAX_SUBJECT_LENGTH
from civicflow.input_limits import MAX_INT64
from civicflow.rules.schema import NAME_PATTERN
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
    status: Annotated[schemas.ReviewStatusName | None, Query(description="Only tasks in this status.")] = None,
    assignee: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_SUBJECT_LENGTH, description='Only tasks held by this subject; "me": yours.'),
    ] = None,
    scheme_name: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this scheme's tasks.")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64, description="Tasks to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=schemas.MAX_PAGE_SIZE, description="Tasks on the page.")] = (
        schemas.DEFAULT_PAGE_SIZE
    ),
) -> schemas.ReviewPage:
    """One page of review tasks, oldest due first; `next_offset` is null on the last page."""
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
    """One review task. Unknown task: 404."""
    request = orchestrator_pb2.GetReviewRequest(review_task_id=str(review_task_id))
    reply = await orchestrator.GetReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/claim", responses=error_responses(404, 409))
async def claim_review(
    review_task_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ReviewTask:
    """Takes the task: it is yours until `claim_expires_at`. Needs the task's `candidate_role`; the run's submitter
    may not (403: four eyes). Held by someone else, decided or cancelled: 409."""
    request = orchestrator_pb2.ClaimReviewRequest(review_task_id=str(review_task_id))
    reply = await orchestrator.ClaimReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)


@router.post("/{review_task_id}/unclaim", responses=error_responses(404, 409))
async def unclaim_review(
    review_task_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ReviewTask:
    """Gives the task back to the queue. Only its assignee may (403 for anyone else); not held, decided or
    cancelled: 409."""
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
    """Hands the task to `assignee`. Role: admin; never to the run's submitter (403). Decided or cancelled: 409."""
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
    """Decides the task: the run resumes and completes with this decision. Only the task's assignee, never the run's
    submitter (403). Decided or cancelled already, or held by someone else: 409. A decision other than ELIGIBLE or
    NOT_ELIGIBLE, a justification under 20 characters, or a field the body does not have: 422."""
    request = orchestrator_pb2.DecideReviewRequest(
        review_task_id=str(review_task_id), decision=body.decision, justification=body.justification
    )
    reply = await orchestrator.DecideReview(request, timeout=timeout, metadata=caller.metadata)
    return schemas.review_task(reply.task)
