"""The ordered sink: batches arriving out of order and twice are written once each, in order, digest and all."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from orchestrator.citizens import CategoryCodes, population_attributes
from orchestrator.impact.ordered_sink import CompletedBatch, OrderedSink, PopulationOutcome
from orchestrator.impact.result_rows import encode_failures, encode_results
from orchestrator.impact.results_store import ImpactResultStore
from tests.support.impact_results import exported_results, instance_for_results, migrate, stored_rows

BATCH = 50


@pytest.fixture(scope="module")
def store(owner: sa.Engine) -> ImpactResultStore:
    migrate(owner)
    return ImpactResultStore(owner)


def _batch(index: int, failures: list[tuple[int, str]] | None = None) -> CompletedBatch:
    failures = failures or []
    rng = np.random.default_rng(index)
    proposed = rng.integers(1, 4, BATCH).astype(np.int8)
    baseline = rng.integers(1, 4, BATCH).astype(np.int8)
    for offset, _ in failures:
        proposed[offset] = baseline[offset] = 0
    return CompletedBatch(
        index=index,
        first_position=1 + index * BATCH,
        categories=_categories(index),
        proposed=proposed,
        baseline=baseline,
        failures=list(failures),
    )


def _categories(index: int) -> CategoryCodes:
    columns = population_attributes(1 + index * BATCH, BATCH, {"category"})
    assert columns.category is not None
    return columns.category


def _run(
    store: ImpactResultStore, instance_id: uuid.UUID, deliveries: list[CompletedBatch]
) -> tuple[list[bool], PopulationOutcome]:
    async def scenario() -> tuple[list[bool], PopulationOutcome]:
        writer = await asyncio.to_thread(store.open_writer, instance_id)
        assert await asyncio.to_thread(writer.claim)
        # A tiny flush size, so that rows go out in several COPYs while batches still arrive.
        sink = OrderedSink(instance_id, writer, capacity=16, flush_bytes=1024, failure_limit=2, on_room=lambda: None)
        writing = asyncio.create_task(sink.run_writer())
        accepted = []
        try:
            for batch in deliveries:
                accepted.append(sink.accept(batch))
                await asyncio.sleep(0)
            sink.close()
            await writing
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        await asyncio.to_thread(writer.commit)
        return accepted, sink.outcome()

    return asyncio.run(scenario())


def test_each_batch_is_written_once_in_population_order_however_it_arrives(
    store: ImpactResultStore, owner: sa.Engine
) -> None:
    instance_id = instance_for_results(owner)
    batches = [_batch(0), _batch(1, [(3, "refused"), (40, "also refused")]), _batch(2), _batch(3, [(0, "x")])]
    # Late, early, and twice: as retried and failed-over batches can arrive.
    deliveries = [batches[2], batches[0], batches[0], batches[3], batches[2], batches[1]]

    accepted, outcome = _run(store, instance_id, deliveries)

    assert accepted == [True, True, False, True, False, True]
    assert stored_rows(owner, instance_id) == (4 * BATCH - 3, 1, 4 * BATCH)
    export = exported_results(owner, instance_id)
    assert hashlib.sha256(export).hexdigest() == outcome.results_digest
    failed_positions = {BATCH + 4, BATCH + 41, 3 * BATCH + 1}
    assert [int(line.split(b"\t")[0]) for line in export.splitlines()] == [
        p for p in range(1, 4 * BATCH + 1) if p not in failed_positions
    ]
    assert outcome.failed == 3
    # Listed in population order, and only the first failure_limit of them.
    assert [(f.position, f.citizen_id, f.error) for f in outcome.failures] == [
        (BATCH + 4, f"CIT-{BATCH + 4:07d}", "refused"),
        (BATCH + 41, f"CIT-{BATCH + 41:07d}", "also refused"),
    ]
    expected_total = sum(int((b.proposed > 0).sum()) for b in batches)
    assert int(outcome.tally.matrix.sum()) == expected_total == 4 * BATCH - 3
    assert sum(counts.total for counts in outcome.tally.by_category().values()) == expected_total


def test_stored_outcome_rebuilds_what_the_sink_computed(store: ImpactResultStore, owner: sa.Engine) -> None:
    instance_id = instance_for_results(owner)
    _, outcome = _run(store, instance_id, [_batch(1, [(5, "no")]), _batch(0)])

    stored = store.stored_outcome(instance_id, failure_limit=2)

    assert stored.results_digest == outcome.results_digest
    assert (stored.failed, [(f.position, f.error) for f in stored.failures]) == (1, [(BATCH + 6, "no")])
    assert stored.tally.transitions() == outcome.tally.transitions()
    # By category too, from the registry's categories of the stored positions.
    assert stored.tally.by_category() == outcome.tally.by_category()
    assert np.array_equal(stored.tally.matrix, outcome.tally.matrix)


def test_a_second_writer_finds_the_committed_results_and_writes_nothing(
    store: ImpactResultStore, owner: sa.Engine
) -> None:
    instance_id = instance_for_results(owner)
    _run(store, instance_id, [_batch(0)])

    writer = store.open_writer(instance_id)
    try:
        assert not writer.claim()
    finally:
        writer.abort()
    assert stored_rows(owner, instance_id)[0] == BATCH


def test_results_of_an_instance_that_does_not_exist_are_refused(store: ImpactResultStore) -> None:
    with pytest.raises(Exception, match="does not exist"):
        _run(store, uuid.uuid4(), [_batch(0)])


class Sink:
    """An ordered sink over a real result writer, for one instance; counts how often it says it has room."""

    def __init__(self, store: ImpactResultStore, instance_id: uuid.UUID, *, capacity: int, flush_bytes: int) -> None:
        self.instance_id = instance_id
        self.writer = store.open_writer(instance_id)
        assert self.writer.claim()
        self.room_calls = 0
        self.sink = OrderedSink(
            instance_id, self.writer, capacity=capacity, flush_bytes=flush_bytes, failure_limit=10, on_room=self._room
        )

    def _room(self) -> None:
        self.room_calls += 1


Summary = tuple[str, int, list[tuple[int, str]], list[tuple[int, int, int]]]


def summary(outcome: PopulationOutcome) -> Summary:
    """A copy of what the sink has summed up so far (its outcome shares the sink's running tally)."""
    failures = [(failure.position, failure.error) for failure in outcome.failures]
    return outcome.results_digest, outcome.failed, failures, outcome.tally.transitions()


def _copy_bytes(instance_id: uuid.UUID, batch: CompletedBatch) -> int:
    """What a batch's rows take in the write buffer: its COPY text, failures and all."""
    written = batch.proposed > 0
    rows = encode_results(instance_id, batch.first_position, batch.proposed, batch.baseline, written)
    failures = encode_failures(instance_id, [(batch.first_position + offset, e) for offset, e in batch.failures])
    return len(rows.copy) + len(failures)


def test_no_more_batches_are_admitted_than_capacity_until_the_first_ones_are_taken_in_order(
    store: ImpactResultStore, owner: sa.Engine
) -> None:
    async def scenario() -> list[bool]:
        held = Sink(store, instance_for_results(owner), capacity=3, flush_bytes=1 << 20)
        try:
            room = [held.sink.has_room()]
            for _ in range(3):
                held.sink.admit()
            room.append(held.sink.has_room())
            held.sink.accept(_batch(2))  # early: held until 0 and 1 come, so no room freed
            held.sink.accept(_batch(1))
            room.append(held.sink.has_room())
            held.sink.accept(_batch(0))  # all three go to the write buffer in order
            room.append(held.sink.has_room())
            assert held.room_calls == 3, "told at every batch taken"
            return room
        finally:
            held.writer.abort()

    assert asyncio.run(scenario()) == [True, False, False, True]


def test_the_write_buffer_is_bounded_by_twice_the_flush_size_and_the_writer_empties_it(
    store: ImpactResultStore, owner: sa.Engine
) -> None:
    flush_bytes = 1024
    instance_id = instance_for_results(owner)

    async def scenario() -> tuple[int, int, bool, int]:
        held = Sink(store, instance_id, capacity=1000, flush_bytes=flush_bytes)
        accepted, buffered = 0, 0
        while held.sink.has_room():
            batch = _batch(accepted)
            held.sink.admit()
            held.sink.accept(batch)
            accepted += 1
            buffered += _copy_bytes(instance_id, batch)
        full_at = buffered
        calls_before = held.room_calls
        writing = asyncio.create_task(held.sink.run_writer())
        while not held.sink.has_room():
            await asyncio.sleep(0.01)
        held.sink.close()
        await writing
        await asyncio.to_thread(held.writer.commit)
        return accepted, full_at, held.room_calls > calls_before, buffered

    accepted, full_at, told_of_room, buffered = asyncio.run(scenario())

    assert full_at >= 2 * flush_bytes > full_at - _copy_bytes(instance_id, _batch(accepted - 1))
    assert told_of_room, "the writer says when it has made room"
    assert stored_rows(owner, instance_id) == (accepted * BATCH, 1, accepted * BATCH)


def test_a_batch_delivered_again_is_refused_and_changes_nothing(store: ImpactResultStore, owner: sa.Engine) -> None:
    instance_id = instance_for_results(owner)
    first, later = _batch(0), _batch(2, [(7, "refused")])
    # The same batches with other decisions and failures: what a stale answer could carry.
    stale_first = CompletedBatch(0, 1, _categories(0), first.baseline, first.proposed, failures=[])
    stale_later = CompletedBatch(2, 1 + 2 * BATCH, _categories(2), later.baseline, later.proposed, failures=[])

    async def scenario() -> tuple[list[bool], Summary, Summary]:
        held = Sink(store, instance_id, capacity=16, flush_bytes=1 << 20)
        writing = asyncio.create_task(held.sink.run_writer())
        accepted = [held.sink.accept(first), held.sink.accept(later)]
        before = summary(held.sink.outcome())
        accepted += [held.sink.accept(stale_first), held.sink.accept(stale_later)]
        after = summary(held.sink.outcome())
        accepted.append(held.sink.accept(_batch(1)))
        held.sink.close()
        await writing
        await asyncio.to_thread(held.writer.commit)
        return accepted, before, after

    accepted, before, after = asyncio.run(scenario())

    assert accepted == [True, True, False, False, True]
    assert after == before
    rows = {
        position: (decision, baseline)
        for position, decision, baseline in (
            (int(line.split(b"\t")[0]), int(line.split(b"\t")[2]), int(line.split(b"\t")[3]))
            for line in exported_results(owner, instance_id).splitlines()
        )
    }
    assert rows[1] == (int(first.proposed[0]), int(first.baseline[0])), "the first delivery's decisions stand"
    assert 2 * BATCH + 8 not in rows, "the citizen the first delivery failed stays failed"


def test_the_digest_and_the_tally_are_the_same_whatever_order_the_batches_arrive_in(
    store: ImpactResultStore, owner: sa.Engine
) -> None:
    batches = [_batch(0), _batch(1, [(3, "refused")]), _batch(2), _batch(3), _batch(4, [(0, "x"), (49, "y")])]
    orders = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]]
    outcomes = []
    for order in orders:
        instance_id = instance_for_results(owner)
        _, outcome = _run(store, instance_id, [batches[index] for index in order])
        assert hashlib.sha256(exported_results(owner, instance_id)).hexdigest() == outcome.results_digest
        outcomes.append(outcome)

    assert len({outcome.results_digest for outcome in outcomes}) == 1
    assert len({tuple(outcome.tally.transitions()) for outcome in outcomes}) == 1
    assert {outcome.failed for outcome in outcomes} == {3}


def test_rows_reach_the_table_in_population_order_over_several_copies(orchestrator_database: str) -> None:
    """Batches arrive out of order; the table receives them in order (a fresh table keeps insertion order)."""
    engine = sa.create_engine(orchestrator_database)
    try:
        instance_id = instance_for_results(engine)
        batches = [_batch(index) for index in range(8)]
        _run(ImpactResultStore(engine), instance_id, [batches[i] for i in (3, 1, 0, 7, 2, 5, 4, 6)])
        with engine.connect() as connection:
            positions = connection.execute(
                sa.text("SELECT position FROM orchestrator.impact_results WHERE instance_id = :id ORDER BY ctid"),
                {"id": instance_id},
            ).scalars()
            assert list(positions) == list(range(1, 8 * BATCH + 1))
    finally:
        engine.dispose()
