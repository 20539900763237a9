"""Runs workflows, reads instances and their audit trails, submits appeals."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter

from civicflow.v1 import orchestrator_pb2
from gateway import conversions, schemas
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(prefix="/workflows", tags=["workflows"], responses=error_responses(422, 503, 504))


@router.post("/execute", responses=error_responses(404))
async def execute_workflow(
    body: schemas.ExecuteWorkflowBody, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ExecuteWorkflowResult:
    """Runs a template to its end and answers what happened: status `completed` or `failed`.

    A run that fails at a step (an unknown scheme, say) is still a 200: the instance exists and its
    audit trail shows the failed step. Unknown template: 404. Inputs that do not match the
    template's input schema: 422, and no instance is created.
    """
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id=body.template_id, inputs_json=json.dumps(body.inputs))
    reply = await orchestrator.ExecuteWorkflow(request, timeout=timeout)
    return conversions.execute_result(reply.instance)


@router.post("/appeal", responses=error_responses(404, 409))
async def submit_appeal(
    body: schemas.AppealBody, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.AppealResult:
    """Re-runs a decision with corrected evidence as a new instance linked to the original.

    The original instance and its audit trail are never modified. Unknown original: 404; an
    original that is not a completed eligibility_check or appeal_processing instance: 409.
    """
    request = orchestrator_pb2.SubmitAppealRequest(
        original_instance_id=str(body.original_instance_id), evidence_json=json.dumps(body.new_data)
    )
    reply = await orchestrator.SubmitAppeal(request, timeout=timeout)
    return conversions.appeal_result(reply)


@router.get("/{instance_id}", responses=error_responses(404))
async def get_workflow(
    instance_id: uuid.UUID, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.WorkflowInstance:
    """One workflow instance: its inputs, outputs, status and timestamps."""
    request = orchestrator_pb2.GetWorkflowRequest(instance_id=str(instance_id))
    reply = await orchestrator.GetWorkflow(request, timeout=timeout)
    return conversions.workflow_instance(reply.instance)


@router.get("/{instance_id}/audit", responses=error_responses(404))
async def get_audit_trail(
    instance_id: uuid.UUID, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> list[schemas.AuditEntry]:
    """The instance's audit entries in execution order: one per step attempt, successful or not."""
    request = orchestrator_pb2.GetAuditTrailRequest(instance_id=str(instance_id))
    reply = await orchestrator.GetAuditTrail(request, timeout=timeout)
    return [conversions.audit_entry(entry) for entry in reply.entries]
