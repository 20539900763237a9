"""Builds the FastAPI application; nothing is created at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from civicflow import tracing
from civicflow.auth.tokens import TokenVerifier
from civicflow.metrics.exposition import start_metrics_server
from civicflow.metrics.http import HttpMetricsMiddleware
from civicflow.rate_limits import RateLimiter
from civicflow.tls import Identity
from gateway.body_limits import RequestBodyLimits
from gateway.config import GatewaySettings
from gateway.deps import Upstreams
from gateway.errors import install_error_handlers
from gateway.routes import audit, health, index, reports, reviews, run_operations, schemes, templates, workflows
from gateway.stream_slots import StreamSlots

log = logging.getLogger(__name__)

API_VERSION = "0.1.0"

DESCRIPTION = """\
Runs template-driven benefit-decision workflows and answers for their results.

* **eligibility_check**: decides one citizen under one scheme.
* **impact_analysis**: re-evaluates a population under proposed rules and reports what changes.
* **appeal_processing**: re-runs a decision with corrected data (`new_data`), never modifying the original.
* **benefit_application**: decides one citizen; a NEEDS_REVIEW decision waits (status `waiting`) for a
  caseworker to decide its review task (`/reviews`).

Every step of every run is written to an append-only audit trail. Errors always answer
`{"error": {"status", "code", "message", "details"}}`.

Every route but `/` (the API's name, version and links), `/healthz` and the published
`/audit/public-key`, `/audit/public-keys`, `/audit/checkpoint` and `/audit/checkpoints` takes a
bearer token (**Authorize** above): 401
without a valid one, 403 when its roles do not allow the route. caseworker: eligibility checks
and appeals; analyst: impact analyses; auditor: reads everything and every `/audit` route,
runs nothing; admin: all.

Limits: a body over 1 MiB answers 413; more requests than the per-subject rate limit, or more
open event streams than a subject may hold, answer 429 with `Retry-After`.
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    """The app; ConfigurationError at once, before anything serves, if its identity's files cannot be read."""
    identity = Identity.load(settings)
    verifier = TokenVerifier(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstreams = Upstreams.open(settings, identity)
        app.state.upstreams = upstreams
        port = settings.metrics_port
        metrics = start_metrics_server(settings.host, port) if port is not None else None
        log.info("gateway ready", extra={"orchestrator_target": settings.orchestrator_target})
        try:
            yield
        finally:
            await upstreams.close()
            if metrics is not None:
                await asyncio.to_thread(metrics.stop)
            log.info("gateway channels closed")

    app = FastAPI(title="Civicflow", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.verifier = verifier
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    app.state.stream_slots = StreamSlots(per_subject=settings.sse_max_per_subject)
    app.add_middleware(
        RequestBodyLimits,
        max_bytes=settings.max_request_body_bytes,
        read_timeout_seconds=settings.body_read_timeout_seconds,
    )
    # Outermost but for tracing's: a request the body limits refuse is counted too.
    app.add_middleware(HttpMetricsMiddleware)
    tracing.instrument_app(app, "gateway")
    install_error_handlers(app)
    # Reports first, so that "report" is never taken for an instance id.
    app.include_router(reports.router)
    app.include_router(workflows.router)
    app.include_router(run_operations.router)
    app.include_router(templates.router)
    app.include_router(schemes.router)
    app.include_router(reviews.router)
    app.include_router(audit.router)
    app.include_router(health.router)
    app.include_router(index.router)
    return app
