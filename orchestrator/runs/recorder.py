"""Records one run's step attempts in the journal and the audit trail, pipelined with the run itself.

A step's completion is written twice: to the journal (PostgreSQL, with the run's progress, so
that the run can resume) and to the audit trail. Neither write holds up the next step: each
goes through a lane that waits `linger` seconds for more to come, then sends whatever has queued
up, one batch at a time, in order. A run shorter than the linger (an eligibility check) thus
costs one audit call and no journal transaction of its own: its attempts are journalled by the
statement that finishes it. A long run's steps are recorded within `linger` of completing.

This is crash-safe because the two records are reconciled when a run is resumed
(recovery.py): an attempt journalled but not audited is appended again (its idempotency key
makes that a no-op if it did arrive), and a success audited but not journalled is adopted
instead of being run again. What must hold is only that a run is never *finished* before every
attempt is audited: finish() waits for the audit lane, then journals the remaining attempts
in the same statement that completes the run.

A run may start before its instance row has committed (`persisted`, see Replica.submit):
nothing is journalled or audited until it has, so no record can precede its instance.

Writes wait out an outage of the database (outages.py) as the audit client waits out one of the
audit service: journalling an attempt again is a no-op (the journal ignores an attempt it holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.outages import DEFAULT_OUTAGES, OutagePolicy, outlasting
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal

log = logging.getLogger(__name__)
Item = TypeVar("Item")


class _Lane(Generic[Item]):
    """Sends queued items in batches, one batch at a time, in queue order; remembers the first failure."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[None]], *, linger: float) -> None:
        self._send = send
        self._linger = linger
        self._pending: list[Item] = []
        self._requested = False
        self._closing = False
        # Set when someone waits for the lane: lingering would only delay them.
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: Exception | None = None

    def push(self, item: Item | None = None) -> None:
        """Queues an item (or, with none, asks for a send anyway) and makes sure a sender is running."""
        if item is not None:
            self._pending.append(item)
        self._requested = True
        if not self._closing and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run())

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def drain(self) -> None:
        """Waits until everything queued has been sent; raises the lane's failure, if any."""
        self._hurry.set()
        while self.busy:
            assert self._task is not None
            await asyncio.shield(self._task)
        if self.error is not None:
            raise self.error

    async def stop(self) -> list[Item]:
        """Lets the batch in flight finish, sends nothing more, and hands back what was still queued."""
        self._closing = True
        self._hurry.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)
        pending, self._pending = self._pending, []
        return pending

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while self._requested and not self._closing and self.error is None:
            if self._linger > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._linger)
                if self._closing:
                    return
            self._requested = False
            batch, self._pending = self._pending, []
            try:
                await self._send(batch)
            except Exception as error:  # kept for the run to raise at its next step
                self.error = error
                self._pending = batch + self._pending


class RunRecorder:
    def __init__(
        self,
        *,
        instance_id: uuid.UUID,
        owner: str,
        actor: str,
        progress: RunProgress,
        store: InstanceStore,
        journal: StepJournal,
        audit: AuditClient,
        lease_seconds: float,
        progress_flush_seconds: float,
        linger: float,
        persisted: asyncio.Future[Any] | None = None,
        outages: OutagePolicy = DEFAULT_OUTAGES,
    ) -> None:
        self._outages = outages
        self._instance_id = instance_id
        self._owner = owner
        self._actor = actor
        self._store = store
        self._journal = journal
        self._audit = audit
        self._lease_seconds = lease_seconds
        self._progress_flush_seconds = progress_flush_seconds
        self.progress = progress
        self._persisted = persisted
        # The attempt that ends the run is journalled by the statement that ends it.
        self._last: StepAttempt | None = None
        self._journalled_at = time.monotonic()
        self._journal_lane: _Lane[StepAttempt] = _Lane(self._write_journal, linger=linger)
        self._audit_lane: _Lane[StepAttempt] = _Lane(self._append_audit, linger=linger)

    def record(self, attempt: StepAttempt, progress: RunProgress) -> None:
        """Queues an attempt that does not end the run; raises the failure of an earlier write, if any."""
        self.raise_failure()
        self.progress = progress
        self._journal_lane.push(attempt)
        self._audit_lane.push(attempt)

    def note_items(self, progress: RunProgress) -> None:
        """Item progress inside a step: journalled at most every progress_flush_seconds."""
        self.progress = progress
        due = time.monotonic() - self._journalled_at >= self._progress_flush_seconds
        if due and not self._journal_lane.busy:
            self._journal_lane.push()

    async def persisted(self) -> None:
        """Returns once the run's instance row has committed; raises what its INSERT raised."""
        if self._persisted is not None:
            await asyncio.shield(self._persisted)

    def raise_failure(self) -> None:
        for lane in (self._audit_lane, self._journal_lane):
            if lane.error is not None:
                raise lane.error

    async def finish(
        self, *, last: StepAttempt | None, outputs: dict[str, Any] | None, error: str | None, audited: bool = True
    ) -> InstanceRecord:
        """Audits every attempt (unless the audit is what failed), then ends the run with its last attempts."""
        await self.persisted()
        if last is not None:
            self._last = last
        if audited:
            if last is not None:
                self._audit_lane.push(last)
            await self._audit_lane.drain()
        attempts = await self._journal_lane.stop()
        if self._last is not None:
            attempts.append(self._last)
        self._audit_lane.cancel()
        return await self._end(outputs=outputs, error=error, attempts=attempts)

    async def fail(self, failure: StepAttempt, *, error: str) -> InstanceRecord:
        """Ends the run `failed` after an unexpected error: the records still queued are dropped (they may be
        what failed), `failure` is audited if the audit service takes it, and journalled with the end."""
        await self._journal_lane.stop()
        await self._audit_lane.stop()
        self._audit_lane.cancel()
        try:
            await self._audit.append([failure.audit_record(self._instance_id, actor=self._actor)])
        except Exception:  # the run must end all the same; its error names the id the log holds
            log.exception("the failure of a run was not audited", extra={"instance_id": str(self._instance_id)})
        return await self._end(outputs=None, error=error, attempts=[failure])

    async def _end(
        self, *, outputs: dict[str, Any] | None, error: str | None, attempts: list[StepAttempt]
    ) -> InstanceRecord:
        return await outlasting(
            lambda: asyncio.to_thread(
                self._store.finish,
                self._instance_id,
                owner=self._owner,
                outputs=outputs,
                error=error,
                attempts=attempts,
                progress=self.progress,
            ),
            policy=self._outages,
        )

    async def park(self, review_task_id: uuid.UUID, *, outputs: dict[str, Any]) -> InstanceRecord | None:
        """Records everything queued, then leaves the run waiting for its review task (None: decided meanwhile)."""
        await self.flush()
        return await outlasting(
            lambda: asyncio.to_thread(
                self._store.park,
                self._instance_id,
                owner=self._owner,
                review_task_id=review_task_id,
                outputs=outputs,
                progress=self.progress,
            ),
            policy=self._outages,
        )

    async def flush(self) -> None:
        """Writes everything queued, for a run this replica hands over to another."""
        await self.persisted()
        await self._audit_lane.drain()
        await self._journal_lane.drain()

    def close(self) -> None:
        self._journal_lane.cancel()
        self._audit_lane.cancel()

    async def _write_journal(self, attempts: list[StepAttempt]) -> None:
        await self.persisted()
        self._journalled_at = time.monotonic()
        await outlasting(
            lambda: asyncio.to_thread(
                self._journal.record,
                self._instance_id,
                owner=self._owner,
                attempts=attempts,
                progress=self.progress,
                lease_seconds=self._lease_seconds,
            ),
            policy=self._outages,
        )

    async def _append_audit(self, attempts: list[StepAttempt]) -> None:
        await self.persisted()
        await self._audit.append([attempt.audit_record(self._instance_id, actor=self._actor) for attempt in attempts])
