"""The token bucket per subject: a burst, then the rate, a whole number of seconds to wait, and no memory kept of
subjects that went quiet."""

from __future__ import annotations

import pytest

from civicflow.rate_limits import RateLimitedError, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, *, per_second: float = 2.0, burst: int = 4) -> RateLimiter:
    return RateLimiter(per_second=per_second, burst=burst, clock=clock)


def test_a_subject_may_send_its_burst_at_once_and_the_next_call_waits_for_a_token() -> None:
    clock = Clock()
    limits = limiter(clock)
    for _ in range(4):
        limits.admit("alice")

    with pytest.raises(RateLimitedError) as refused:
        limits.admit("alice")

    assert refused.value.retry_after_seconds == 1
    clock.now += 0.5  # one token back at 2 per second
    limits.admit("alice")
    with pytest.raises(RateLimitedError):
        limits.admit("alice")


def test_retry_after_is_the_whole_seconds_until_a_token_is_back() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=0.25, burst=1)
    limits.admit("alice")

    with pytest.raises(RateLimitedError) as refused:
        limits.admit("alice")

    assert refused.value.retry_after_seconds == 4
    clock.now += 3.5
    with pytest.raises(RateLimitedError) as again:
        limits.admit("alice")
    assert again.value.retry_after_seconds == 1


def test_refused_calls_take_no_token_so_a_client_that_waits_as_told_gets_in() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=1, burst=1)
    limits.admit("alice")
    for _ in range(10):
        with pytest.raises(RateLimitedError):
            limits.admit("alice")

    clock.now += 1
    limits.admit("alice")


def test_subjects_have_buckets_of_their_own() -> None:
    clock = Clock()
    limits = limiter(clock, burst=1)
    limits.admit("alice")

    limits.admit("bob")
    with pytest.raises(RateLimitedError):
        limits.admit("alice")


def test_a_bucket_never_holds_more_than_the_burst_however_long_its_subject_was_quiet() -> None:
    clock = Clock()
    limits = limiter(clock, burst=3)
    limits.admit("alice")
    clock.now += 3600

    for _ in range(3):
        limits.admit("alice")
    with pytest.raises(RateLimitedError):
        limits.admit("alice")


def test_subjects_quiet_for_a_refill_period_are_forgotten() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=10, burst=10)
    for number in range(1000):
        limits.admit(f"subject-{number}")
    assert limits.subjects_tracked == 1000

    clock.now += 1.0  # the burst refills in 1 s
    limits.admit("alice")

    assert limits.subjects_tracked == 1
