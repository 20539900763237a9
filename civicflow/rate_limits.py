"""How often one subject may call: a token bucket per subject, kept in memory by each replica.

The gateway admits every REST request of an authenticated subject through one RateLimiter, the
orchestrator every gRPC call through another. Each bucket holds up to `burst` tokens and refills
at `per_second`; a call takes one token, and a call that finds none is refused with the whole
seconds until one is back. Limits are per replica: N replicas behind a load balancer admit up to
N times the rate, which bounds what one subject can take from each replica, the point of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings

from civicflow.grpc_errors import RetryLater


class RateLimitSettings(BaseSettings):
    """The per-subject limit; the settings of every service that admits callers by token extend this class."""

    # Sustained calls per second one subject may make, and how many it may make at once after a pause.
    # Generous for a person or a program acting for one; what it stops is one subject taking a replica.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)


class RateLimitedError(RetryLater):
    """A subject that called more often than its limit: 429 with Retry-After, RESOURCE_EXHAUSTED on gRPC."""

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message or f"too many requests for one subject; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by subject. Not thread-safe: each service calls it from its event loop only."""

    def __init__(self, *, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = per_second
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._last_sweep = clock()

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> RateLimiter:
        return cls(per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst)

    @property
    def subjects_tracked(self) -> int:
        """Subjects with a bucket in memory: those that called within the last refill period, at most."""
        return len(self._buckets)

    def admit(self, subject: str) -> None:
        """Takes one of `subject`'s tokens; RateLimitedError when it has none left."""
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = self._buckets[subject] = _Bucket(tokens=self._burst, updated=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._per_second)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimitedError(max(1, math.ceil((1 - bucket.tokens) / self._per_second)))
        bucket.tokens -= 1

    def _sweep(self, now: float) -> None:
        """Forgets buckets that have refilled: a full bucket is what a new subject gets, so memory stays bounded
        by the subjects active in the last refill period."""
        refill_seconds = self._burst / self._per_second
        if now - self._last_sweep < refill_seconds:
            return
        self._last_sweep = now
        full = [subject for subject, bucket in self._buckets.items() if now - bucket.updated >= refill_seconds]
        for subject in full:
            del self._buckets[subject]
