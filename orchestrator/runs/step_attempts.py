"""One attempt of one step, in the three forms it takes: journal row, audit record, and back from an audit entry."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2
from orchestrator.templates.step_policy import ErrorKind

# Marks the output of a failed attempt's audit entry, which carries its classification.
ERROR_KIND_OUTPUT = "error_kind"
# Names, in the output of a retry's audit entry of a step it took over, the run whose success it reuses.
REUSED_FROM_OUTPUT = "reused_from"


@dataclass(frozen=True)
class StepAttempt:
    """What an attempt consumed and produced, or why it failed; the same in the journal and in the audit."""

    step_index: int
    step_name: str
    attempt: int
    started_at: datetime
    completed_at: datetime
    input: Any
    output: Any
    error_kind: ErrorKind | None = None
    error: str = ""
    # A retry's success taken over from the run it retries (runs/retries.py): that run's id.
    reused_from: uuid.UUID | None = None

    @property
    def succeeded(self) -> bool:
        return self.error_kind is None

    @property
    def key(self) -> tuple[int, int]:
        return self.step_index, self.attempt

    def journal_row(self) -> dict[str, Any]:
        """The attempt as a JSON object for json_to_recordset (see step_journal.py)."""
        return {
            "step_index": self.step_index,
            "attempt": self.attempt,
            "step_name": self.step_name,
            "succeeded": self.succeeded,
            "error_kind": self.error_kind.value if self.error_kind else None,
            "error": self.error,
            "input": self.input,
            "output": self.output,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat(),
            "reused_from": str(self.reused_from) if self.reused_from is not None else None,
        }

    @classmethod
    def from_journal(cls, row: Any) -> StepAttempt:
        return cls(
            step_index=row.step_index,
            step_name=row.step_name,
            attempt=row.attempt,
            started_at=row.started_at,
            completed_at=row.completed_at,
            input=row.input,
            output=row.output,
            error_kind=ErrorKind(row.error_kind) if row.error_kind else None,
            error=row.error,
            reused_from=row.reused_from,
        )

    def audit_record(self, instance_id: uuid.UUID, *, actor: str) -> audit_pb2.AuditRecord:
        """Deterministic: the journal row of an attempt always yields the same record (and idempotency key).

        A reused success's output also names the run it came from (REUSED_FROM_OUTPUT).
        """
        output = self.output
        if self.reused_from is not None and isinstance(output, dict):
            output = {**output, REUSED_FROM_OUTPUT: str(self.reused_from)}
        return audit_pb2.AuditRecord(
            instance_id=str(instance_id),
            step_name=self.step_name,
            step_index=self.step_index,
            attempt=self.attempt,
            status=audit_pb2.STEP_STATUS_SUCCESS if self.succeeded else audit_pb2.STEP_STATUS_FAILED,
            started_at=to_timestamp(self.started_at),
            completed_at=to_timestamp(self.completed_at),
            input_json=canonical_json(self.input),
            output_json=canonical_json(output),
            error=self.error,
            actor=actor,
            idempotency_key=idempotency_key(instance_id, self.step_index, self.attempt),
        )

    @classmethod
    def from_audit(cls, record: audit_pb2.AuditRecord) -> StepAttempt:
        """An attempt the audit trail holds; a success's output is exactly the step's result."""
        output = json.loads(record.output_json) if record.output_json else {}
        succeeded = record.status == audit_pb2.STEP_STATUS_SUCCESS
        reused_from = None
        if succeeded and isinstance(output, dict) and REUSED_FROM_OUTPUT in output:
            output = dict(output)
            reused_from = _uuid_or_none(output.pop(REUSED_FROM_OUTPUT))
        kind = None
        if not succeeded:
            declared = output.get(ERROR_KIND_OUTPUT) if isinstance(output, dict) else None
            kind = ErrorKind(declared) if declared in set(ErrorKind) else ErrorKind.FAILED
        return cls(
            step_index=record.step_index,
            step_name=record.step_name,
            attempt=record.attempt,
            started_at=record.started_at.ToDatetime(tzinfo=UTC),
            completed_at=record.completed_at.ToDatetime(tzinfo=UTC),
            input=json.loads(record.input_json) if record.input_json else {},
            output=output,
            error_kind=kind,
            error=record.error,
            reused_from=reused_from,
        )


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def idempotency_key(instance_id: uuid.UUID, step_index: int, attempt: int) -> str:
    """The audit service stores one entry per key: an attempt appended twice is recorded once."""
    return f"{instance_id}/{step_index}/{attempt}"
