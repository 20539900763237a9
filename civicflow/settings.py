"""Settings every service shares; each service's own Settings class extends this one."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from civicflow.logs import LogFormat

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(Exception):
    """A setting or a file it names that a service cannot start with; it exits with status 2, saying why."""


class ServiceSettings(BaseSettings):
    """Read from environment variables of the same name, upper-cased (LOG_LEVEL, HOST, ...)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    log_level: str = "INFO"
    # human, json, or auto: human on a terminal, JSON otherwise (civicflow/logs.py).
    log_format: LogFormat = "auto"
    # Address the server binds to; 0.0.0.0 so that containers are reachable.
    host: str = "0.0.0.0"
    # How long in-flight calls may run on after SIGTERM before they are cancelled.
    shutdown_grace_seconds: float = 10.0
    # This service's identity for mutual TLS with the others (PEM files; civicflow/tls.py).
    tls_ca_path: Path | None = None
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None
    # Plain HTTP port serving this process's Prometheus metrics (civicflow/metrics/); internal, never published.
    # Unset: no metrics server.
    metrics_port: int | None = None


class GrpcServiceSettings(ServiceSettings):
    """Settings of a service that serves gRPC."""

    # A second, plaintext port that serves only grpc.health.v1, for probes that cannot speak mutual
    # TLS (Kubernetes' native gRPC probes, compose healthchecks). Unset: no such port.
    health_port: int | None = None
