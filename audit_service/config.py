"""Audit service settings."""

from __future__ import annotations

from civicflow.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    audit_port: int = 50053
    database_url: str
    database_pool_size: int = 10
