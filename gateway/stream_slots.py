"""How many event streams one subject holds open at once: each open stream takes a slot until it closes.

An event stream costs a connection, a task and an orchestrator stream for as long as its run
lasts; a subject's streams beyond its share are refused (429) rather than queued. In memory,
per gateway replica, like the rate limit.
"""

from __future__ import annotations

from collections import Counter

from civicflow.rate_limits import RateLimitedError

# What a refused client is told to wait: streams end with their runs, most within seconds.
RETRY_AFTER_SECONDS = 5


class TooManyStreamsError(RateLimitedError):
    def __init__(self, per_subject: int) -> None:
        super().__init__(
            RETRY_AFTER_SECONDS, f"too many open event streams: at most {per_subject} per subject; close one first"
        )


class StreamSlot:
    """One subject's hold on one stream; released once, however often `release` is called."""

    def __init__(self, slots: StreamSlots, subject: str) -> None:
        self._slots = slots
        self._subject = subject
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self._subject)


class StreamSlots:
    """Not thread-safe: used from the gateway's event loop only."""

    def __init__(self, *, per_subject: int) -> None:
        self.per_subject = per_subject
        self._open: Counter[str] = Counter()

    def acquire(self, subject: str) -> StreamSlot:
        if self._open[subject] >= self.per_subject:
            raise TooManyStreamsError(self.per_subject)
        self._open[subject] += 1
        return StreamSlot(self, subject)

    def open_streams(self, subject: str) -> int:
        return self._open[subject]

    def _release(self, subject: str) -> None:
        self._open[subject] -= 1
        if self._open[subject] <= 0:
            del self._open[subject]
