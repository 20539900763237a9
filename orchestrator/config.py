"""Orchestrator settings."""

from __future__ import annotations

from pathlib import Path

from civicflow.settings import REPO_ROOT, ServiceSettings


class OrchestratorSettings(ServiceSettings):
    orchestrator_port: int = 50051
    database_url: str
    database_pool_size: int = 10
    # dns:///evaluator:50052 spreads calls over every evaluator replica (round_robin).
    evaluator_target: str = "localhost:50052"
    audit_target: str = "localhost:50053"
    templates_dir: Path = REPO_ROOT / "templates"
    schemes_file: Path = REPO_ROOT / "schemes" / "schemes.json"
    # Deadline of one call to the evaluator or the audit service.
    downstream_timeout_seconds: float = 30.0
