"""The orchestrator's tables, all in the `orchestrator` schema. Migrations create them; see migrations/."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, MetaData, SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

SCHEMA = "orchestrator"
# The Alembic scripts that create and upgrade these tables.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class WorkflowInstanceRow(Base):
    """One run of one template. Once it is completed or failed, PostgreSQL refuses any change.

    Documents are `json`, not `jsonb`: PostgreSQL keeps their text exactly as written.
    """

    __tablename__ = "workflow_instances"

    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    template_id: Mapped[str] = mapped_column(Text)
    template_version: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    appealed_instance_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.workflow_instances.instance_id")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who asked for the run (the subject of its bearer token); recorded on each of its audit entries.
    actor: Mapped[str] = mapped_column(Text, default="")
    # A client's Idempotency-Key and the fingerprint of the request it was first used with; unique per actor.
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)
    # Progress, written in the same transaction as each step's completion.
    steps_completed: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int] = mapped_column(Integer, default=0)
    items_done: Mapped[int] = mapped_column(BigInteger, default=0)
    items_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # The replica driving a running run, until lease_expires_at; then any replica may take it over.
    owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Times the run was taken over since it last finished a step; past a limit it is failed (leases.py).
    resume_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The failed or cancelled run this one retries; unique: a run is retried once (its retry may be retried).
    retry_of: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey(f"{SCHEMA}.workflow_instances.instance_id"))


class WorkflowStepRow(Base):
    """One attempt of one step of a run, as the run's journal: a resumed run continues from these.

    Holds exactly what the attempt's audit entry holds, so that the entry can be appended again
    (with the same idempotency key) if the orchestrator died before the audit service had it.
    """

    __tablename__ = "workflow_steps"

    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey(WorkflowInstanceRow.instance_id), primary_key=True)
    step_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_name: Mapped[str] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    # ErrorKind of a failed attempt (timeout, unavailable, failed, internal); null when it succeeded.
    error_kind: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    input: Mapped[Any] = mapped_column(JSON)
    output: Mapped[Any] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A retry's attempt taken over from the run it retries (that run's id); null for an attempt the run made.
    reused_from: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey(WorkflowInstanceRow.instance_id))


class AppealRow(Base):
    """An appeal: the instance appealed, the run that re-decided it, and the outcome. Never changed."""

    __tablename__ = "appeals"

    appeal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    original_instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey(WorkflowInstanceRow.instance_id))
    new_instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey(WorkflowInstanceRow.instance_id), unique=True)
    new_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    original_decision: Mapped[str] = mapped_column(Text)
    new_decision: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImpactResultRow(Base):
    """One citizen's decisions in one impact analysis. Written with COPY, never changed."""

    __tablename__ = "impact_results"

    # No foreign key: a statement-level trigger checks the instances of each COPY (migration 0002).
    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(Text)
    # civicflow.v1.Decision values: 1 ELIGIBLE, 2 NOT_ELIGIBLE, 3 NEEDS_REVIEW.
    decision: Mapped[int] = mapped_column(SmallInteger)
    baseline_decision: Mapped[int] = mapped_column(SmallInteger)


class ImpactFailureRow(Base):
    """A citizen an impact analysis could not evaluate (within its tolerance), and why. Never changed."""

    __tablename__ = "impact_failures"

    instance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey(WorkflowInstanceRow.instance_id), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
