"""Evaluates a whole mock population through concurrent EvaluateStream calls, in bounded memory.

Citizens are generated lazily in batches; each of `streams` bidirectional streams
keeps at most `window` batches in flight. Decisions are tallied as they arrive and
handed, in population order, to a COPY writer and to the results digest. A batch
holds a permit from the moment it is generated until it is written, and there are
streams x window permits: however unevenly the streams answer, no more batches than
that exist at once, in flight or waiting for an earlier one to be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from orchestrator.citizens import mock_citizen, population_citizen_id
from orchestrator.decisions import DECISION_ORDER
from orchestrator.errors import StepFailedError
from orchestrator.results_store import ResultWriter
from orchestrator.schemes import SchemeRules

# Decisions are 1..3; a (baseline, proposed) pair indexes a 4x4 matrix, row 0 unused.
_MATRIX_SIDE = 4


@dataclass(frozen=True)
class Batch:
    index: int
    first_position: int
    ages: list[int]
    incomes: list[float]


@dataclass
class Tally:
    """Transition counts: matrix[baseline][proposed]."""

    matrix: np.ndarray = field(default_factory=lambda: np.zeros((_MATRIX_SIDE, _MATRIX_SIDE), dtype=np.int64))

    def add(self, baseline: np.ndarray, proposed: np.ndarray) -> None:
        pairs = baseline.astype(np.int64) * _MATRIX_SIDE + proposed
        self.matrix += np.bincount(pairs, minlength=_MATRIX_SIDE**2).reshape(_MATRIX_SIDE, _MATRIX_SIDE)

    def counts(self, *, proposed: bool) -> dict[int, int]:
        totals = self.matrix.sum(axis=0 if proposed else 1)
        return {decision: int(totals[decision]) for decision in DECISION_ORDER}

    def transitions(self) -> list[tuple[int, int, int]]:
        return [(a, b, int(self.matrix[a][b])) for a in DECISION_ORDER for b in DECISION_ORDER]


@dataclass(frozen=True)
class PopulationOutcome:
    tally: Tally
    results_digest: str
    batches: int


def generate_batches(size: int, batch_size: int) -> Iterator[Batch]:
    for index, start in enumerate(range(1, size + 1, batch_size)):
        citizens = [mock_citizen(population_citizen_id(p)) for p in range(start, min(start + batch_size, size + 1))]
        yield Batch(
            index=index,
            first_position=start,
            ages=[c.age for c in citizens],
            incomes=[c.income for c in citizens],
        )


class _OrderedSink:
    """Receives batches in any order; tallies them at once and writes/digests them in population order."""

    def __init__(self, instance_id: uuid.UUID, writer: ResultWriter, *, flush_bytes: int, capacity: int) -> None:
        self.tally = Tally()
        self._unwritten = asyncio.Semaphore(capacity)
        self._row_prefix = f"{instance_id}\t"
        self._writer = writer
        self._flush_bytes = flush_bytes
        self._digest = hashlib.sha256()
        self._pending: dict[int, str] = {}
        self._next_index = 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._lock = asyncio.Lock()

    async def accept(self, batch: Batch, baseline: np.ndarray, proposed: np.ndarray) -> None:
        self.tally.add(baseline, proposed)
        rows = "".join(
            f"{position}\t{population_citizen_id(position)}\t{new}\t{old}\n"
            for position, new, old in zip(
                range(batch.first_position, batch.first_position + len(batch.ages)),
                proposed.tolist(),
                baseline.tolist(),
                strict=True,
            )
        )
        self._pending[batch.index] = rows
        async with self._lock:  # one COPY at a time on the writer's single connection
            while self._next_index in self._pending:
                rows = self._pending.pop(self._next_index)
                # The digest leaves the instance id out, so equal analyses have equal digests.
                self._digest.update(rows.encode())
                chunk = (self._row_prefix + rows[:-1].replace("\n", "\n" + self._row_prefix) + "\n").encode()
                self._buffer.append(chunk)
                self._buffered += len(chunk)
                self._next_index += 1
                self._unwritten.release()
            if self._buffered >= self._flush_bytes:
                await self._flush()

    async def reserve(self) -> None:
        """Waits until one more batch may be generated without exceeding the sink's capacity."""
        await self._unwritten.acquire()

    def unreserve(self) -> None:
        self._unwritten.release()

    async def finish(self, expected_batches: int) -> str:
        if self._pending or self._next_index != expected_batches:
            raise StepFailedError(
                f"population evaluation incomplete: {self._next_index} of {expected_batches} batches received"
            )
        async with self._lock:
            await self._flush()
        return self._digest.hexdigest()

    async def _flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer, self._buffered = [], 0
            await asyncio.to_thread(self._writer.write, data)


async def evaluate_population(
    *,
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
    instance_id: uuid.UUID,
    size: int,
    rule_sets: Sequence[SchemeRules],
    writer: ResultWriter,
    batch_size: int,
    streams: int,
    window: int,
    flush_bytes: int,
    call_timeout: float,
) -> PopulationOutcome:
    """Decides every citizen under rule_sets[0] (baseline) and rule_sets[1] (proposed)."""
    rules = [
        evaluator_pb2.EligibilityRules(
            scheme_name=r.scheme_name, min_age=r.min_age, max_age=r.max_age, max_income=r.max_income
        )
        for r in rule_sets
    ]
    batches = generate_batches(size, batch_size)
    sink = _OrderedSink(instance_id, writer, flush_bytes=flush_bytes, capacity=streams * window)
    expected = -(-size // batch_size)
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(streams, expected)):
                group.create_task(_run_stream(stub, batches, rules, sink, window=window, timeout=call_timeout))
    except* grpc.aio.AioRpcError as errors:
        first = errors.exceptions[0]
        assert isinstance(first, grpc.aio.AioRpcError)
        raise StepFailedError(f"evaluator stream failed: {first.code().name}: {first.details()}") from None
    except* StepFailedError as errors:
        raise errors.exceptions[0] from None
    digest = await sink.finish(expected)
    return PopulationOutcome(tally=sink.tally, results_digest=digest, batches=expected)


async def _run_stream(
    stub: evaluator_pb2_grpc.EvaluatorServiceStub,
    batches: Iterator[Batch],
    rules: list[evaluator_pb2.EligibilityRules],
    sink: _OrderedSink,
    *,
    window: int,
    timeout: float,
) -> None:
    """One bidirectional stream: sends batches from the shared iterator while reading decisions back."""
    call = stub.EvaluateStream(timeout=timeout)
    in_flight: dict[int, Batch] = {}
    slots = asyncio.Semaphore(window)

    async def send() -> None:
        while True:
            await slots.acquire()
            await sink.reserve()
            # Streams share one iterator; next() runs without awaiting, so each batch goes to exactly one stream.
            batch = next(batches, None)
            if batch is None:
                sink.unreserve()
                break
            in_flight[batch.index] = batch
            await call.write(
                evaluator_pb2.EvaluateStreamRequest(
                    batch_id=batch.index, rule_sets=rules, ages=batch.ages, incomes=batch.incomes
                )
            )
        await call.done_writing()

    sender = asyncio.create_task(send())
    try:
        async for response in call:
            batch = in_flight.pop(response.batch_id, None)
            if batch is None or len(response.columns) != len(rules):
                raise StepFailedError(f"evaluator answered batch {response.batch_id} unexpectedly")
            baseline, proposed = (np.fromiter(c.decisions, dtype=np.int8) for c in response.columns)
            if len(baseline) != len(batch.ages):
                raise StepFailedError(f"evaluator answered {len(baseline)} decisions for a batch of {len(batch.ages)}")
            await sink.accept(batch, baseline, proposed)
            slots.release()
        await sender
    finally:
        if not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await sender
    if in_flight:
        raise StepFailedError(f"evaluator stream ended with {len(in_flight)} batches unanswered")
