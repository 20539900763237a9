"""The benchmark's memory figures come from /proc: a peak that a reset starts again, read from a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.memory import peak_rss_mb, reset_peak_rss, rss_mb

# Touches 200 MB, frees it, then waits: its peak stays high until reset.
ALLOCATE_THEN_WAIT = "b = bytearray(200_000_000); del b; print('freed', flush=True); import time; time.sleep(60)"


@pytest.fixture
def process_that_peaked() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", ALLOCATE_THEN_WAIT], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "freed"
    yield process.pid
    process.kill()
    process.wait()
    process.stdout.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_reset_starts_a_new_peak(process_that_peaked: int) -> None:
    pids = {"allocator": process_that_peaked}
    (before,) = peak_rss_mb(pids).values()
    assert before is not None and before > 200

    assert reset_peak_rss(pids)
    (after,) = peak_rss_mb(pids).values()
    assert after is not None and after < 100


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_current_figure_is_what_the_process_holds_now_not_its_peak(process_that_peaked: int) -> None:
    pids = {"allocator": process_that_peaked}
    (now,) = rss_mb(pids).values()
    (peak,) = peak_rss_mb(pids).values()

    assert now is not None and peak is not None
    assert now < 100 < 200 < peak


def test_a_process_that_is_gone_has_no_figure() -> None:
    beyond_pid_max = 2**22 + 1  # Linux's largest pid_max is 2**22
    assert peak_rss_mb({"gone": beyond_pid_max}) == {"gone": None}
    assert rss_mb({"gone": beyond_pid_max}) == {"gone": None}
    assert not reset_peak_rss({"gone": beyond_pid_max})
