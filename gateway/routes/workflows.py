"""Runs workflows, reads and follows instances and their audit trails, submits appeals."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated

import grpc
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import AfterValidator, AwareDatetime
from starlette.types import Receive, Scope, Send

from civicflow.input_limits import check_json
from civicflow.v1 import orchestrator_pb2
from gateway import conversions, errors, schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.review_schemas import MAX_SUBJECT
from gateway.routes import error_responses
from gateway.stream_slots import StreamSlot, StreamSlots

router = APIRouter(
    prefix="/workflows", tags=["workflows"], responses=error_responses(401, 403, 413, 422, 429, 503, 504)
)


def _in_utc(value: datetime) -> datetime:
    """The time in UTC: a time whose offset moves it past the years 1 to 9999 is not one (422, not 500)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is not a time between the years 1 and 9999 in UTC") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeating a request with the same key returns the instance the first one created and creates "
        "nothing; the same key with a different body is refused with 409.",
    ),
]


@router.get("")
async def list_workflows(
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
    template_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=schemas.TEMPLATE_ID_PATTERN, description="Runs of this template."),
    ] = None,
    status: Annotated[schemas.RunStatusName | None, Query(description="Runs in this status.")] = None,
    citizen_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="The run's inputs.citizen_id.")
    ] = None,
    actor: Annotated[
        str | None, Query(min_length=1, max_length=MAX_SUBJECT, description="Who started the run.")
    ] = None,
    created_after: Annotated[
        UtcTime | None, Query(description="Runs created at this time or later (with its UTC offset).")
    ] = None,
    created_before: Annotated[UtcTime | None, Query(description="Runs created before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs on the page.")] = 50,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=64, description="The previous page's next_cursor.")
    ] = None,
) -> schemas.WorkflowPage:
    """Runs, newest first, a page at a time: only the runs of templates the caller's roles may read (admin and
    auditor: all). Every filter is optional and they combine. A `template_id` whose runs the caller may not read:
    403, as reading one of them is. A `cursor` that is not a page's `next_cursor`: 422."""
    request = orchestrator_pb2.ListWorkflowsRequest(
        template_id=template_id or "",
        status=conversions.RUN_STATUS_VALUES[status] if status else orchestrator_pb2.RUN_STATUS_UNSPECIFIED,
        citizen_id=citizen_id or "",
        actor=actor or "",
        limit=limit,
        cursor=cursor or "",
    )
    if created_after is not None:
        request.created_after.FromDatetime(created_after)
    if created_before is not None:
        request.created_before.FromDatetime(created_before)
    reply = await orchestrator.ListWorkflows(request, timeout=timeout, metadata=caller.metadata)
    return conversions.workflow_page(reply)


@router.post(
    "/execute",
    response_model=schemas.ExecuteWorkflowResult,
    responses={
        202: {"model": schemas.ExecuteWorkflowAccepted, "description": "mode async: the run has started (or queued)."},
        **error_responses(404, 409, 429),
    },
)
async def execute_workflow(
    body: schemas.ExecuteWorkflowBody,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> schemas.ExecuteWorkflowResult | JSONResponse:
    """Runs a template. `mode` sync (default): to its end, answering what happened, status `completed` or `failed`;
    or until it waits for a person (a `human_review` step): status `waiting`, the outputs so far, and
    `waiting_for: {"review_task_id"}` (see /reviews).
    `mode` async: answers 202 `{"instance_id", "status": "running"}` at once (`"queued"` for an
    impact analysis waiting for a free slot; sync mode waits through the queue too).

    A run that fails at a step (an unknown scheme, say) is still a 200: the instance exists and its
    audit trail shows the failed step. Unknown template: 404. Inputs that do not match the
    template's input schema, or break the limits every input keeps (nested deeper than 32 levels,
    text with NUL or over 4,096 characters, a number beyond 2^53 - 1): 422, and no instance is
    created. An `Idempotency-Key` reused with a different request: 409. A population larger than
    the caller's roles allow: 403. A caller who already has IMPACT_MAX_PER_SUBJECT impact analyses
    queued or running: 429 with `Retry-After`. Nothing is created on any of these refusals.
    """
    check_json(body.inputs, "inputs")
    mode = orchestrator_pb2.EXECUTION_MODE_ASYNC if body.mode == "async" else orchestrator_pb2.EXECUTION_MODE_SYNC
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id=body.template_id,
        inputs_json=json.dumps(body.inputs),
        mode=mode,
        idempotency_key=idempotency_key or "",
    )
    reply = await orchestrator.ExecuteWorkflow(request, timeout=timeout, metadata=caller.metadata)
    if body.mode == "async":
        accepted = conversions.execute_accepted(reply.instance)
        return JSONResponse(status_code=HTTPStatus.ACCEPTED, content=accepted.model_dump(mode="json"))
    return conversions.execute_result(reply.instance)


@router.post("/appeal", responses=error_responses(404, 409))
async def submit_appeal(
    body: schemas.AppealBody,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> schemas.AppealResult:
    """Re-runs a decision with new data correcting the registry's, as a new instance linked to the original.

    The original instance and its audit trail are never modified. Unknown original: 404; an
    original that is not a completed eligibility_check or appeal_processing instance: 409, as is
    an `Idempotency-Key` reused with a different request.
    """
    check_json(body.new_data, "new_data")
    request = orchestrator_pb2.SubmitAppealRequest(
        original_instance_id=str(body.original_instance_id),
        new_data_json=json.dumps(body.new_data),
        idempotency_key=idempotency_key or "",
    )
    reply = await orchestrator.SubmitAppeal(request, timeout=timeout, metadata=caller.metadata)
    return conversions.appeal_result(reply)


@router.get("/{instance_id}", responses=error_responses(404))
async def get_workflow(
    instance_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.WorkflowInstance:
    """One workflow instance: its inputs, outputs, status, progress and timestamps."""
    request = orchestrator_pb2.GetWorkflowRequest(instance_id=str(instance_id))
    reply = await orchestrator.GetWorkflow(request, timeout=timeout, metadata=caller.metadata)
    return conversions.workflow_instance(reply.instance)


@router.get(
    "/{instance_id}/events",
    response_class=Response,  # built here: the stream must not start before the 404 check
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: one `data:` line per snapshot, the instance as GET /workflows/{id}.",
        },
        **error_responses(404),
    },
)
async def follow_workflow(
    instance_id: uuid.UUID, request: Request, caller: CallerDep, orchestrator: OrchestratorDep
) -> EventSourceResponse:
    """The instance now and after every change of status or progress, as Server-Sent Events.

    Each event's `data` is the instance as `GET /workflows/{id}` shows it; the stream closes once
    the run has ended (the last event shows it completed, failed or cancelled); a run that waits for a review
    shows `waiting` and stays open until the review is decided and the run ends. Unknown instance: 404. A
    failure once the stream has begun (the orchestrator handing the run over, say) is a last
    event named `error` whose `data` is the error shape. A subject holding `SSE_MAX_PER_SUBJECT` open
    streams already: 429 with `Retry-After`.
    """
    slots: StreamSlots = request.app.state.stream_slots
    slot = slots.acquire(caller.principal.subject)
    call = orchestrator.WatchWorkflow(
        orchestrator_pb2.WatchWorkflowRequest(instance_id=str(instance_id)), metadata=caller.metadata
    )
    try:
        # Read before answering, so that an unknown instance is a 404 rather than an empty stream.
        first = await call.read()
    except BaseException:
        call.cancel()
        slot.release()
        raise

    async def events() -> AsyncIterator[bytes]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                assert isinstance(message, orchestrator_pb2.WatchWorkflowResponse)
                snapshot = conversions.workflow_instance(message.instance)
                yield format_sse_event(data_str=snapshot.model_dump_json())
                message = await call.read()
        except grpc.aio.AioRpcError as error:
            # Headers are gone: the failure travels as a last event, in the one error shape.
            body = errors.rpc_error_body(error, path=request.url.path)
            yield format_sse_event(event="error", data_str=body.model_dump_json(exclude_none=True))
        finally:
            call.cancel()

    return _HeldStream(events(), slot=slot)


class _HeldStream(EventSourceResponse):
    """An event stream that gives its subject's slot back when it ends: run over, error, or client gone."""

    def __init__(self, content: AsyncIterator[bytes], *, slot: StreamSlot) -> None:
        super().__init__(content)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


@router.get("/{instance_id}/audit", responses=error_responses(404))
async def get_audit_trail(
    instance_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> list[schemas.AuditEntry]:
    """The instance's audit entries in execution order: one per step attempt, successful or not."""
    request = orchestrator_pb2.GetAuditTrailRequest(instance_id=str(instance_id))
    reply = await orchestrator.GetAuditTrail(request, timeout=timeout, metadata=caller.metadata)
    return [conversions.audit_entry(entry) for entry in reply.entries]
