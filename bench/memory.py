"""Resident memory of the services, read from /proc: the peak, reset before a workload and read after it, and the
current figure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")
# Writing 5 to /proc/PID/clear_refs resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).
RESET_PEAK_RSS = "5"


def reset_peak_rss(pids: Mapping[str, int]) -> bool:
    """Starts a new peak for every process; False where the kernel does not allow it (the peak then runs from start)."""
    reset = True
    for pid in pids.values():
        try:
            (PROC / str(pid) / "clear_refs").write_text(RESET_PEAK_RSS)
        except OSError:
            reset = False
    return reset


def peak_rss_mb(pids: Mapping[str, int]) -> dict[str, float | None]:
    """Peak resident memory (VmHWM) of each process in MB (10^6 bytes); None where /proc does not tell."""
    return {name: _status_mb(pid, "VmHWM") for name, pid in pids.items()}


def rss_mb(pids: Mapping[str, int]) -> dict[str, float | None]:
    """Resident memory (VmRSS) of each process now, in MB (10^6 bytes); None where /proc does not tell."""
    return {name: _status_mb(pid, "VmRSS") for name, pid in pids.items()}


def _status_mb(pid: int, field: str) -> float | None:
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            kib = int(line.split()[1])
            return round(kib * 1024 / 1_000_000, 1)
    return None
