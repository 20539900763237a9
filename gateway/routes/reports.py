"""Impact-analysis reports and their per-citizen results, page by page."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from civicflow.input_limits import MAX_INT64
from civicflow.v1 import orchestrator_pb2
from gateway import conversions, schemas
from gateway.auth import CallerDep
from gateway.deps import OrchestratorDep, TimeoutDep
from gateway.routes import error_responses

MAX_PAGE_SIZE = 1000

router = APIRouter(
    prefix="/workflows/report",
    tags=["impact reports"],
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 503, 504),
)


@router.get("/{instance_id}")
async def get_impact_report(
    instance_id: uuid.UUID, caller: CallerDep, orchestrator: OrchestratorDep, timeout: TimeoutDep
) -> schemas.ImpactReport:
    """The report of a completed impact_analysis instance (409 for any other instance)."""
    request = orchestrator_pb2.GetImpactReportRequest(instance_id=str(instance_id))
    reply = await orchestrator.GetImpactReport(request, timeout=timeout, metadata=caller.metadata)
    return conversions.impact_report(reply.report)


@router.get("/{instance_id}/results")
async def list_impact_results(
    instance_id: uuid.UUID,
    caller: CallerDep,
    orchestrator: OrchestratorDep,
    timeout: TimeoutDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64, description="Citizens to skip, in population order.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="At most this many results.")] = 100,
) -> schemas.ImpactResultsPage:
    """Per-citizen decisions under the proposed and the current rules, in population order."""
    request = orchestrator_pb2.ListImpactResultsRequest(instance_id=str(instance_id), offset=offset, limit=limit)
    reply = await orchestrator.ListImpactResults(request, timeout=timeout, metadata=caller.metadata)
    return conversions.impact_results_page(reply, offset=offset, limit=limit)
