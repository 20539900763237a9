"""The workflow templates: the current ones, one template's versions, and a reload of the directory (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from civicflow.v1 import orchestrator_pb2
from gateway import conversions, schemas, template_schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

router = APIRouter(tags=["templates"], responses=error_responses(401, 403, 413, 429, 503, 504))

TemplateId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64, description="The template's id.")]


@router.get("/templates")
async def list_templates(
    caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> list[schemas.TemplateSummary]:
    """Every template, in its current version: its id, version, description, input JSON Schema and step names."""
    request = orchestrator_pb2.ListTemplatesRequest()
    reply = await orchestrator.ListTemplates(request, timeout=timeout, metadata=caller.metadata)
    return [conversions.template_summary(template) for template in reply.templates]


@router.get("/templates/{template_id}", responses=error_responses(404, 422))
async def get_template(
    template_id: TemplateId, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> template_schemas.Template:
    """Every version of the template ever loaded, oldest first, the current one marked. Unknown template: 404."""
    request = orchestrator_pb2.GetTemplateRequest(template_id=template_id)
    reply = await orchestrator.GetTemplate(request, timeout=timeout, metadata=caller.metadata)
    return template_schemas.template(reply)


@router.post("/templates/reload")
async def reload_templates(
    caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> template_schemas.TemplateReload:
    """Reads the template directory now (admin): what loaded, and every problem of every file refused.

    A refused file leaves its previous version in force. With several orchestrator replicas this reads the
    directory of the one that answers; the others read theirs within TEMPLATE_RELOAD_SECONDS.
    """
    request = orchestrator_pb2.ReloadTemplatesRequest()
    reply = await orchestrator.ReloadTemplates(request, timeout=timeout, metadata=caller.metadata)
    return template_schemas.reload(reply)
