"""The impact-analysis queue in PostgreSQL: admission of new analyses and promotion of queued ones to running.

Every decision that lets an analysis run takes one transaction-level advisory lock first, so
decisions of all replicas happen one at a time and each counts the running analyses after the
previous one committed: the system-wide cap holds whatever the number of replicas. A new
analysis is inserted `queued` and the oldest queued ones are promoted in the same transaction,
so a newcomer never overtakes the queue. A promoted run is owned by the promoting replica with
a fresh lease, like a new run: if that replica dies before driving it, the lease runs out and
another replica resumes it (leases.py). Blocking: call through asyncio.to_thread.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from psycopg2.extras import NamedTupleCursor
from sqlalchemy.engine import Engine

from civicflow import tracing
from orchestrator.errors import SubjectQuotaError
from orchestrator.storage.instance_records import INSTANCE_COLUMNS, InstanceRecord, NewRun
from orchestrator.storage.retry_records import JOURNAL_RETRY, one_retry_per_run
from orchestrator.storage.statements import Statements, database_errors

# Any constant works as long as nothing else in the database takes it: "civicflow impact queue" in ASCII, truncated.
ADMISSION_LOCK = 0x63697669_63666C6F

_LOCK = "SELECT pg_advisory_xact_lock(%(lock)s)"
_BY_KEY = (
    f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances"
    " WHERE actor = %(actor)s AND idempotency_key = %(key)s"
)
_QUEUED = """
    SELECT count(*) FROM orchestrator.workflow_instances WHERE template_id = ANY(:templates) AND status = 'queued'
"""
_UNFINISHED_OF_ACTOR = """
    SELECT count(*) FROM orchestrator.workflow_instances
     WHERE template_id = ANY(%(templates)s) AND actor = %(actor)s AND status IN ('queued', 'running')
    """
_ENQUEUE = f"""
    INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status, inputs,
        appealed_instance_id, created_at, actor, idempotency_key, request_hash, steps_total, retry_of, steps_completed)
    VALUES (%(instance_id)s, %(template_id)s, %(template_version)s, 'queued', CAST(%(inputs)s AS json),
        %(appealed_instance_id)s, clock_timestamp(), %(actor)s, %(idempotency_key)s, %(request_hash)s,
        %(steps_total)s, %(retry_of)s, %(steps_completed)s)
    RETURNING {INSTANCE_COLUMNS}
    """
# created_at is taken under the lock (clock_timestamp, not the transaction's start), so the queue's
# order is the order in which analyses were admitted; instance_id breaks a tie. A run cancelled while this
# statement waited for its row lock (runs/cancellation.py takes no admission lock) is checked again and skipped.
# SKIP LOCKED: an analysis whose row a cancellation holds is passed over, not waited for (the promoter holds the
# admission lock, and every submission waits for it).
_PROMOTE = f"""
    UPDATE orchestrator.workflow_instances
       SET status = 'running', owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
     WHERE status = 'queued' AND instance_id IN (
        SELECT instance_id FROM orchestrator.workflow_instances
         WHERE status = 'queued'
         ORDER BY created_at, instance_id
         LIMIT greatest(0, %(max_running)s - (
            SELECT count(*) FROM orchestrator.workflow_instances
             WHERE status = 'running' AND template_id = ANY(%(templates)s)))
           FOR UPDATE SKIP LOCKED)
    RETURNING {INSTANCE_COLUMNS}
    """


@dataclass(frozen=True)
class QueueLimits:
    max_running: int  # running analyses, system-wide
    max_per_subject: int  # queued or running analyses of one subject
    retry_after_seconds: float  # what a subject refused for being at its allowance is told to wait


@dataclass(frozen=True)
class Admission:
    """What submitting an analysis did: its run (found by its idempotency key, or new) and the runs now promoted."""

    instance: InstanceRecord
    created: bool
    promoted: list[InstanceRecord]


class ImpactQueue:
    def __init__(self, engine: Engine, *, templates: Collection[str], limits: QueueLimits) -> None:
        self._engine = engine
        # The templates whose runs are analyses under the queue's limits.
        self._templates = sorted(templates)
        self._limits = limits

    def track(self, templates: Collection[str]) -> None:
        """The analyses' templates, now that more are loaded (ImpactAdmission.track)."""
        self._templates = sorted(templates)

    def submit(self, run: NewRun, *, owner: str, lease_seconds: float) -> Admission:
        """Queues the analysis and promotes what the free slots allow, the new one included if its turn has come.

        With an idempotency key already used by this subject, answers that run and creates nothing.
        SubjectQuotaError, creating nothing, if the subject is at its allowance.
        """
        with self._locked() as statements:
            if run.idempotency_key is not None:
                existing = statements.row(_BY_KEY, {"actor": run.actor, "key": run.idempotency_key})
                if existing is not None:
                    return Admission(InstanceRecord.from_row(existing), created=False, promoted=[])
            unfinished = statements.scalars(_UNFINISHED_OF_ACTOR, {"templates": self._templates, "actor": run.actor})
            if unfinished[0] >= self._limits.max_per_subject:
                raise SubjectQuotaError(
                    f"'{run.actor}' already has {unfinished[0]} impact analyses queued or running, the most one"
                    f" subject may have ({self._limits.max_per_subject}); send it again once one has ended",
                    retry_after_seconds=self._limits.retry_after_seconds,
                )
            with one_retry_per_run(run):
                queued = InstanceRecord.from_row(statements.row(_ENQUEUE, run.insert_parameters()))
            if run.reused:
                statements.execute_with(JOURNAL_RETRY, run.reused_journal())
            promoted = self._promote(statements, owner=owner, lease_seconds=lease_seconds)
        mine = next((instance for instance in promoted if instance.instance_id == run.instance_id), queued)
        return Admission(mine, created=True, promoted=promoted)

    def queued(self) -> int:
        """How many analyses wait for a slot now: for the metrics."""
        with database_errors(), self._engine.connect() as connection:
            return int(connection.execute(sa.text(_QUEUED), {"templates": self._templates}).scalar_one())

    def promote(self, *, owner: str, lease_seconds: float) -> list[InstanceRecord]:
        """Starts the oldest queued analyses for which slots are free, owned by `owner`."""
        with self._locked() as statements:
            return self._promote(statements, owner=owner, lease_seconds=lease_seconds)

    def _promote(self, statements: Statements, *, owner: str, lease_seconds: float) -> list[InstanceRecord]:
        params = {
            "owner": owner,
            "lease_seconds": lease_seconds,
            "max_running": self._limits.max_running,
            "templates": self._templates,
        }
        rows = statements.rows(_PROMOTE, params)
        return sorted((InstanceRecord.from_row(row) for row in rows), key=lambda i: (i.created_at, i.instance_id))

    @contextmanager
    def _locked(self) -> Iterator[Statements]:
        """One transaction holding the admission lock; it commits on leaving, or rolls back on an error."""
        with database_errors():
            connection: Any = self._engine.raw_connection()
            try:
                with connection.cursor(cursor_factory=NamedTupleCursor) as cursor:
                    # The engine's connections autocommit (statements.py): this transaction is opened by hand.
                    cursor.execute("BEGIN")
                    try:
                        cursor.execute(_LOCK, {"lock": ADMISSION_LOCK})
                        yield Statements(tracing.traced_cursor(cursor, "orchestrator"))
                    except BaseException:
                        cursor.execute("ROLLBACK")
                        raise
                    cursor.execute("COMMIT")
            finally:
                connection.close()
