"""Workflow instances and appeals in PostgreSQL. Methods block: call them through asyncio.to_thread."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from orchestrator.errors import DependencyUnavailableError, InstanceNotFoundError
from orchestrator.tables import AppealRow, WorkflowInstanceRow

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: uuid.UUID
    template_id: str
    template_version: str
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    appealed_instance_id: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: WorkflowInstanceRow) -> InstanceRecord:
        return cls(
            instance_id=row.instance_id,
            template_id=row.template_id,
            template_version=row.template_version,
            status=row.status,
            inputs=row.inputs,
            outputs=row.outputs or {},
            error=row.error,
            appealed_instance_id=row.appealed_instance_id,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


@dataclass(frozen=True)
class AppealRecord:
    appeal_id: uuid.UUID
    original_instance_id: uuid.UUID
    new_instance_id: uuid.UUID
    evidence: dict[str, Any]
    original_decision: str
    new_decision: str | None
    outcome: str


class InstanceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        *,
        template_id: str,
        template_version: str,
        inputs: dict[str, Any],
        appealed_instance_id: uuid.UUID | None = None,
    ) -> InstanceRecord:
        row = WorkflowInstanceRow(
            instance_id=uuid.uuid4(),
            template_id=template_id,
            template_version=template_version,
            status=RUNNING,
            inputs=inputs,
            outputs=None,
            error=None,
            appealed_instance_id=appealed_instance_id,
            created_at=datetime.now(UTC),
            completed_at=None,
        )
        with self._session() as session, session.begin():
            session.add(row)
        return InstanceRecord.from_row(row)

    def finish(self, instance_id: uuid.UUID, *, outputs: dict[str, Any] | None, error: str | None) -> InstanceRecord:
        """Completes the run (no error) or fails it; the database refuses to touch it afterwards."""
        with self._session() as session, session.begin():
            row = session.get(WorkflowInstanceRow, instance_id, with_for_update=True)
            if row is None:
                raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
            row.status = FAILED if error is not None else COMPLETED
            row.outputs = outputs
            row.error = error
            row.completed_at = datetime.now(UTC)
        return InstanceRecord.from_row(row)

    def get(self, instance_id: uuid.UUID) -> InstanceRecord:
        with self._session() as session:
            row = session.get(WorkflowInstanceRow, instance_id)
            if row is None:
                raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
            return InstanceRecord.from_row(row)

    def record_appeal(self, appeal: AppealRecord) -> None:
        with self._session() as session, session.begin():
            session.add(
                AppealRow(
                    appeal_id=appeal.appeal_id,
                    original_instance_id=appeal.original_instance_id,
                    new_instance_id=appeal.new_instance_id,
                    evidence=appeal.evidence,
                    original_decision=appeal.original_decision,
                    new_decision=appeal.new_decision,
                    outcome=appeal.outcome,
                    created_at=datetime.now(UTC),
                )
            )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with database_errors(), Session(self._engine, expire_on_commit=False) as session:
            yield session


@contextmanager
def database_errors() -> Iterator[None]:
    """Turns a lost or refused database connection into DependencyUnavailableError (UNAVAILABLE)."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        raise DependencyUnavailableError(f"database unavailable: {error.orig}") from error
