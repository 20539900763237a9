"""The stream pool's job source: jobs put back by a broken stream first, then retries, then new batches as admitted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestrator.impact.batches import Batch, Job, generate_batches
from orchestrator.impact.stream_pool import JobSource

T = TypeVar("T")


class Admission:
    """Admits a batch as one job while there is room, as the fan-out does while its sink has room."""

    def __init__(self) -> None:
        self.room = True
        self.admitted: list[int] = []

    def __call__(self, batch: Batch) -> Job | None:
        if not self.room:
            return None
        self.admitted.append(batch.index)
        return Job(job_id=batch.index, batch=batch, start=0, stop=batch.size)


def source_of(batches: int, admission: Admission) -> JobSource:
    return JobSource(generate_batches(batches * 10, 10, frozenset({"age", "income"})), admission)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def retry_of(job: Job, *, start: int) -> Job:
    return Job(job_id=100 + job.job_id, batch=job.batch, start=start, stop=start + 1, attempt=2)


def test_batches_are_handed_out_in_population_order_then_none_once_finished() -> None:
    async def scenario() -> tuple[list[int], Job | None]:
        source = source_of(4, Admission())
        jobs = [await source.next() for _ in range(4)]
        source.finish()
        return [job.batch.first_position for job in jobs if job], await source.next()

    assert run(scenario) == ([1, 11, 21, 31], None)


def test_jobs_put_back_come_first_in_their_order_then_retries_then_new_batches() -> None:
    async def scenario() -> list[tuple[int, int]]:
        source = source_of(6, Admission())
        first, second, third = [await source.next() for _ in range(3)]
        assert first and second and third
        source.add(retry_of(first, start=4))
        source.put_back([second, third])
        handed_out = [await source.next() for _ in range(4)]
        return [(job.batch.index, job.attempt) for job in handed_out if job]

    assert run(scenario) == [(1, 1), (2, 1), (0, 2), (3, 1)]


def test_a_batch_without_room_waits_until_woken_and_is_the_next_one_handed_out() -> None:
    async def scenario() -> tuple[bool, int, list[int]]:
        admission = Admission()
        source = source_of(3, admission)
        await source.next()
        admission.room = False
        waiting = asyncio.create_task(source.next())
        await asyncio.sleep(0.05)
        still_waiting = not waiting.done()
        admission.room = True
        source.wake()
        job = await waiting
        assert job is not None
        return still_waiting, job.batch.index, admission.admitted

    still_waiting, index, admitted = run(scenario)

    assert still_waiting
    assert index == 1
    assert admitted == [0, 1], "the batch refused room was kept, not skipped"


def test_a_job_put_back_is_handed_out_at_once_while_new_batches_wait_for_room() -> None:
    async def scenario() -> tuple[int, int]:
        admission = Admission()
        source = source_of(3, admission)
        job = await source.next()
        assert job is not None
        admission.room = False
        waiting = asyncio.create_task(source.next())
        await asyncio.sleep(0.01)
        source.put_back([job])
        again = await waiting
        assert again is not None
        return again.job_id, len(admission.admitted)

    assert run(scenario) == (0, 1)


def test_jobs_still_waiting_are_handed_out_before_the_end() -> None:
    async def scenario() -> list[int | None]:
        source = source_of(2, Admission())
        job = await source.next()
        assert job is not None
        source.add(retry_of(job, start=3))
        source.finish()
        handed_out = [await source.next(), await source.next()]
        return [job.job_id if job else None for job in handed_out]

    assert run(scenario) == [100, None]
