"""Review tasks in PostgreSQL (orchestrator.review_tasks). Blocking: call through asyncio.to_thread.

Reads run on pooled connections. Changes run in a transaction the caller holds (transaction()),
so that each commits only once its audit entry is stored (service.py). A task or a run locked by
another change is never waited for in a worker thread (the change holding it may need a thread
to finish): the lock is tried, and ReviewBusyError tells the caller to try again shortly.
The table's trigger allows a task only its transitions, one revision at a time (migration 0009).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.reviews.model import TASK_COLUMNS, ReviewTask
from orchestrator.storage.instance_records import INSTANCE_COLUMNS, InstanceRecord
from orchestrator.storage.statements import RUN_ROW_LOCK_TIMEOUT, database_errors, transaction

TABLE = "orchestrator.review_tasks"
_LOCK_NOT_AVAILABLE = "55P03"

# Only for a run still running, read under a key-share lock: a cancellation (runs/cancellation.py), which locks
# the run's row for update, either commits first and no task is created, or waits for this one and cancels it.
_CREATE = f"""
    INSERT INTO {TABLE} (review_task_id, instance_id, step_index, step_name, citizen_id, scheme_name, scheme_version,
                         recommendation, reasons, candidate_role, submitted_by, status, created_at, due_at)
    SELECT :review_task_id, :instance_id, :step_index, :step_name, :citizen_id, :scheme_name, :scheme_version,
           :recommendation, CAST(:reasons AS json), :candidate_role, :submitted_by, 'open', now(),
           now() + make_interval(secs => :sla_seconds)
     WHERE EXISTS (SELECT 1 FROM orchestrator.workflow_instances
                    WHERE instance_id = :instance_id AND status = 'running' FOR KEY SHARE)
    ON CONFLICT (instance_id, step_index) DO NOTHING
    RETURNING {TASK_COLUMNS}"""
_BY_STEP = f"SELECT {TASK_COLUMNS} FROM {TABLE} WHERE instance_id = :instance_id AND step_index = :step_index"
_BY_ID = f"SELECT {TASK_COLUMNS} FROM {TABLE} WHERE review_task_id = :review_task_id"
_LOCKED = f"{_BY_ID} FOR UPDATE NOWAIT"
_RUN_ENDED = (
    "SELECT status IN ('completed', 'failed', 'cancelled') FROM orchestrator.workflow_instances WHERE instance_id = :id"
)
# The run's row is waited for (RUN_ROW_LOCK_TIMEOUT), not tried: parking (InstanceStore.park) and a cancellation
# hold it along with a task's change.
# A transition: the new state, one revision on.
_UPDATE = f"""
    UPDATE {TABLE} SET status = :status, assignee = :assignee,
           claim_expires_at = CASE WHEN :status = 'claimed' THEN now() + make_interval(secs => :claim_seconds) END,
           decision = :decision, justification = :justification,
           decided_at = CASE WHEN :status = 'decided' THEN now() END, revision = revision + 1
     WHERE review_task_id = :review_task_id
    RETURNING {TASK_COLUMNS}"""
# The run waiting for a decided task goes on, owned by the replica that recorded the decision.
_RESUME = f"""
    UPDATE orchestrator.workflow_instances
       SET status = 'running', waiting_for_review = NULL, outputs = NULL, owner = :owner,
           lease_expires_at = now() + make_interval(secs => :lease_seconds), resume_attempts = 0
     WHERE instance_id = :instance_id AND status = 'waiting' AND waiting_for_review = :review_task_id
    RETURNING {INSTANCE_COLUMNS}"""
# The undecided tasks of a run being cancelled (runs/cancellation.py), tried like any task, then cancelled: for good.
_LOCK_UNDECIDED_OF_RUN = f"""
    SELECT review_task_id FROM {TABLE} WHERE instance_id = :instance_id AND status IN ('open', 'claimed')
       FOR UPDATE NOWAIT"""
_CANCEL_UNDECIDED_OF_RUN = f"""
    UPDATE {TABLE} SET status = 'cancelled', claim_expires_at = NULL, revision = revision + 1
     WHERE instance_id = :instance_id AND status IN ('open', 'claimed')
    RETURNING {TASK_COLUMNS}"""
# Claims unused for their lease, and tasks past due never escalated: a batch each, skipping rows another
# replica's sweep (or a person's change) holds.
_LAPSE_CLAIMS = f"""
    UPDATE {TABLE} SET status = 'open', assignee = NULL, claim_expires_at = NULL, revision = revision + 1
     WHERE review_task_id IN (SELECT review_task_id FROM {TABLE}
                               WHERE status = 'claimed' AND claim_expires_at < now()
                               ORDER BY claim_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING {TASK_COLUMNS}"""
_UNDECIDED_BY_SCHEME = f"""
    SELECT scheme_name, count(*) AS undecided, count(*) FILTER (WHERE due_at < now()) AS overdue
      FROM {TABLE} WHERE status IN ('open', 'claimed') GROUP BY scheme_name"""
_ESCALATE = f"""
    UPDATE {TABLE} SET escalated_at = now(), revision = revision + 1
     WHERE review_task_id IN (SELECT review_task_id FROM {TABLE}
                               WHERE escalated_at IS NULL AND status IN ('open', 'claimed') AND due_at < now()
                               ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING {TASK_COLUMNS}"""


# Fixed for good: a task's id is derived from its run and step, so that creating it again (after a
# transaction rolled back, say) gives it the same id.
_TASK_NAMESPACE = uuid.UUID("0b7c1f4e-5a9d-5e2b-8c3f-2d6e4a1b9c70")


def review_task_id(instance_id: uuid.UUID, step_index: int) -> uuid.UUID:
    return uuid.uuid5(_TASK_NAMESPACE, f"{instance_id}/{step_index}")


class ReviewBusyError(Exception):
    """Another change holds the task (or its run): try again shortly."""


@contextmanager
def _tried_locks() -> Iterator[None]:
    try:
        yield
    except sa.exc.OperationalError as error:
        if getattr(error.orig, "pgcode", None) == _LOCK_NOT_AVAILABLE:
            raise ReviewBusyError("another change of the review task is under way") from None
        raise


class ReviewTaskStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A transaction whose changes commit when the block ends without error."""
        with transaction(self._engine) as connection:
            yield connection

    # Reads.

    def get(self, review_task_id: uuid.UUID) -> ReviewTask | None:
        with database_errors(), self._engine.connect() as connection:
            row = connection.execute(sa.text(_BY_ID), {"review_task_id": review_task_id}).first()
        return ReviewTask.from_row(row) if row is not None else None

    def for_step(self, instance_id: uuid.UUID, step_index: int) -> ReviewTask | None:
        with database_errors(), self._engine.connect() as connection:
            row = connection.execute(sa.text(_BY_STEP), {"instance_id": instance_id, "step_index": step_index}).first()
        return ReviewTask.from_row(row) if row is not None else None

    def run_ended(self, instance_id: uuid.UUID) -> bool:
        with database_errors(), self._engine.connect() as connection:
            return bool(connection.execute(sa.text(_RUN_ENDED), {"id": instance_id}).scalar_one())

    def undecided_by_scheme(self) -> list[tuple[str, int, int]]:
        """(scheme, undecided, of which overdue) for every scheme with undecided tasks: for the metrics."""
        with database_errors(), self._engine.connect() as connection:
            rows = connection.execute(sa.text(_UNDECIDED_BY_SCHEME)).all()
        return [(str(row.scheme_name), int(row.undecided), int(row.overdue)) for row in rows]

    def page(
        self, *, status: str | None, assignee: str | None, scheme_name: str | None, offset: int, limit: int
    ) -> list[ReviewTask]:
        """Tasks by due time, so overdue ones (due before now) come first; an index serves each filter (migration 0009).

        Without a status: the tasks still to be decided, open and claimed."""
        # Without a status, the queue: the tasks still to be decided.
        conditions = ["status = :status" if status is not None else "status IN ('open', 'claimed')"]
        conditions += [
            condition
            for condition, value in (("assignee = :assignee", assignee), ("scheme_name = :scheme_name", scheme_name))
            if value is not None
        ]
        where = f"WHERE {' AND '.join(conditions)}"
        sql = f"SELECT {TASK_COLUMNS} FROM {TABLE} {where} ORDER BY due_at, review_task_id OFFSET :offset LIMIT :limit"
        params = {"status": status, "assignee": assignee, "scheme_name": scheme_name, "offset": offset, "limit": limit}
        with database_errors(), self._engine.connect() as connection:
            return [ReviewTask.from_row(row) for row in connection.execute(sa.text(sql), params)]

    # Writes, in the caller's transaction.

    @staticmethod
    def create(
        connection: sa.Connection,
        *,
        instance_id: uuid.UUID,
        step_index: int,
        step_name: str,
        recommendation: Mapping[str, Any],
        candidate_role: str,
        submitted_by: str,
        sla_seconds: float,
    ) -> ReviewTask | None:
        """The step's task, new and open; None if the step has one already (then read it with for_step), or if the
        run is no longer running."""
        row = connection.execute(
            sa.text(_CREATE),
            {
                "review_task_id": review_task_id(instance_id, step_index),
                "instance_id": instance_id,
                "step_index": step_index,
                "step_name": step_name,
                "citizen_id": str(recommendation.get("citizen_id", "")),
                "scheme_name": str(recommendation.get("scheme_name", "")),
                "scheme_version": int(recommendation.get("scheme_version") or 0),
                "recommendation": str(recommendation.get("decision", "")),
                "reasons": json.dumps(recommendation.get("reasons", [])),
                "candidate_role": candidate_role,
                "submitted_by": submitted_by,
                "sla_seconds": sla_seconds,
            },
        ).first()
        return ReviewTask.from_row(row) if row is not None else None

    @staticmethod
    def locked(connection: sa.Connection, review_task_id: uuid.UUID) -> ReviewTask | None:
        """The task, locked until the transaction ends; ReviewBusyError if another change holds it."""
        with _tried_locks():
            row = connection.execute(sa.text(_LOCKED), {"review_task_id": review_task_id}).first()
        return ReviewTask.from_row(row) if row is not None else None

    @staticmethod
    def update(
        connection: sa.Connection,
        task: ReviewTask,
        *,
        status: str,
        assignee: str | None,
        claim_seconds: float = 0,
        decision: str | None = None,
        justification: str | None = None,
    ) -> ReviewTask:
        row = connection.execute(
            sa.text(_UPDATE),
            {
                "review_task_id": task.review_task_id,
                "status": status,
                "assignee": assignee,
                "claim_seconds": claim_seconds,
                "decision": decision,
                "justification": justification,
            },
        ).one()
        return ReviewTask.from_row(row)

    @staticmethod
    def resume_run(
        connection: sa.Connection, task: ReviewTask, *, owner: str, lease_seconds: float
    ) -> InstanceRecord | None:
        """The run waiting for `task`, running again and owned by `owner`; None if it is not waiting (yet)."""
        connection.execute(sa.text(RUN_ROW_LOCK_TIMEOUT))
        row = connection.execute(
            sa.text(_RESUME),
            {
                "instance_id": task.instance_id,
                "review_task_id": task.review_task_id,
                "owner": owner,
                "lease_seconds": lease_seconds,
            },
        ).first()
        return InstanceRecord.from_row(row) if row is not None else None

    @staticmethod
    def cancel_undecided(connection: sa.Connection, instance_id: uuid.UUID) -> list[ReviewTask]:
        """Cancels the run's open and claimed tasks; ReviewBusyError if another change holds one of them."""
        with _tried_locks():
            connection.execute(sa.text(_LOCK_UNDECIDED_OF_RUN), {"instance_id": instance_id})
        rows = connection.execute(sa.text(_CANCEL_UNDECIDED_OF_RUN), {"instance_id": instance_id})
        return [ReviewTask.from_row(row) for row in rows]

    @staticmethod
    def lapse_claims(connection: sa.Connection, *, limit: int) -> list[ReviewTask]:
        return [ReviewTask.from_row(row) for row in connection.execute(sa.text(_LAPSE_CLAIMS), {"limit": limit})]

    @staticmethod
    def escalate_overdue(connection: sa.Connection, *, limit: int) -> list[ReviewTask]:
        return [ReviewTask.from_row(row) for row in connection.execute(sa.text(_ESCALATE), {"limit": limit})]
