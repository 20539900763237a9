"""Health of the gateway and of the services behind it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from civicflow.grpc_server import check_health
from gateway.deps import UpstreamsDep
from gateway.schemas import HealthReport

SERVING = "SERVING"
NOT_SERVING = "NOT_SERVING"

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def healthz(upstreams: UpstreamsDep) -> JSONResponse:
    """200 with status `ok` when every service reports SERVING; otherwise 503 with status `degraded`."""
    names = ("orchestrator", "evaluator", "audit_service")
    channels = (upstreams.orchestrator, upstreams.evaluator, upstreams.audit)
    serving = await asyncio.gather(*(check_health(channel) for channel in channels))
    services = {"gateway": SERVING} | {
        name: SERVING if ok else NOT_SERVING for name, ok in zip(names, serving, strict=True)
    }
    healthy = all(serving)
    report = HealthReport(status="ok" if healthy else "degraded", services=services)
    return JSONResponse(status_code=200 if healthy else 503, content=report.model_dump(mode="json"))
