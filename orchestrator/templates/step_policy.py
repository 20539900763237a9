"""What a template may declare about a step's failures: retries, a time limit, and tolerated item failures."""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ErrorKind(StrEnum):
    """Why an attempt failed; a retry policy names the kinds worth another attempt."""

    TIMEOUT = "timeout"  # the attempt ran past the step's timeout_seconds
    UNAVAILABLE = "unavailable"  # a service or the database could not be reached
    FAILED = "failed"  # the task refused: bad data, a rule that cannot apply
    INTERNAL = "internal"  # a defect in a task


class RetryPolicy(BaseModel):
    """Exponential backoff between attempts: initial, initial x multiplier, ... capped at the maximum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=100)
    initial_backoff_seconds: float = Field(default=0.1, ge=0, le=3600)
    backoff_multiplier: float = Field(default=2.0, ge=1, le=100)
    max_backoff_seconds: float = Field(default=10.0, ge=0, le=3600)
    # Transient kinds by default: retrying a task that refused its data gives the same refusal.
    retryable: frozenset[ErrorKind] = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE})

    @model_validator(mode="after")
    def _backoff_bounds_ordered(self) -> RetryPolicy:
        if self.max_backoff_seconds < self.initial_backoff_seconds:
            raise ValueError("max_backoff_seconds must not be less than initial_backoff_seconds")
        return self

    def allows_another(self, *, attempt: int, kind: ErrorKind) -> bool:
        """Whether an attempt numbered `attempt` (from 1) that failed with `kind` may be followed by another."""
        return attempt < self.max_attempts and kind in self.retryable

    def backoff_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (from 1) before the next one."""
        return min(self.max_backoff_seconds, self.initial_backoff_seconds * self.backoff_multiplier ** (attempt - 1))


NO_RETRY = RetryPolicy()


class FailureTolerance(BaseModel):
    """How many item failures a fan-out step accepts: a count, or a fraction of its items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0, le=1)

    @classmethod
    def parse(cls, declared: int | float) -> FailureTolerance:
        """A template's `tolerated_failures`: an integer is a count, a number with a fraction part a share."""
        if isinstance(declared, int):
            return cls(count=declared)
        return cls(fraction=declared)

    def allowed(self, total_items: int) -> int:
        """The largest number of failed items out of `total_items` that still lets the step succeed."""
        if self.count is not None:
            return self.count
        return math.floor((self.fraction or 0.0) * total_items)


FAIL_FAST = FailureTolerance(count=0)
