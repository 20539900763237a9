"""Settings every service shares; each service's own Settings class extends this one."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class ServiceSettings(BaseSettings):
    """Read from environment variables of the same name, upper-cased (LOG_LEVEL, HOST, ...)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    log_level: str = "INFO"
    # Address the server binds to; 0.0.0.0 so that containers are reachable.
    host: str = "0.0.0.0"
    # How long in-flight calls may run on after SIGTERM before they are cancelled.
    shutdown_grace_seconds: float = 10.0
