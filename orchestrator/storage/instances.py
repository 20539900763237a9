"""Workflow instances in PostgreSQL. Methods block: call them through asyncio.to_thread.

A run's life in the table: created `running` with its lease already taken (one INSERT), its
steps journalled by step_journal.py, finished with its last steps in one statement that also
gives up the lease. Statements are plain SQL on purpose: each is one round trip (statements.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.errors import InstanceNotFoundError, LeaseLostError
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import (
    COMPLETED,
    FAILED,
    INSTANCE_COLUMNS,
    InstanceRecord,
    NewRun,
    RunProgress,
)
from orchestrator.storage.statements import single_statements
from orchestrator.storage.step_journal import JOURNAL_ATTEMPTS

_CREATE = f"""
    INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status, inputs,
        appealed_instance_id, created_at, actor, idempotency_key, request_hash, steps_total, owner, lease_expires_at)
    VALUES (%(instance_id)s, %(template_id)s, %(template_version)s, 'running', CAST(%(inputs)s AS json),
        %(appealed_instance_id)s, now(), %(actor)s, %(idempotency_key)s, %(request_hash)s, %(steps_total)s, %(owner)s,
        now() + make_interval(secs => %(lease_seconds)s))
    ON CONFLICT (actor, idempotency_key) DO NOTHING
    RETURNING {INSTANCE_COLUMNS}
    """

_BY_ID = f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances WHERE instance_id = %(instance_id)s"
# A key names a run only for the subject that used it.
_BY_KEY = (
    f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances"
    " WHERE actor = %(actor)s AND idempotency_key = %(key)s"
)
_FINISH = f"""
    WITH owned AS (
        UPDATE orchestrator.workflow_instances
           SET status = %(status)s, outputs = CAST(%(outputs)s AS json), error = %(error)s, completed_at = now(),
               steps_completed = %(steps_completed)s, items_done = %(items_done)s, items_total = %(items_total)s,
               owner = NULL, lease_expires_at = NULL
         WHERE instance_id = %(instance_id)s AND owner = %(owner)s AND status = 'running'
     RETURNING {INSTANCE_COLUMNS}
    ), journalled AS ({JOURNAL_ATTEMPTS})
    SELECT * FROM owned
    """


class InstanceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, run: NewRun, *, owner: str, lease_seconds: float) -> tuple[InstanceRecord, bool]:
        """Creates the run owned by `owner`, or finds the one created earlier with the same idempotency key.

        Returns the instance and whether this call created it. Concurrent calls with one key are safe:
        PostgreSQL lets exactly one INSERT through the unique key; the others wait for it and find its row.
        """
        params = {**run.insert_parameters(), "owner": owner, "lease_seconds": lease_seconds}
        with single_statements(self._engine) as statements:
            created = statements.row(_CREATE, params)
            if created is not None:
                return InstanceRecord.from_row(created), True
            existing = statements.row(_BY_KEY, {"actor": run.actor, "key": run.idempotency_key})
        assert existing is not None, "ON CONFLICT DO NOTHING waited for the row with this key"
        return InstanceRecord.from_row(existing), False

    def finish(
        self,
        instance_id: uuid.UUID,
        *,
        owner: str,
        outputs: dict[str, Any] | None,
        error: str | None,
        attempts: Sequence[StepAttempt],
        progress: RunProgress,
    ) -> InstanceRecord:
        """Journals the last attempts and completes the run (no error) or fails it, giving up its lease.

        Raises LeaseLostError, writing nothing, if `owner` no longer owns the run. The database
        refuses to touch the instance afterwards.
        """
        params = {
            "instance_id": instance_id,
            "owner": owner,
            "status": FAILED if error is not None else COMPLETED,
            "outputs": json.dumps(outputs) if outputs is not None else None,
            "error": error,
            "steps_completed": progress.steps_completed,
            "items_done": progress.items_done,
            "items_total": progress.items_total,
            "attempts": json.dumps([attempt.journal_row() for attempt in attempts]),
        }
        with single_statements(self._engine) as statements:
            row = statements.row(_FINISH, params)
        if row is None:
            raise LeaseLostError(f"instance {instance_id} is no longer owned by {owner}")
        return InstanceRecord.from_row(row)

    def get(self, instance_id: uuid.UUID) -> InstanceRecord:
        with single_statements(self._engine) as statements:
            row = statements.row(_BY_ID, {"instance_id": instance_id})
        if row is None:
            raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
        return InstanceRecord.from_row(row)
