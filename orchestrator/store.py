"""Workflow instances and appeals in PostgreSQL. Methods block: call them through asyncio.to_thread.

A run's life in the table: created `running` with its lease already taken (one INSERT), its
steps journalled by step_journal.py, finished with its last steps in one statement that also
gives up the lease. Statements are plain SQL on purpose: each is one round trip (statements.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.errors import InstanceNotFoundError, LeaseLostError
from orchestrator.statements import single_statements
from orchestrator.step_attempts import StepAttempt

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"

INSTANCE_COLUMNS = (
    "instance_id, template_id, template_version, status, inputs, outputs, error, appealed_instance_id,"
    " created_at, completed_at, actor, request_hash, steps_completed, steps_total, items_done, items_total"
)
# Inserts attempts given as a JSON array of StepAttempt.journal_row() objects, for the instance
# the preceding CTE `owned` returned: nothing is journalled for a run this replica no longer owns.
JOURNAL_ATTEMPTS = """
    INSERT INTO orchestrator.workflow_steps (instance_id, step_index, attempt, step_name, succeeded,
                                             error_kind, error, input, output, started_at, completed_at)
    SELECT owned.instance_id, a.step_index, a.attempt, a.step_name, a.succeeded, a.error_kind, a.error,
           a.input, a.output, a.started_at, a.completed_at
      FROM owned, json_to_recordset(CAST(%(attempts)s AS json)) AS a(
           step_index int, attempt int, step_name text, succeeded boolean, error_kind text, error text,
           input json, output json, started_at timestamptz, completed_at timestamptz)
"""

_CREATE = f"""
    INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status, inputs,
        appealed_instance_id, created_at, actor, idempotency_key, request_hash, steps_total, owner, lease_expires_at)
    VALUES (%(instance_id)s, %(template_id)s, %(template_version)s, 'running', CAST(%(inputs)s AS json),
        %(appealed_instance_id)s, now(), %(actor)s, %(idempotency_key)s, %(request_hash)s, %(steps_total)s, %(owner)s,
        now() + make_interval(secs => %(lease_seconds)s))
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING {INSTANCE_COLUMNS}
    """

_BY_ID = f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances WHERE instance_id = %(instance_id)s"
_BY_KEY = f"SELECT {INSTANCE_COLUMNS} FROM orchestrator.workflow_instances WHERE idempotency_key = %(key)s"
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

# The columns of an appeal that AppealRecord holds, named as its fields.
_APPEAL_COLUMNS = "appeal_id, original_instance_id, new_instance_id, evidence, original_decision, new_decision, outcome"
_APPEAL_OF_RUN = f"SELECT {_APPEAL_COLUMNS} FROM orchestrator.appeals WHERE new_instance_id = %(new_instance_id)s"
# One round trip that inserts the appeal unless this run's appeal is already recorded, and
# answers the stored row either way (a repeated request gets the appeal it made the first time).
_RECORD_APPEAL = f"""
    WITH inserted AS (
        INSERT INTO orchestrator.appeals ({_APPEAL_COLUMNS}, created_at)
        VALUES (%(appeal_id)s, %(original_instance_id)s, %(new_instance_id)s, CAST(%(evidence)s AS json),
                %(original_decision)s, %(new_decision)s, %(outcome)s, now())
        ON CONFLICT (new_instance_id) DO NOTHING
        RETURNING {_APPEAL_COLUMNS}
    )
    SELECT * FROM inserted
    UNION ALL
    {_APPEAL_OF_RUN}
    LIMIT 1
    """


@dataclass(frozen=True)
class RunProgress:
    steps_completed: int = 0
    steps_total: int = 0
    items_done: int = 0
    items_total: int = 0


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
    actor: str = ""
    progress: RunProgress = RunProgress()
    # Fingerprint of the request that created the run with an idempotency key; None without a key.
    request_hash: str | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @classmethod
    def from_row(cls, row: Any) -> InstanceRecord:
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
            actor=row.actor,
            progress=RunProgress(row.steps_completed, row.steps_total, row.items_done, row.items_total),
            request_hash=row.request_hash,
        )


@dataclass(frozen=True)
class NewRun:
    """What a new run is created with; `idempotency_key` and `request_hash` come together or not at all."""

    template_id: str
    template_version: str
    inputs: dict[str, Any]
    steps_total: int
    appealed_instance_id: uuid.UUID | None = None
    actor: str = ""
    idempotency_key: str | None = None
    request_hash: str | None = None
    instance_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def unsaved_instance(self) -> InstanceRecord:
        """The instance this run will be once created: what a run started before its INSERT commits works on."""
        return InstanceRecord(
            instance_id=self.instance_id,
            template_id=self.template_id,
            template_version=self.template_version,
            status=RUNNING,
            inputs=self.inputs,
            outputs={},
            error=None,
            appealed_instance_id=self.appealed_instance_id,
            created_at=datetime.now(UTC),  # the stored row's (database time) replaces it once committed
            completed_at=None,
            actor=self.actor,
            progress=RunProgress(steps_total=self.steps_total),
            request_hash=self.request_hash,
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

    def create(self, run: NewRun, *, owner: str, lease_seconds: float) -> tuple[InstanceRecord, bool]:
        """Creates the run owned by `owner`, or finds the one created earlier with the same idempotency key.

        Returns the instance and whether this call created it. Concurrent calls with one key are safe:
        PostgreSQL lets exactly one INSERT through the unique key; the others wait for it and find its row.
        """
        params = {
            "instance_id": run.instance_id,
            "template_id": run.template_id,
            "template_version": run.template_version,
            "inputs": json.dumps(run.inputs),
            "appealed_instance_id": run.appealed_instance_id,
            "actor": run.actor,
            "idempotency_key": run.idempotency_key,
            "request_hash": run.request_hash,
            "steps_total": run.steps_total,
            "owner": owner,
            "lease_seconds": lease_seconds,
        }
        with single_statements(self._engine) as statements:
            created = statements.row(_CREATE, params)
            if created is not None:
                return InstanceRecord.from_row(created), True
            existing = statements.row(_BY_KEY, {"key": run.idempotency_key})
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

    def record_appeal(self, appeal: AppealRecord) -> AppealRecord:
        """Records the appeal decided by `appeal.new_instance_id`, once: answers the stored appeal."""
        params = {
            "appeal_id": appeal.appeal_id,
            "original_instance_id": appeal.original_instance_id,
            "new_instance_id": appeal.new_instance_id,
            "evidence": json.dumps(appeal.evidence),
            "original_decision": appeal.original_decision,
            "new_decision": appeal.new_decision,
            "outcome": appeal.outcome,
        }
        with single_statements(self._engine) as statements:
            row = statements.row(_RECORD_APPEAL, params)
            if row is None:  # a concurrent request inserted it after this statement's snapshot was taken
                row = statements.row(_APPEAL_OF_RUN, {"new_instance_id": appeal.new_instance_id})
        assert row is not None, "the appeal is stored, by this request or a concurrent one"
        return AppealRecord(**row._asdict())
