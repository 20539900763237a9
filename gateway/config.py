"""Gateway settings."""

from __future__ import annotations

from pydantic import Field

from civicflow.auth.tokens import TokenSettings
from civicflow.rate_limits import RateLimitSettings
from civicflow.settings import ServiceSettings


class GatewaySettings(ServiceSettings, TokenSettings, RateLimitSettings):
    gateway_port: int = 8000
    orchestrator_target: str = "localhost:50051"
    # Probed by /healthz only: the gateway sends no other call to it.
    evaluator_target: str = "localhost:50052"
    # The /audit routes call the audit service directly; /healthz probes it too.
    audit_target: str = "localhost:50053"
    # Deadline of one call to the orchestrator; a million-citizen run takes a while.
    request_timeout_seconds: float = 600.0

    # Hostile or broken clients. A body over this many bytes is refused (413) before it is read whole;
    # the largest request of the API (an appeal's evidence, a run's inputs) is a few hundred bytes.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # A request's headers must arrive within this many seconds of its first byte, and its body
    # within this many seconds of its headers (408); the connection is closed otherwise.
    header_read_timeout_seconds: float = Field(default=10.0, gt=0)
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)
    # Event streams (GET /workflows/{id}/events) one subject may hold open at once (429 beyond).
    sse_max_per_subject: int = Field(default=16, ge=1)
