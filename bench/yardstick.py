"""A fixed piece of CPU-bound Python, timed before and after the benchmark, to tell a slow machine from slow code.

This development machine's speed drifts by a factor of two or more over a day (the same
commit measured 126 and 397 eligibility checks per second). The yardstick is printed beside
the figures so that two runs of `make bench` can be compared: if it moved, the machine did.
"""

from __future__ import annotations

import hashlib
import json
import timeit

YARDSTICK_RECORDS = 20_000
YARDSTICK_REPEATS = 5


def _interpreter_work() -> bytes:
    # The kind of work the services do per request: small dicts, JSON, hashing.
    digest = hashlib.sha256()
    for number in range(YARDSTICK_RECORDS):
        record = {"citizen_id": f"CIT-{number:07d}", "income": number % 50_000, "eligible": number % 3 == 0}
        digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.digest()


def yardstick_ms() -> float:
    """The fastest of a few timings of the same work, in milliseconds: the machine's speed right now."""
    return min(timeit.repeat(_interpreter_work, number=1, repeat=YARDSTICK_REPEATS)) * 1000
