"""Gateway settings."""

from __future__ import annotations

from civicflow.auth.tokens import TokenSettings
from civicflow.settings import ServiceSettings


class GatewaySettings(ServiceSettings, TokenSettings):
    gateway_port: int = 8000
    orchestrator_target: str = "localhost:50051"
    # Probed by /healthz only: the gateway sends no other call to it.
    evaluator_target: str = "localhost:50052"
    # The /audit routes call the audit service directly; /healthz probes it too.
    audit_target: str = "localhost:50053"
    # Deadline of one call to the orchestrator; a million-citizen run takes a while.
    request_timeout_seconds: float = 600.0
