"""The recorder's lanes: what is pushed while one lingers goes out in one send, in order, one send at a time.

A lane is what keeps a run's journal and audit writes off its critical path (recorder.py); these
tests drive one with a destination that records each send and can hold it or fail it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from orchestrator.runs.recorder import _Lane

T = TypeVar("T")

LONG_LINGER = 30.0  # longer than any test: a send before it passes was hurried


class Destination:
    """Where a lane sends: keeps every batch it took, in order; can hold a send in flight, or fail the next one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.attempts = 0
        self.sent_at: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.hold: asyncio.Event | None = None
        self.failures: list[Exception] = []

    async def send(self, batch: list[str]) -> None:
        self.attempts += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            else:
                await asyncio.sleep(0.001)
            if self.failures:
                raise self.failures.pop(0)
            self.batches.append(list(batch))
            self.sent_at.append(asyncio.get_running_loop().time())
        finally:
            self.in_flight -= 1


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_items_pushed_during_the_linger_go_out_in_one_send_once_it_has_passed() -> None:
    async def scenario() -> tuple[list[list[str]], float]:
        destination = Destination()
        lane: _Lane[str] = _Lane(destination.send, linger=0.2)
        pushed_at = asyncio.get_running_loop().time()
        lane.push("a")
        lane.push("b")
        await asyncio.sleep(0.05)
        lane.push("c")
        await asyncio.sleep(0.5)
        return destination.batches, destination.sent_at[0] - pushed_at

    batches, waited = run(scenario)

    assert batches == [["a", "b", "c"]]
    assert waited >= 0.2


def test_batches_go_out_in_push_order_and_never_two_at_once() -> None:
    async def scenario() -> Destination:
        destination = Destination()
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        for number in range(60):
            lane.push(f"item-{number}")
            if number % 7 == 0:
                await asyncio.sleep(0.002)  # let a send start while more is pushed behind it
        await lane.drain()
        return destination

    destination = run(scenario)

    assert [item for batch in destination.batches for item in batch] == [f"item-{n}" for n in range(60)]
    assert len(destination.batches) > 1, "a send in flight made the items behind it wait for the next one"
    assert destination.most_in_flight == 1


def test_items_pushed_while_a_batch_is_in_flight_go_in_the_next_batch() -> None:
    async def scenario() -> list[list[str]]:
        destination = Destination()
        destination.hold = asyncio.Event()
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        lane.push("first")
        await asyncio.sleep(0.01)
        assert destination.in_flight == 1
        lane.push("second")
        lane.push("third")
        destination.hold.set()
        await lane.drain()
        return destination.batches

    assert run(scenario) == [["first"], ["second", "third"]]


def test_a_push_without_an_item_still_asks_for_a_send() -> None:
    # How the journal lane writes item progress when no attempt has completed.
    async def scenario() -> list[list[str]]:
        destination = Destination()
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        lane.push()
        await lane.drain()
        return destination.batches

    assert run(scenario) == [[]]


def test_drain_sends_at_once_instead_of_waiting_out_the_linger() -> None:
    async def scenario() -> tuple[list[list[str]], float]:
        destination = Destination()
        lane: _Lane[str] = _Lane(destination.send, linger=LONG_LINGER)
        lane.push("a")
        lane.push("b")
        started = asyncio.get_running_loop().time()
        await lane.drain()
        return destination.batches, asyncio.get_running_loop().time() - started

    batches, took = run(scenario)

    assert batches == [["a", "b"]]
    assert took < 1.0


def test_drain_raises_the_first_failure_and_the_lane_sends_nothing_after_it() -> None:
    async def scenario() -> tuple[list[Exception], Destination]:
        destination = Destination()
        first, second = ConnectionError("first failure"), ConnectionError("second failure")
        destination.failures = [first, second]
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        raised = []
        lane.push("a")
        for _ in range(2):
            with pytest.raises(ConnectionError) as failure:
                await lane.drain()
            raised.append(failure.value)
            lane.push("b")
        await asyncio.sleep(0.05)
        assert lane.error is first
        return raised, destination

    raised, destination = run(scenario)

    assert [str(error) for error in raised] == ["first failure", "first failure"]
    assert destination.batches == []
    assert destination.attempts == 1, "nothing was sent after the failure"


def test_a_failed_batch_is_kept_ahead_of_what_was_pushed_after_it() -> None:
    async def scenario() -> list[str]:
        destination = Destination()
        destination.failures = [ConnectionError("database unavailable")]
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        lane.push("a")
        lane.push("b")
        with pytest.raises(ConnectionError):
            await lane.drain()
        lane.push("c")
        return await lane.stop()

    assert run(scenario) == ["a", "b", "c"]


def test_stop_lets_the_batch_in_flight_finish_and_hands_back_what_was_queued_behind_it() -> None:
    async def scenario() -> tuple[list[str], Destination, bool]:
        destination = Destination()
        destination.hold = asyncio.Event()
        lane: _Lane[str] = _Lane(destination.send, linger=0.0)
        lane.push("in flight")
        await asyncio.sleep(0.01)
        lane.push("queued 1")
        lane.push("queued 2")
        stopping = asyncio.create_task(lane.stop())
        await asyncio.sleep(0.05)
        waited_for_the_send = not stopping.done()
        destination.hold.set()
        handed_back = await stopping
        lane.push("after stop")
        await asyncio.sleep(0.05)
        return handed_back, destination, waited_for_the_send

    handed_back, destination, waited_for_the_send = run(scenario)

    assert waited_for_the_send
    assert destination.batches == [["in flight"]]
    assert handed_back == ["queued 1", "queued 2"]


def test_stop_during_the_linger_sends_nothing_and_hands_everything_back() -> None:
    async def scenario() -> tuple[list[str], list[list[str]], float]:
        destination = Destination()
        lane: _Lane[str] = _Lane(destination.send, linger=LONG_LINGER)
        lane.push("a")
        lane.push("b")
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        handed_back = await lane.stop()
        return handed_back, destination.batches, asyncio.get_running_loop().time() - started

    handed_back, batches, took = run(scenario)

    assert handed_back == ["a", "b"]
    assert batches == []
    assert took < 1.0
