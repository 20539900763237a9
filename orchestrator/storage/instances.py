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
from orchestrator.storage.retry_records import JOURNAL_RETRY, one_retry_per_run
from orchestrator.storage.statements import RUN_ROW_LOCK_TIMEOUT, single_statements
from orchestrator.storage.step_journal import JOURNAL_ATTEMPTS

_CREATE = f"""
    INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status, inputs,
        appealed_instance_id, created_at, actor, idempotency_key, request_hash, steps_total, owner, lease_expires_at,
        retry_of, steps_completed)
    VALUES (%(instance_id)s, %(template_id)s, %(template_version)s, 'running', CAST(%(inputs)s AS json),
        %(appealed_instance_id)s, now(), %(actor)s, %(idempotency_key)s, %(request_hash)s, %(steps_total)s, %(owner)s,
        now() + make_interval(secs => %(lease_seconds)s), %(retry_of)s, %(steps_completed)s)
    ON CONFLICT (actor, idempotency_key) DO NOTHING
    RETURNING {INSTANCE_COLUMNS}
    """

# The run that retried this one is found through the unique index on retry_of (migration 0011).
_BY_ID = f"""
    SELECT {INSTANCE_COLUMNS},
           (SELECT retry.instance_id FROM orchestrator.workflow_instances AS retry
             WHERE retry.retry_of = run.instance_id) AS retried_by
      FROM orchestrator.workflow_instances AS run WHERE instance_id = %(instance_id)s"""
# A key names a run only for the subject that used it.
_BY_KEY = (
    f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances"
    " WHERE actor = %(actor)s AND idempotency_key = %(key)s"
)
_FINISH = f"""
    WITH owned AS (
        UPDATE orchestrator.workflow_instances
           SET status = %(status)s, outputs = CAST(%(outputs)s AS json), error = %(error)s, completed_at = now(),
               steps_completed = %(steps_completed)s, steps_total = %(steps_total)s, items_done = %(items_done)s,
               items_total = %(items_total)s, owner = NULL, lease_expires_at = NULL
         WHERE instance_id = %(instance_id)s AND owner = %(owner)s AND status = 'running'
     RETURNING {INSTANCE_COLUMNS}
    ), journalled AS ({JOURNAL_ATTEMPTS})
    SELECT * FROM owned
    """
# Parking a run at a review (park()): its row first, locked (RUN_ROW_LOCK_TIMEOUT), then its task's state read after
# the lock. Past the timeout parking is tried again as any write is (runs/outages.py).
_LOCK_OWNED = """
    SELECT 1 FROM orchestrator.workflow_instances
     WHERE instance_id = %(instance_id)s AND owner = %(owner)s AND status = 'running' FOR UPDATE"""
_TASK_UNDECIDED = """
    SELECT 1 FROM orchestrator.review_tasks
     WHERE review_task_id = %(review_task_id)s AND status IN ('open', 'claimed')"""
_PARK = f"""
    UPDATE orchestrator.workflow_instances
       SET status = 'waiting', waiting_for_review = %(review_task_id)s, outputs = CAST(%(outputs)s AS json),
           steps_completed = %(steps_completed)s, steps_total = %(steps_total)s,
           owner = NULL, lease_expires_at = NULL, resume_attempts = 0
     WHERE instance_id = %(instance_id)s
    RETURNING {INSTANCE_COLUMNS}"""


class InstanceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, run: NewRun, *, owner: str, lease_seconds: float) -> tuple[InstanceRecord, bool]:
        """Creates the run owned by `owner`, or finds the one created earlier with the same idempotency key.

        Returns the instance and whether this call created it. Concurrent calls with one key are safe:
        PostgreSQL lets exactly one INSERT through the unique key; the others wait for it and find its row.
        """
        params = {**run.insert_parameters(), "owner": owner, "lease_seconds": lease_seconds}
        if run.retry_of is not None:
            return self._create_retry(run, params), True
        with single_statements(self._engine) as statements:
            created = statements.row(_CREATE, params)
            if created is not None:
                return InstanceRecord.from_row(created), True
            existing = statements.row(_BY_KEY, {"actor": run.actor, "key": run.idempotency_key})
        assert existing is not None, "ON CONFLICT DO NOTHING waited for the row with this key"
        return InstanceRecord.from_row(existing), False

    def _create_retry(self, run: NewRun, params: dict[str, object]) -> InstanceRecord:
        """A retry and the successes it takes over, journalled in the same transaction (runs/retries.py)."""
        with single_statements(self._engine) as statements, one_retry_per_run(run), statements.transaction():
            created = statements.row(_CREATE, params)
            statements.execute_with(JOURNAL_RETRY, run.reused_journal())
        assert created is not None, "a retry has no idempotency key to conflict on"
        return InstanceRecord.from_row(created)

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
            "steps_total": progress.steps_total,
            "items_done": progress.items_done,
            "items_total": progress.items_total,
            "attempts": json.dumps([attempt.journal_row() for attempt in attempts]),
        }
        with single_statements(self._engine) as statements:
            row = statements.row(_FINISH, params)
        if row is None:
            raise LeaseLostError(f"instance {instance_id} is no longer owned by {owner}")
        return InstanceRecord.from_row(row)

    def park(
        self,
        instance_id: uuid.UUID,
        *,
        owner: str,
        review_task_id: uuid.UUID,
        outputs: dict[str, Any],
        progress: RunProgress,
    ) -> InstanceRecord | None:
        """Leaves the run `waiting` for its review task, owned by no replica, with its outputs so far.

        None, changing nothing, if the task was decided (or cancelled) meanwhile: the run goes on at once.
        The run's row is locked before the task is read, as a decision locks it before deciding
        (reviews/service.py), so a run never starts waiting for a task decided already.
        LeaseLostError if `owner` no longer owns the run.
        """
        params = {
            "instance_id": instance_id,
            "owner": owner,
            "review_task_id": review_task_id,
            "outputs": json.dumps(outputs),
            "steps_completed": progress.steps_completed,
            "steps_total": progress.steps_total,
        }
        with single_statements(self._engine) as statements, statements.transaction():
            statements.execute(RUN_ROW_LOCK_TIMEOUT)
            if statements.row(_LOCK_OWNED, params) is None:
                raise LeaseLostError(f"instance {instance_id} is no longer owned by {owner}")
            parked = statements.row(_PARK, params) if statements.row(_TASK_UNDECIDED, params) else None
        return InstanceRecord.from_row(parked) if parked is not None else None

    def get(self, instance_id: uuid.UUID) -> InstanceRecord:
        with single_statements(self._engine) as statements:
            row = statements.row(_BY_ID, {"instance_id": instance_id})
        if row is None:
            raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
        return InstanceRecord.from_row(row)
