"""Lists the workflow templates the orchestrator has loaded."""

from __future__ import annotations

from fastapi import APIRouter

from civicflow.v1 import orchestrator_pb2
from gateway import conversions, schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(tags=["templates"], responses=error_responses(401, 403, 413, 429, 503, 504))


@router.get("/templates")
async def list_templates(
    caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> list[schemas.TemplateSummary]:
    """Every template: its id, version, description, input JSON Schema and step names."""
    request = orchestrator_pb2.ListTemplatesRequest()
    reply = await orchestrator.ListTemplates(request, timeout=timeout, metadata=caller.metadata)
    return [conversions.template_summary(template) for template in reply.templates]
