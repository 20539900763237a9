"""Operating runs: cancel one that has not ended, retry one that failed or was cancelled."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from fastapi import APIRouter

from civicflow.v1 import orchestrator_pb2
from gateway import conversions, schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(
    prefix="/workflows", tags=["workflows"], responses=error_responses(401, 403, 404, 409, 429, 503, 504)
)


@router.post("/{instance_id}/cancel")
async def cancel_workflow(
    instance_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.WorkflowInstance:
    """Cancels a `running`, `queued` or `waiting` run: answers it `cancelled`, as GET /workflows/{id} shows it.

    A running run stops within about a second, wherever it is driven, and writes nothing more; an
    impact analysis's results written so far are deleted; a waiting run's review task is
    cancelled (deciding it is then a 409). The cancellation is an audit entry of the run, with the
    caller as its actor. Allowed to an admin and to the subject who started the run (403 otherwise).
    A run that has ended: 409.
    """
    request = orchestrator_pb2.CancelWorkflowRequest(instance_id=str(instance_id))
    reply = await orchestrator.CancelWorkflow(request, timeout=timeout, metadata=caller.metadata)
    return conversions.workflow_instance(reply.instance)


@router.post("/{instance_id}/retry", status_code=HTTPStatus.CREATED)
async def retry_workflow(
    instance_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.RetryStarted:
    """Retries a `failed` or `cancelled` run: a new run of the same template version with the same inputs.

    It reuses the outputs of the steps the old run completed (each an audit entry of the new run
    whose output names the run it came from in `reused_from`) and starts at the first step that
    did not; an impact analysis evaluates its population again, through the queue. Answers 201 at
    once, `{"instance_id", "retry_of"}`: follow the new run as any other. Allowed to the roles
    that may run the template; any other status, a run retried already, or a template version no
    longer loaded: 409.
    """
    request = orchestrator_pb2.RetryWorkflowRequest(instance_id=str(instance_id))
    reply = await orchestrator.RetryWorkflow(request, timeout=timeout, metadata=caller.metadata)
    return schemas.RetryStarted(instance_id=reply.instance.instance_id, retry_of=reply.instance.retry_of)
