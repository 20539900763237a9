"""Each service's settings class, identity and port field, as deployment files must match them."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from audit_service.config import AuditSettings
from civicflow.auth.access import ServiceIdentity
from evaluator.config import EvaluatorSettings
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "audit_service": AuditSettings,
    "evaluator": EvaluatorSettings,
    "orchestrator": OrchestratorSettings,
    "gateway": GatewaySettings,
}
# The identity in each service's certificate (civicflow.auth.access.ServiceIdentity).
IDENTITIES = {
    "audit_service": ServiceIdentity.AUDIT_SERVICE,
    "evaluator": ServiceIdentity.EVALUATOR,
    "orchestrator": ServiceIdentity.ORCHESTRATOR,
    "gateway": ServiceIdentity.GATEWAY,
}
PORT_FIELDS = {
    "audit_service": "audit_port",
    "evaluator": "evaluator_port",
    "orchestrator": "orchestrator_port",
    "gateway": "gateway_port",
}


def default_port(service: str) -> int:
    port: int = SETTINGS[service].model_fields[PORT_FIELDS[service]].default
    return port


def settings_keys(service: str) -> set[str]:
    """The environment variables a service reads: its settings fields, upper-cased."""
    return {name.upper() for name in SETTINGS[service].model_fields}
