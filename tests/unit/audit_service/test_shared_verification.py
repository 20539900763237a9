"""Single flight and the cache of GET /audit/verify, with a verification whose duration and outcome the test sets."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from audit_service.errors import AuditStoreUnavailableError
from audit_service.tree.integrity import IntegrityReport
from audit_service.tree.shared_verification import SharedVerification


class Log:
    """A log whose size the test sets, and a verification of it that ends when the test releases it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.runs = 0
        self.release = asyncio.Event()
        self.failure: Exception | None = None

    async def verify(self) -> IntegrityReport:
        self.runs += 1
        size = self.size
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return IntegrityReport(tree_size=size, entries_checked=size)

    def head_size(self) -> int:
        return self.size


def on_a_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@on_a_loop
async def test_callers_arriving_during_a_run_share_it() -> None:
    log = Log(10)
    shared = SharedVerification(log.verify, log.head_size, max_age_seconds=60)

    first = asyncio.create_task(shared.verification())
    await settle()
    later = [asyncio.create_task(shared.verification()) for _ in range(7)]
    await settle()
    log.release.set()
    answers = [await first, *[await task for task in later]]

    assert log.runs == shared.runs == 1
    assert all(answer == answers[0] and not answer.from_cache for answer in answers)


@on_a_loop
async def test_a_caller_that_gives_up_leaves_the_run_to_the_others() -> None:
    log = Log(10)
    shared = SharedVerification(log.verify, log.head_size, max_age_seconds=60)

    impatient = asyncio.create_task(shared.verification())
    patient = asyncio.create_task(shared.verification())
    await settle()
    impatient.cancel()
    await settle()
    log.release.set()

    assert (await patient).report.tree_size == 10
    assert log.runs == 1


@on_a_loop
async def test_the_report_answers_from_cache_until_the_log_grows() -> None:
    log = Log(10)
    log.release.set()
    shared = SharedVerification(log.verify, log.head_size, max_age_seconds=60)

    fresh = await shared.verification()
    cached = await shared.verification()
    log.size = 11
    grown = await shared.verification()

    assert cached.from_cache and cached.verified_at == fresh.verified_at and cached.report is fresh.report
    assert not grown.from_cache and grown.report.tree_size == 11
    assert log.runs == 2


@on_a_loop
async def test_a_report_older_than_the_cache_age_is_not_reused() -> None:
    log = Log(10)
    log.release.set()
    shared = SharedVerification(log.verify, log.head_size, max_age_seconds=0)

    await shared.verification()
    again = await shared.verification()

    assert not again.from_cache
    assert log.runs == 2


@on_a_loop
async def test_a_failed_run_fails_its_callers_and_is_not_cached() -> None:
    log = Log(10)
    log.failure = AuditStoreUnavailableError("the audit database is unavailable")
    shared = SharedVerification(log.verify, log.head_size, max_age_seconds=60)

    callers = [asyncio.create_task(shared.verification()) for _ in range(3)]
    await settle()
    log.release.set()
    for caller in callers:
        with pytest.raises(AuditStoreUnavailableError):
            await caller
    log.failure = None
    after = await shared.verification()

    assert log.runs == 2 and not after.from_cache
