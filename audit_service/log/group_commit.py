"""Group commit: concurrent AppendEntries calls share one transaction, in the order they arrived.

Appends are serialised by the lock on the log head's row anyway, so one transaction per call
would make every caller wait for every earlier commit in turn. Instead a single writer task per
process drains the queue, commits everything waiting as one transaction (one lock, one head
update, one fsync), then answers each caller with its own entries. The transactions run on a
thread of the writer's own: reads, proofs and verifications use other threads, so however many
of them are waiting, an append never queues behind them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry import trace

from audit_service import metrics
from audit_service.errors import AuditStoreUnavailableError
from audit_service.log.records import AuditRecord, StoredEntry
from audit_service.log.store import AuditStore
from civicflow import tracing

log = logging.getLogger(__name__)

Answer = list[StoredEntry] | BaseException


@dataclass(frozen=True)
class _Waiting:
    records: Sequence[AuditRecord]
    answer: asyncio.Future[list[StoredEntry]]
    # The caller's span: a transaction serves many callers, so its span links to each rather than joining one.
    caller: trace.SpanContext


class GroupCommitWriter:
    """Appends on behalf of many concurrent callers; `start()` it on the loop that serves them."""

    def __init__(self, store: AuditStore, *, max_batch_records: int = 2000) -> None:
        self._store = store
        self._max_batch_records = max_batch_records
        self._queue: deque[_Waiting] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # One thread: the writer task commits one group at a time.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-append")
        provider = tracing.tracer_provider("audit_service")
        self._tracer = provider.get_tracer(__name__) if provider is not None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever(), name="audit-group-commit")
        self._task.add_done_callback(_log_unexpected_end)

    async def append(self, records: Sequence[AuditRecord]) -> list[StoredEntry]:
        """The stored entries of `records`, consecutive and in order, once their transaction committed."""
        if self._task is None or self._task.done() or self._stopping:
            raise AuditStoreUnavailableError("the audit writer is not running")
        waiting = _Waiting(
            records, asyncio.get_running_loop().create_future(), trace.get_current_span().get_span_context()
        )
        self._queue.append(waiting)
        self._wakeup.set()
        return await waiting.answer

    async def stop(self) -> None:
        """Refuses new appends and returns once everything already queued is committed and answered.

        Called after the gRPC server stopped, so nobody is left waiting on an unwritten entry.
        """
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._thread.shutdown(wait=True)

    async def _write_forever(self) -> None:
        while self._queue or not self._stopping:
            if not self._queue:
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            batch = self._take_batch()
            if not batch:
                continue
            started = time.perf_counter()
            answers = await asyncio.get_running_loop().run_in_executor(self._thread, self._traced_commit, batch)
            metrics.committed(answers, time.perf_counter() - started)
            for waiting, answer in zip(batch, answers, strict=True):
                if waiting.answer.done():  # the caller went away; its entries stand
                    continue
                if isinstance(answer, BaseException):
                    waiting.answer.set_exception(answer)
                else:
                    waiting.answer.set_result(answer)

    def _traced_commit(self, batch: list[_Waiting]) -> list[Answer]:
        """The group's transaction; traced, a span of its own linked to every caller's, its statements inside it."""
        records = [waiting.records for waiting in batch]
        if self._tracer is None:
            return self._commit(records)
        links = [trace.Link(waiting.caller) for waiting in batch if waiting.caller.is_valid]
        with self._tracer.start_as_current_span("audit group commit", links=links) as span:
            span.set_attribute("civicflow.audit.records", sum(len(part) for part in records))
            return self._commit(records)

    def _take_batch(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        records = 0
        while self._queue and (not batch or records + len(self._queue[0].records) <= self._max_batch_records):
            waiting = self._queue.popleft()
            if waiting.answer.cancelled():
                continue  # cancelled before anything was written: nothing to store
            batch.append(waiting)
            records += len(waiting.records)
        return batch

    def _commit(self, batches: list[Sequence[AuditRecord]]) -> list[Answer]:
        try:
            return list(self._store.append_batches(batches))
        except AuditStoreUnavailableError as error:
            return [error] * len(batches)
        except Exception as error:
            if len(batches) == 1:
                return [error]
            # One caller's records broke the shared transaction: retry each alone, so only it fails.
            log.warning("group commit failed; retrying its appends one by one", extra={"error": repr(error)})
            return [answer for records in batches for answer in self._commit([records])]


def _log_unexpected_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the audit writer stopped; appends answer UNAVAILABLE", exc_info=task.exception())
