"""Where evaluated batches go: each taken exactly once, in any order; tallied and written in population order.

Batches complete in any order (streams answer unevenly, retried citizens come back
late); the digest and the failures list need population order. The sink keeps completed
batches that arrive early until the ones before them are in, turns them into COPY text,
and a single writer task sends that text to PostgreSQL in chunks while evaluation goes
on. Admission (`has_room`) bounds what is held: at most `capacity` batches between
generation and the write buffer, and at most twice `flush_bytes` in the buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from civicflow.citizen_ids import population_citizen_id
from orchestrator.citizens import CategoryCodes
from orchestrator.impact.outcome import FailureRow, PopulationOutcome, Tally
from orchestrator.impact.result_rows import Decisions, encode_failures, encode_results
from orchestrator.impact.results_store import ResultWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletedBatch:
    """Every citizen of a batch decided or failed for good; a failed citizen's decisions are 0."""

    index: int
    first_position: int
    categories: CategoryCodes
    proposed: Decisions
    baseline: Decisions
    failures: list[tuple[int, str]]  # (offset in the batch, error), ascending offsets


class OrderedSink:
    def __init__(
        self,
        instance_id: uuid.UUID,
        writer: ResultWriter,
        *,
        capacity: int,
        flush_bytes: int,
        failure_limit: int,
        on_room: Callable[[], None],
    ) -> None:
        self.tally = Tally()
        self.failed = 0
        self._instance_id = instance_id
        self._writer = writer
        self._capacity = capacity
        self._flush_bytes = flush_bytes
        self._failure_limit = failure_limit
        self._on_room = on_room
        self._digest = hashlib.sha256()
        self._failures: list[FailureRow] = []
        self._early: dict[int, CompletedBatch] = {}
        self._admitted = 0
        self._next_index = 0
        self._results: list[bytes] = []
        self._failure_rows: list[bytes] = []
        self._buffered = 0
        self._wake_writer = asyncio.Event()
        self._closing = False

    @property
    def written_batches(self) -> int:
        """Batches handed, in order, to the write buffer."""
        return self._next_index

    def has_room(self) -> bool:
        """Whether one more batch may be generated without exceeding the sink's bounds."""
        return self._admitted - self._next_index < self._capacity and self._buffered < 2 * self._flush_bytes

    def admit(self) -> None:
        self._admitted += 1

    def accept(self, batch: CompletedBatch) -> bool:
        """Takes a completed batch; False, changing nothing, if this batch index was already taken."""
        if batch.index < self._next_index or batch.index in self._early:
            log.warning("batch delivered twice; the second is ignored", extra={"batch": batch.index})
            return False
        self._early[batch.index] = batch
        while self._next_index in self._early:
            self._buffer(self._early.pop(self._next_index))
            self._next_index += 1
        if self._buffered >= self._flush_bytes:
            self._wake_writer.set()
        self._on_room()
        return True

    async def run_writer(self) -> None:
        """Sends buffered rows to PostgreSQL until close(); the only task that touches the writer."""
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            while self._results or self._failure_rows:
                results, failures = b"".join(self._results), b"".join(self._failure_rows)
                self._results, self._failure_rows = [], []
                if results:
                    await asyncio.to_thread(self._writer.write_results, results)
                if failures:
                    await asyncio.to_thread(self._writer.write_failures, failures)
                self._buffered -= len(results) + len(failures)
                self._on_room()
            if self._closing:
                return

    def close(self) -> None:
        """Lets the writer send what is left and stop."""
        self._closing = True
        self._wake_writer.set()

    def outcome(self) -> PopulationOutcome:
        return PopulationOutcome(
            tally=self.tally, results_digest=self._digest.hexdigest(), failed=self.failed, failures=self._failures
        )

    def _buffer(self, batch: CompletedBatch) -> None:
        written = np.ones(len(batch.proposed), dtype=np.bool_)
        for offset, error in batch.failures:
            written[offset] = False
            position = batch.first_position + offset
            self.failed += 1
            if len(self._failures) < self._failure_limit:
                self._failures.append(FailureRow(position, population_citizen_id(position), error))
        self.tally.add(batch.categories[written], batch.baseline[written], batch.proposed[written])
        rows = encode_results(self._instance_id, batch.first_position, batch.proposed, batch.baseline, written)
        # The digest leaves the instance id out, so equal analyses have equal digests.
        self._digest.update(rows.text)
        self._results.append(rows.copy)
        self._buffered += len(rows.copy)
        if batch.failures:
            failure_rows = encode_failures(
                self._instance_id, ((batch.first_position + offset, error) for offset, error in batch.failures)
            )
            self._failure_rows.append(failure_rows)
            self._buffered += len(failure_rows)
