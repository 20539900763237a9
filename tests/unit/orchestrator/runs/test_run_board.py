"""The run board: a watcher sees the run now, then every change, and the finished run last; wherever it is driven."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from orchestrator.errors import InstanceNotFoundError, RunHandedOverError
from orchestrator.runs.run_board import RunBoard
from orchestrator.storage.instance_records import COMPLETED, FAILED, RUNNING, InstanceRecord, RunProgress

T = TypeVar("T")

LONG_POLL = 30.0  # longer than any test: a watcher that sees a change before it passes was woken


class StoredInstances:
    """The instances table as `RunBoard.watch` reads it (`stored`): what another replica last wrote."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, InstanceRecord] = {}
        self.reads = 0

    async def __call__(self, instance_id: uuid.UUID) -> InstanceRecord:
        self.reads += 1
        await asyncio.sleep(0)
        if instance_id not in self.rows:
            raise InstanceNotFoundError(f"no workflow instance '{instance_id}'")
        return self.rows[instance_id]


def running(items_done: int = 0, *, instance_id: uuid.UUID | None = None) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id or uuid.uuid4(),
        template_id="impact_analysis",
        template_version="test",
        status=RUNNING,
        inputs={},
        outputs={},
        error=None,
        appealed_instance_id=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        completed_at=None,
        progress=RunProgress(steps_completed=1, steps_total=3, items_done=items_done, items_total=100),
    )


def finished(run: InstanceRecord, *, error: str | None = None) -> InstanceRecord:
    return dataclasses.replace(
        run, status=FAILED if error else COMPLETED, error=error, completed_at=datetime(2026, 1, 2, tzinfo=UTC)
    )


class Watcher:
    """Collects what one watch yields, in a task of its own."""

    def __init__(self, watch: AsyncIterator[InstanceRecord]) -> None:
        self.seen: list[InstanceRecord] = []
        self.task = asyncio.create_task(self._collect(watch))

    async def _collect(self, watch: AsyncIterator[InstanceRecord]) -> None:
        async for snapshot in watch:
            self.seen.append(snapshot)

    async def until_seen(self, count: int) -> None:
        while len(self.seen) < count and not self.task.done():
            await asyncio.sleep(0.001)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_a_run_driven_here_is_seen_now_then_at_each_change_and_last_finished() -> None:
    async def scenario() -> tuple[list[InstanceRecord], list[InstanceRecord], float]:
        board, stored, stopping = RunBoard(), StoredInstances(), asyncio.Event()
        started = running(items_done=0)
        board.publish(started)
        began = asyncio.get_running_loop().time()
        watcher = Watcher(board.watch(started.instance_id, stored=stored, poll_seconds=LONG_POLL, stopping=stopping))
        await watcher.until_seen(1)
        published = [started]
        for items_done in (10, 10, 55):  # the same progress twice is no change
            board.update_progress(started.instance_id, dataclasses.replace(started.progress, items_done=items_done))
            await asyncio.sleep(0.01)
        published += [running(10, instance_id=started.instance_id), running(55, instance_id=started.instance_id)]
        board.publish(board.live(started.instance_id) or started)  # republished unchanged: nothing new to see
        await asyncio.sleep(0.01)
        done = finished(published[-1])
        stored.rows[started.instance_id] = done  # stored before published, as the replica does
        board.publish(done)
        await watcher.task
        return watcher.seen, [*published, done], asyncio.get_running_loop().time() - began

    seen, expected, took = run(scenario)

    assert seen == expected
    assert took < 1.0, "woken by each change, not by polling"


def test_a_finished_run_leaves_the_board() -> None:
    board = RunBoard()
    started = running()
    board.publish(started)
    assert board.live(started.instance_id) == started

    board.publish(finished(started))

    assert board.live(started.instance_id) is None


def test_a_run_driven_elsewhere_is_read_from_the_database_at_each_poll() -> None:
    async def scenario() -> tuple[list[InstanceRecord], list[InstanceRecord], int]:
        board, stored, stopping = RunBoard(), StoredInstances(), asyncio.Event()
        first = running(items_done=0)
        later = running(items_done=40, instance_id=first.instance_id)
        done = finished(later)
        stored.rows[first.instance_id] = first
        watcher = Watcher(board.watch(first.instance_id, stored=stored, poll_seconds=0.02, stopping=stopping))
        await asyncio.sleep(0.1)
        stored.rows[first.instance_id] = later
        await asyncio.sleep(0.1)
        stored.rows[first.instance_id] = done
        await watcher.task
        return watcher.seen, [first, later, done], stored.reads

    seen, expected, reads = run(scenario)

    assert seen == expected
    assert reads > len(expected), "read again at every poll, yielded only when it changed"


def test_watching_an_unknown_run_raises_before_yielding_anything() -> None:
    async def scenario() -> list[InstanceRecord]:
        board = RunBoard()
        watch = board.watch(uuid.uuid4(), stored=StoredInstances(), poll_seconds=0.02, stopping=asyncio.Event())
        seen = []
        with pytest.raises(InstanceNotFoundError):
            async for snapshot in watch:
                seen.append(snapshot)
        return seen

    assert run(scenario) == []


def test_a_watcher_is_told_to_watch_elsewhere_once_the_replica_stops() -> None:
    async def scenario() -> tuple[list[InstanceRecord], InstanceRecord]:
        board, stored, stopping = RunBoard(), StoredInstances(), asyncio.Event()
        started = running(items_done=5)
        board.publish(started)
        watch = board.watch(started.instance_id, stored=stored, poll_seconds=0.02, stopping=stopping)
        seen = [await anext(watch)]
        stopping.set()
        with pytest.raises(RunHandedOverError):
            seen.append(await anext(watch))
        return seen, started

    seen, started = run(scenario)

    assert seen == [started]


def test_a_run_that_has_finished_is_seen_finished_even_while_the_replica_stops() -> None:
    async def scenario() -> tuple[list[InstanceRecord], InstanceRecord]:
        board, stored, stopping = RunBoard(), StoredInstances(), asyncio.Event()
        done = finished(running(items_done=100))
        stored.rows[done.instance_id] = done
        stopping.set()
        seen = [
            snapshot
            async for snapshot in board.watch(done.instance_id, stored=stored, poll_seconds=0.02, stopping=stopping)
        ]
        return seen, done

    seen, done = run(scenario)

    assert seen == [done]


def test_dropping_a_run_wakes_its_watchers_who_read_it_from_the_database() -> None:
    async def scenario() -> tuple[list[list[InstanceRecord]], list[InstanceRecord], float]:
        board, stored, stopping = RunBoard(), StoredInstances(), asyncio.Event()
        here = running(items_done=70)
        board.publish(here)
        stored.rows[here.instance_id] = running(items_done=50, instance_id=here.instance_id)  # the database lags
        watchers = [
            Watcher(board.watch(here.instance_id, stored=stored, poll_seconds=LONG_POLL, stopping=stopping))
            for _ in range(2)
        ]
        for watcher in watchers:
            await watcher.until_seen(1)
        # This replica lost the run; the replica that took it over finished it meanwhile.
        elsewhere = finished(running(items_done=100, instance_id=here.instance_id), error="refused by the evaluator")
        stored.rows[here.instance_id] = elsewhere
        dropped_at = asyncio.get_running_loop().time()
        board.drop(here.instance_id)
        await asyncio.gather(*(watcher.task for watcher in watchers))
        return [watcher.seen for watcher in watchers], [here, elsewhere], asyncio.get_running_loop().time() - dropped_at

    seen, expected, took = run(scenario)

    assert seen == [expected, expected]
    assert took < 1.0, "woken by the drop, not by polling"
