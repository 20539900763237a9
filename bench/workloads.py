"""The measured workloads: each request goes through the gateway's REST API, and only a completed run is timed."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

IMPACT_SCHEME = "scheme_alpha"
IMPACT_PROPOSED_RULES = {"max_income": 200000}
CHECK_SCHEME = "scheme_beta"


class RunFailedError(RuntimeError):
    """A workflow run did not complete: the benchmark stops rather than time a failure."""


@dataclass(frozen=True)
class ImpactTiming:
    population: int
    warmup_runs: int
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class CheckTiming:
    total_seconds: float
    latencies_seconds: tuple[float, ...]

    def percentile_ms(self, percent: float) -> float:
        """Nearest-rank percentile: a latency some request actually had."""
        ordered = sorted(self.latencies_seconds)
        return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)] * 1000


def execute(client: httpx2.Client, template_id: str, inputs: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Runs one workflow through POST /workflows/execute; returns its wall time and its answer."""
    started = time.perf_counter()
    response = client.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RunFailedError(f"{template_id} answered HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    if body.get("status") != "completed":
        raise RunFailedError(
            f"{template_id} run {body.get('instance_id')} ended {body.get('status')}: {body.get('error')}"
        )
    return elapsed, body


def time_impact_analysis(client: httpx2.Client, *, population: int, warmup_runs: int, runs: int) -> ImpactTiming:
    inputs = {"scheme_name": IMPACT_SCHEME, "population_size": population, "proposed_rules": IMPACT_PROPOSED_RULES}
    seconds: list[float] = []
    for run in range(warmup_runs + runs):
        elapsed, body = execute(client, "impact_analysis", inputs)
        total = body["outputs"]["impact_report"]["total"]
        if total != population:
            raise RunFailedError(f"impact_analysis of {population} citizens reported a total of {total}")
        if run >= warmup_runs:
            seconds.append(elapsed)
    return ImpactTiming(population=population, warmup_runs=warmup_runs, seconds=tuple(seconds))


def time_eligibility_checks(client: httpx2.Client, *, count: int) -> CheckTiming:
    """`count` eligibility checks one after another, each for a different citizen."""
    latencies: list[float] = []
    started = time.perf_counter()
    for number in range(1, count + 1):
        elapsed, body = execute(
            client, "eligibility_check", {"citizen_id": f"CIT-{number}", "scheme_name": CHECK_SCHEME}
        )
        if not body["outputs"]["decision"]["decision"]:
            raise RunFailedError(f"eligibility_check {body['instance_id']} completed without a decision")
        latencies.append(elapsed)
    return CheckTiming(total_seconds=time.perf_counter() - started, latencies_seconds=tuple(latencies))


def peak_rss_mib(pids: dict[str, int]) -> dict[str, float | None]:
    """Peak resident memory (VmHWM) of each process so far; None where /proc does not tell (not Linux)."""
    return {name: _vm_hwm_kib(pid) for name, pid in pids.items()}


def _vm_hwm_kib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
