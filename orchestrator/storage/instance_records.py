"""A workflow instance as the orchestrator holds it: its row, its progress, and what a new run is created with."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.runs.step_attempts import StepAttempt

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
# An impact analysis waiting for a slot (impact/admission.py): not started, not owned by any replica.
QUEUED = "queued"
# Parked at a human_review step until its review task is decided: owned by no replica, held in no memory.
WAITING = "waiting"
# Stopped by a person before it ended (runs/cancellation.py): final, like completed and failed.
CANCELLED = "cancelled"
ENDED = frozenset({COMPLETED, FAILED, CANCELLED})
# What a person may cancel, and what a person may retry.
CANCELLABLE = frozenset({QUEUED, RUNNING, WAITING})
RETRYABLE = frozenset({FAILED, CANCELLED})

# The columns InstanceRecord.from_row reads, in every statement that returns an instance.
INSTANCE_COLUMNS = (
    "instance_id, template_id, template_version, status, inputs, outputs, error, appealed_instance_id,"
    " created_at, completed_at, actor, request_hash, steps_completed, steps_total, items_done, items_total,"
    " waiting_for_review, retry_of"
)


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
    # While waiting: the review task it waits for.
    waiting_for: uuid.UUID | None = None
    # The run this one retries, and the run that retried this one (read with the stored run only).
    retry_of: uuid.UUID | None = None
    retried_by: uuid.UUID | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def settled(self) -> bool:
        """Ended, or waiting for a person: what a caller who waits for the run waits for."""
        return self.ended or self.status == WAITING

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
            waiting_for=row.waiting_for_review,
            retry_of=row.retry_of,
            retried_by=getattr(row, "retried_by", None),
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
    # A retry: the run it retries, and the successes it takes over from it (journalled with its creation).
    retry_of: uuid.UUID | None = None
    reused: tuple[StepAttempt, ...] = ()

    def insert_parameters(self) -> dict[str, object]:
        """The values of the run's INSERT (a run started at once, or one queued), by column."""
        return {
            "instance_id": self.instance_id,
            "template_id": self.template_id,
            "template_version": self.template_version,
            "inputs": json.dumps(self.inputs),
            "appealed_instance_id": self.appealed_instance_id,
            "actor": self.actor,
            "idempotency_key": self.idempotency_key,
            "request_hash": self.request_hash,
            "steps_total": self.steps_total,
            "retry_of": self.retry_of,
            "steps_completed": len(self.reused),
        }

    def reused_journal(self) -> dict[str, object]:
        """The parameters of JOURNAL_RETRY: the successes a retry takes over, for its instance."""
        return {
            "instance_id": self.instance_id,
            "attempts": json.dumps([attempt.journal_row() for attempt in self.reused]),
        }

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
            retry_of=self.retry_of,
        )
