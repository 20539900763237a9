"""Orchestrator settings."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from pydantic import Field, model_validator

from civicflow.auth.principals import Role
from civicflow.auth.tokens import TokenSettings
from civicflow.database import DatabaseSettings
from civicflow.rate_limits import RateLimitSettings
from civicflow.settings import REPO_ROOT, GrpcServiceSettings


def _default_replica_id() -> str:
    # Unique per process: a restarted process is a new replica, and waits for its predecessor's leases.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class OrchestratorSettings(GrpcServiceSettings, TokenSettings, DatabaseSettings, RateLimitSettings):
    orchestrator_port: int = 50051
    # dns:///evaluator:50052 spreads calls over every evaluator replica (round_robin).
    evaluator_target: str = "localhost:50052"
    audit_target: str = "localhost:50053"
    templates_dir: Path = REPO_ROOT / "templates"
    # How often the template directory is read again for new, changed and deleted files
    # (TEMPLATE_RELOAD_SECONDS; 0 turns the watch off, leaving POST /templates/reload).
    template_reload_seconds: float = Field(default=2.0, ge=0)
    # Seed files, <scheme_name>.json: read at start for schemes the database does not have yet (schemes/seeding.py).
    schemes_dir: Path = REPO_ROOT / "schemes"
    # Deadline of one call to the evaluator or the audit service.
    downstream_timeout_seconds: float = 30.0

    # Durable runs. This process's name as the owner of runs. Set it (REPLICA_ID, a StatefulSet pod
    # name, say) only if no two live processes share it: a process started with a configured id takes
    # that id's runs back at once instead of waiting for their leases to run out.
    replica_id: str = Field(default_factory=_default_replica_id, min_length=1, max_length=200)
    # How long a run stays this replica's without a renewal; after that any replica may take it over.
    run_lease_seconds: float = Field(default=10.0, gt=0)
    # How often this replica renews the leases of the runs it drives.
    lease_heartbeat_seconds: float = Field(default=3.0, gt=0)
    # How often this replica looks for runs whose lease expired (their replica died) to resume them.
    resume_scan_seconds: float = Field(default=2.0, gt=0)
    # Runs claimed per scan, oldest first.
    resume_batch: int = Field(default=50, ge=1)
    # How often a watcher of a run driven by another replica reads it from the database.
    watch_poll_seconds: float = Field(default=0.25, gt=0)
    # How often item progress inside a step is written to the database (watchers here see every change).
    progress_flush_seconds: float = Field(default=0.5, gt=0)
    # How long a completed step may wait to be journalled and audited together with the steps after it
    # (see recorder.py). A crash within it costs re-running those steps, never a wrong record.
    record_linger_seconds: float = Field(default=0.2, ge=0)
    # How long a run waits for the evaluator, the audit service or the database to come back before it
    # fails, saying which was down (runs/outages.py). Waiting spends no attempt of a step's retry policy.
    dependency_outage_seconds: float = Field(default=300.0, gt=0)
    # Times a run is taken over without finishing a step (its replica died each time, or the resume
    # itself failed) before it is failed instead of taken over again.
    max_resume_attempts: int = Field(default=5, ge=1)

    # Impact analyses (impact/admission.py). At most impact_max_running run at once across all replicas;
    # the others wait queued, in submission order. A subject may have at most impact_max_per_subject
    # queued or running; one more is refused (RESOURCE_EXHAUSTED, told to retry after the given seconds).
    impact_max_running: int = Field(default=2, ge=1)
    impact_max_per_subject: int = Field(default=4, ge=1)
    impact_retry_after_seconds: int = Field(default=30, ge=1)
    # How often each replica looks for queued analyses that a slot freed elsewhere lets start.
    impact_queue_poll_seconds: float = Field(default=1.0, gt=0)
    # The largest population one analysis may cover, per role (JSON in IMPACT_POPULATION_LIMITS); a role
    # not named may analyse none. Larger ones are refused with PERMISSION_DENIED.
    impact_population_limits: dict[Role, int] = Field(
        default_factory=lambda: {Role.ANALYST: 1_000_000, Role.ADMIN: 1_000_000}
    )

    # Review tasks (reviews/). A claim not used for this long lapses and the task returns to the queue
    # (REVIEW_CLAIM_SECONDS); every replica looks for lapsed claims and overdue tasks this often.
    review_claim_seconds: float = Field(default=8 * 3600.0, gt=0)
    review_sweep_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> OrchestratorSettings:
        if self.lease_heartbeat_seconds >= self.run_lease_seconds:
            raise ValueError("lease_heartbeat_seconds must be shorter than run_lease_seconds")
        return self
