"""Cancelling a run: in one transaction, audited before it commits, whichever replica drives the run.

The transaction locks the run's row, checks that the run has not ended, ends it `cancelled` (so the
queue never starts it, and its replica's writes, all guarded by `status = 'running'`, change nothing
more), cancels its undecided review tasks, and deletes the impact results it committed. Its audit
entries (the cancellation, with the caller as actor, and each task's) are stored before the commit:
if the audit service cannot take them, nothing changed and the caller is told UNAVAILABLE.

A replica driving the run finds it cancelled within CANCEL_POLL_SECONDS and stops its task
(CancelledRunStopper, below); a run driven here stops at once. A queued or waiting run holds no replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2
from orchestrator import metrics
from orchestrator.errors import (
    DatabaseUnavailableError,
    DependencyUnavailableError,
    InstanceNotFoundError,
    RunConflictError,
)
from orchestrator.reviews.audit_records import EVENT_SEPARATOR, Transition, transition_record
from orchestrator.reviews.store import ReviewBusyError, ReviewTaskStore
from orchestrator.runs.audit_client import AuditClient
from orchestrator.storage.cancellations import CancellationStore
from orchestrator.storage.instance_records import CANCELLABLE, InstanceRecord
from orchestrator.storage.leases import LeaseStore
from orchestrator.storage.threaded import held_in_threads

log = logging.getLogger(__name__)
# The audit entry of a cancellation: an event of the run, not an attempt of a step (recovery.py skips events).
RUN_EVENT = "run"
CANCELLED_EVENT = f"{RUN_EVENT}{EVENT_SEPARATOR}cancelled"
# A review change holding one of the run's tasks: how often to try again, and for how long beyond the audit deadline.
BUSY_POLL_SECONDS = 0.02
BUSY_MARGIN_SECONDS = 5.0


class RunCanceller:
    def __init__(self, store: CancellationStore, audit: AuditClient, *, audit_timeout: float) -> None:
        self._store = store
        self._audit = audit
        self._audit_timeout = audit_timeout

    async def cancel(self, instance_id: uuid.UUID, *, actor: str) -> InstanceRecord:
        """Ends the run `cancelled`; RunConflictError if it has ended, InstanceNotFoundError if there is none."""
        deadline = asyncio.get_running_loop().time() + self._audit_timeout + BUSY_MARGIN_SECONDS
        while True:
            try:
                return await self._cancel_once(instance_id, actor=actor)
            except ReviewBusyError:
                if asyncio.get_running_loop().time() > deadline:
                    raise DatabaseUnavailableError(
                        f"a change of a review task of run {instance_id} is taking too long; send the request again"
                    ) from None
                await asyncio.sleep(random.uniform(BUSY_POLL_SECONDS / 2, BUSY_POLL_SECONDS))

    async def _cancel_once(self, instance_id: uuid.UUID, *, actor: str) -> InstanceRecord:
        async with held_in_threads(self._store.transaction()) as connection:
            run = await asyncio.to_thread(self._store.locked, connection, instance_id)
            if run is None:
                raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
            if run.status not in CANCELLABLE:
                raise RunConflictError(
                    f"run {instance_id} is {run.status}; only a queued, running or waiting run can be cancelled"
                )
            # Tasks before the run's new status: a decision holding a task would otherwise resume the run after it.
            tasks = await asyncio.to_thread(ReviewTaskStore.cancel_undecided, connection, instance_id)
            cancelled = await asyncio.to_thread(
                self._store.cancel, connection, instance_id, reason=f"cancelled by {actor}"
            )
            deleted = await asyncio.to_thread(self._store.delete_results, connection, instance_id)
            at = datetime.now(UTC)
            records = [
                cancellation_record(run, actor=actor, at=at, results_deleted=deleted, review_tasks=len(tasks)),
                *(transition_record(task, Transition.CANCELLED, actor=actor, at=at) for task in tasks),
            ]
            await self._audit.append_before_commit(records, timeout=self._audit_timeout, what="the cancellation")
        log.info(
            "run cancelled",
            extra={
                "instance_id": str(instance_id),
                "actor": actor,
                "was": run.status,
                "review_tasks_cancelled": len(tasks),
                "results_deleted": deleted,
            },
        )
        metrics.run_cancelled(
            cancelled.template_id, created_at=cancelled.created_at, completed_at=cancelled.completed_at
        )
        return cancelled


def cancellation_record(
    run: InstanceRecord, *, actor: str, at: datetime, results_deleted: int, review_tasks: int
) -> audit_pb2.AuditRecord:
    """The run's audit entry saying who cancelled it, when, and what it was doing; keyed by its time, as a review
    transition is, so that a cancellation rolled back after its entry was stored leaves a key no other takes."""
    return audit_pb2.AuditRecord(
        instance_id=str(run.instance_id),
        step_name=CANCELLED_EVENT,
        step_index=0,
        attempt=1,
        status=audit_pb2.STEP_STATUS_SUCCESS,
        started_at=to_timestamp(at),
        completed_at=to_timestamp(at),
        input_json=canonical_json({"status": run.status, "steps_completed": run.progress.steps_completed}),
        output_json=canonical_json(
            {"status": "cancelled", "review_tasks_cancelled": review_tasks, "results_deleted": results_deleted}
        ),
        actor=actor,
        idempotency_key=f"{run.instance_id}/cancelled/{at.timestamp():.6f}",
    )


class CancelledRunStopper:
    """Stops the runs a replica drives once they are cancelled, wherever the request went: one read by primary key
    every `poll_seconds`, and none while the replica drives nothing."""

    def __init__(
        self, *, leases: LeaseStore, driving: Mapping[uuid.UUID, asyncio.Task[Any]], poll_seconds: float
    ) -> None:
        self._leases = leases
        # The replica's own map of the runs it drives, read as it changes.
        self._driving = driving
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_polling(), name="cancelled run stopper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stop_run(self, instance_id: uuid.UUID) -> None:
        """Cancels the run's task, if it is driven here: it writes nothing more, and no step of it starts again."""
        task = self._driving.get(instance_id)
        if task is not None and not task.done():
            # Its writes would change nothing now (they require it running). Its evaluator streams and result
            # writer are released as the task unwinds; it is neither failed nor handed over.
            log.info("run cancelled; stopping it here", extra={"instance_id": str(instance_id)})
            task.cancel()

    async def _keep_polling(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            if not self._driving:
                continue
            try:
                cancelled = await asyncio.to_thread(self._leases.cancelled, list(self._driving))
            except DependencyUnavailableError as error:
                log.warning("could not look for cancelled runs; trying again", extra={"error": str(error)})
                continue
            except Exception:  # were the poll to end, no run cancelled elsewhere would stop here
                log.exception("looking for cancelled runs failed; trying again at the next poll")
                continue
            for instance_id in cancelled:
                self.stop_run(instance_id)
