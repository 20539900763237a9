"""The ordered sink: batches arriving out of order and twice are written once each, in order, digest and all."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from orchestrator.impact.ordered_sink import CompletedBatch, OrderedSink, PopulationOutcome
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
        index=index, first_position=1 + index * BATCH, proposed=proposed, baseline=baseline, failures=list(failures)
    )


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


def test_stored_outcome_rebuilds_what_the_sink_computed(store: ImpactResultStore, owner: sa.Engine) -> None:
    instance_id = instance_for_results(owner)
    _, outcome = _run(store, instance_id, [_batch(1, [(5, "no")]), _batch(0)])

    stored = store.stored_outcome(instance_id, failure_limit=2)

    assert stored.results_digest == outcome.results_digest
    assert (stored.failed, [(f.position, f.error) for f in stored.failures]) == (1, [(BATCH + 6, "no")])
    assert stored.tally.transitions() == outcome.tally.transitions()


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
