"""GET /audit/verify for many callers at once: one verification at a time, shared by its callers and cached.

A verification reads and rehashes the whole log (seconds for tens of thousands of entries). Run
per caller on the event loop's default thread pool, eight of them once filled that pool, and the
appends queued behind them until their callers gave up. Here it runs in a worker of its own
(verification_worker.py); callers that arrive while it runs wait for that same run (single
flight), and its report answers later callers as long as the log head has not grown and the
report is younger than `max_age_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from audit_service.tree.integrity import IntegrityReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verification:
    report: IntegrityReport
    # When the verification that made the report finished.
    verified_at: datetime
    # True when the report was made for an earlier caller and the log head has not grown since.
    from_cache: bool


@dataclass(frozen=True)
class _Cached:
    verification: Verification
    finished: float  # time.monotonic() at the end of the run


class SharedVerification:
    """Answers every caller from one run of `verify` at a time, or from the last run's report while it is current."""

    def __init__(
        self,
        verify: Callable[[], Awaitable[IntegrityReport]],
        head_size: Callable[[], int],
        *,
        max_age_seconds: float,
    ) -> None:
        self._verify = verify
        self._head_size = head_size
        self._max_age_seconds = max_age_seconds
        # Held while a caller decides between the cache, the running verification and a new one.
        self._deciding = asyncio.Lock()
        self._running: asyncio.Task[Verification] | None = None
        self._cached: _Cached | None = None
        self.runs = 0  # verifications started since the service started

    async def verification(self) -> Verification:
        """The running verification's report, else the cached one if still current, else a new one's."""
        async with self._deciding:
            if self._running is None:
                cached = self._cached
                if cached is not None and time.monotonic() - cached.finished < self._max_age_seconds:
                    # The head is read on the default pool, like every other read: never on the append writer's thread.
                    if await asyncio.to_thread(self._head_size) == cached.verification.report.tree_size:
                        return replace(cached.verification, from_cache=True)
                self._running = asyncio.create_task(self._run(), name="audit-verify")
                self._running.add_done_callback(_observe_failure)
            running = self._running
        # Shielded: a caller that gives up (its deadline passed) leaves the run going for the others.
        return await asyncio.shield(running)

    async def _run(self) -> Verification:
        self.runs += 1
        started = time.monotonic()
        try:
            report = await self._verify()
        finally:
            self._running = None
        finished = time.monotonic()
        verification = Verification(report=report, verified_at=datetime.now(UTC), from_cache=False)
        self._cached = _Cached(verification, finished)
        log.info(
            "audit log verified",
            extra={
                "run": self.runs,
                "tree_size": report.tree_size,
                "entries_checked": report.entries_checked,
                "ok": report.ok,
                "seconds": round(finished - started, 3),
            },
        )
        return verification


def _observe_failure(task: asyncio.Task[Verification]) -> None:
    """Marks a failed run's error as seen: when every caller gave up, nobody else awaits it (it is logged once)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("audit log verification failed", extra={"error": repr(task.exception())})
