"""Waiting out a dependency's outage: what counts as one, and how long and how often to try again.

A step whose evaluator call, database write or audit append cannot be made because that
dependency is down (a call answered UNAVAILABLE, a lost or refused database connection) is not a
failure of the step: a restart of the dependency heals it. So the work is tried again with a
backoff that doubles up to `max_backoff_seconds`, spending no attempt of the step's retry policy,
until the dependency answers or the outage has lasted `limit_seconds` (DEPENDENCY_OUTAGE_SECONDS);
only then does it fail, with DependencyOutageError naming the dependency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.errors import DependencyOutageError, DependencyUnavailableError, StepFailedError

log = logging.getLogger(__name__)

Result = TypeVar("Result")

DATABASE = "database"
AUDIT_SERVICE = "audit service"
EVALUATOR = "evaluator"


@dataclass(frozen=True)
class OutagePolicy:
    limit_seconds: float = 300.0
    first_backoff_seconds: float = 0.1
    # Short enough that a restarted dependency is used again within seconds of coming back.
    max_backoff_seconds: float = 2.0

    def backoff(self, tries: int) -> float:
        """Seconds to wait after the `tries`-th failed try (from 1)."""
        return min(self.max_backoff_seconds, self.first_backoff_seconds * 2.0 ** (tries - 1))


# Without a setting: DEPENDENCY_OUTAGE_SECONDS' default.
DEFAULT_OUTAGES = OutagePolicy()


class Outage:
    """One outage of one dependency as one caller lives through it."""

    def __init__(self, policy: OutagePolicy, dependency: str) -> None:
        self.policy = policy
        self.dependency = dependency
        self._started = time.monotonic()
        self._tries = 0

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started

    def next_pause(self) -> float:
        """The pause before the next try; DependencyOutageError once that would take the outage past its limit."""
        self._tries += 1
        pause = self.policy.backoff(self._tries)
        if self.seconds + pause > self.policy.limit_seconds:
            raise DependencyOutageError(self.dependency, limit_seconds=self.policy.limit_seconds)
        if self._tries == 1:
            log.warning("dependency unreachable; waiting for it", extra={"dependency": self.dependency})
        return pause

    async def wait(self, stopping: asyncio.Event | None = None) -> None:
        """Pauses before the next try (or until `stopping` is set); DependencyOutageError past the limit."""
        pause = self.next_pause()
        if stopping is None:
            await asyncio.sleep(pause)
            return
        try:
            await asyncio.wait_for(stopping.wait(), pause)
        except TimeoutError:
            pass

    def healed(self) -> None:
        if self._tries:
            log.warning(
                "dependency reachable again",
                extra={"dependency": self.dependency, "outage_seconds": round(self.seconds, 2)},
            )


def unreachable_dependency(error: BaseException) -> str | None:
    """The dependency `error` says could not be reached, or None if it is another failure.

    An outage that already outlasted its limit (DependencyOutageError) is a failure, not an outage to wait out.
    """
    seen = 0
    cause: BaseException | None = error
    while cause is not None and seen < 10:  # a chain is short; the bound only guards against cycles
        if isinstance(cause, DependencyOutageError):
            return None
        if isinstance(cause, DependencyUnavailableError | StepFailedError) and cause.dependency is not None:
            return cause.dependency
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        seen += 1
    return None


async def outlasting(operation: Callable[[], Awaitable[Result]], *, policy: OutagePolicy) -> Result:
    """`operation`'s result, tried again while its dependency is down, up to the policy's limit."""
    outage: Outage | None = None
    while True:
        try:
            result = await operation()
        except Exception as error:
            dependency = unreachable_dependency(error)
            if dependency is None:
                raise
            if outage is None:
                outage = Outage(policy, dependency)
            await outage.wait()
            continue
        if outage is not None:
            outage.healed()
        return result
