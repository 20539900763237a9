"""Cancelling a run in PostgreSQL: its row locked and ended `cancelled`, the results it wrote deleted.

The statements run in a transaction the caller holds (transaction()), which commits only once the
cancellation's audit entry is stored (runs/cancellation.py). Blocking: call through asyncio.to_thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.storage.instance_records import INSTANCE_COLUMNS, InstanceRecord
from orchestrator.storage.statements import RUN_ROW_LOCK_TIMEOUT, transaction

_LOCKED = f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances WHERE instance_id = :instance_id FOR UPDATE"
# Out of the queue, off its replica (whose writes all require status 'running' and its ownership), never again.
_CANCEL = f"""
    UPDATE orchestrator.workflow_instances
       SET status = 'cancelled', error = :reason, completed_at = now(), owner = NULL, lease_expires_at = NULL,
           waiting_for_review = NULL
     WHERE instance_id = :instance_id
    RETURNING {INSTANCE_COLUMNS}"""
# Allowed by the tables' triggers only for a cancelled instance's rows (migration 0011). Rows its replica is
# still writing are uncommitted: their COPY, or the commit after it, is refused (impact/results_store.py).
_DELETE_RESULTS = "DELETE FROM orchestrator.impact_results WHERE instance_id = :instance_id"
_DELETE_FAILURES = "DELETE FROM orchestrator.impact_failures WHERE instance_id = :instance_id"


class CancellationStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A transaction whose changes commit when the block ends without error."""
        with transaction(self._engine) as connection:
            yield connection

    @staticmethod
    def locked(connection: sa.Connection, instance_id: uuid.UUID) -> InstanceRecord | None:
        """The run, its row locked until the transaction ends; None if there is no such run."""
        connection.execute(sa.text(RUN_ROW_LOCK_TIMEOUT))
        row = connection.execute(sa.text(_LOCKED), {"instance_id": instance_id}).first()
        return InstanceRecord.from_row(row) if row is not None else None

    @staticmethod
    def cancel(connection: sa.Connection, instance_id: uuid.UUID, *, reason: str) -> InstanceRecord:
        row = connection.execute(sa.text(_CANCEL), {"instance_id": instance_id, "reason": reason}).one()
        return InstanceRecord.from_row(row)

    @staticmethod
    def delete_results(connection: sa.Connection, instance_id: uuid.UUID) -> int:
        """Deletes the committed results and failures of the (now cancelled) run; how many rows there were."""
        deleted = 0
        for statement in (_DELETE_RESULTS, _DELETE_FAILURES):
            deleted += connection.execute(sa.text(statement), {"instance_id": instance_id}).rowcount
        return deleted
