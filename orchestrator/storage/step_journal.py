"""The step journal in PostgreSQL: attempts recorded with the run's progress, and read back to resume a run.

Blocking: call through asyncio.to_thread. Every write is one statement guarded by the run's
owner, so a replica that lost a run's lease can no longer write anything about it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from orchestrator.errors import LeaseLostError
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import RunProgress
from orchestrator.storage.statements import single_statements

# Inserts attempts given as a JSON array of StepAttempt.journal_row() objects, for the instance
# the preceding CTE `owned` returned: nothing is journalled for a run this replica no longer owns.
# An attempt journalled already is left as it is: a write whose answer an outage lost is made again.
JOURNAL_ATTEMPTS = """
    INSERT INTO orchestrator.workflow_steps (instance_id, step_index, attempt, step_name, succeeded,
                                             error_kind, error, input, output, started_at, completed_at, reused_from)
    SELECT owned.instance_id, a.step_index, a.attempt, a.step_name, a.succeeded, a.error_kind, a.error,
           a.input, a.output, a.started_at, a.completed_at, a.reused_from
      FROM owned, json_to_recordset(CAST(%(attempts)s AS json)) AS a(
           step_index int, attempt int, step_name text, succeeded boolean, error_kind text, error text,
           input json, output json, started_at timestamptz, completed_at timestamptz, reused_from uuid)
    ON CONFLICT DO NOTHING
"""

# Progress and attempts in one transaction, renewing the lease on the way; a step done is progress
# enough to count the run's takeovers from 0 again (leases.py).
_RECORD = f"""
    WITH owned AS (
        UPDATE orchestrator.workflow_instances
           SET steps_completed = %(steps_completed)s, steps_total = %(steps_total)s, items_done = %(items_done)s,
               items_total = %(items_total)s,
               lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
               resume_attempts = CASE WHEN %(steps_completed)s > steps_completed THEN 0 ELSE resume_attempts END
         WHERE instance_id = %(instance_id)s AND owner = %(owner)s AND status = 'running'
     RETURNING instance_id
    ), journalled AS ({JOURNAL_ATTEMPTS})
    SELECT count(*) FROM owned
    """
_ATTEMPTS = (
    "SELECT step_index, attempt, step_name, error_kind, error, input, output, started_at, completed_at, reused_from"
    " FROM orchestrator.workflow_steps WHERE instance_id = %(instance_id)s ORDER BY step_index, attempt"
)


class StepJournal:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
        self,
        instance_id: uuid.UUID,
        *,
        owner: str,
        attempts: Sequence[StepAttempt],
        progress: RunProgress,
        lease_seconds: float,
    ) -> None:
        """Journals `attempts` (possibly none) and the progress they make; LeaseLostError if not `owner`'s."""
        params = {
            "instance_id": instance_id,
            "owner": owner,
            "attempts": json.dumps([attempt.journal_row() for attempt in attempts]),
            "steps_completed": progress.steps_completed,
            "steps_total": progress.steps_total,
            "items_done": progress.items_done,
            "items_total": progress.items_total,
            "lease_seconds": lease_seconds,
        }
        with single_statements(self._engine) as statements:
            (owned,) = statements.scalars(_RECORD, params)
        if not owned:
            raise LeaseLostError(f"instance {instance_id} is no longer owned by {owner}")

    def attempts(self, instance_id: uuid.UUID) -> list[StepAttempt]:
        with single_statements(self._engine) as statements:
            rows = statements.rows(_ATTEMPTS, {"instance_id": instance_id})
        return [StepAttempt.from_journal(row) for row in rows]
