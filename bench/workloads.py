"""The measured workloads: each request goes through the gateway's REST API, and only a completed run is timed."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

IMPACT_SCHEME = "scheme_alpha"
IMPACT_PROPOSED_RULES = {"max_income": 200000}
CHECK_SCHEME = "scheme_beta"


class JsonReply(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class JsonPoster(Protocol):
    """What the workloads send requests through: bench.rest_client.RestClient (with a bearer token), or the tests' REST
    client of the real app."""

    def post(self, url: str, *, json: Any) -> JsonReply: ...


class RunFailedError(RuntimeError):
    """A workflow run did not complete: the benchmark stops rather than time a failure."""


def percentile_ms(latencies_seconds: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: a latency some request actually had."""
    ordered = sorted(latencies_seconds)
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)] * 1000


@dataclass(frozen=True)
class ImpactTiming:
    population: int
    warmup_runs: int
    seconds: tuple[float, ...]
    evaluators: int = 1
    # Peak RSS of each service during these runs, in MB; filled in by the caller, which knows the processes.
    peak_rss_mb: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class CheckTiming:
    """Eligibility checks sent by `clients` clients at once (1: one after another)."""

    total_seconds: float
    latencies_seconds: tuple[float, ...]
    clients: int = 1
    peak_rss_mb: Mapping[str, float | None] = field(default_factory=dict)

    def percentile_ms(self, percent: float) -> float:
        return percentile_ms(self.latencies_seconds, percent)

    @property
    def workflows_per_second(self) -> float:
        return len(self.latencies_seconds) / self.total_seconds


def execute(client: JsonPoster, template_id: str, inputs: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Runs one workflow through POST /workflows/execute (sync mode); returns its wall time and its answer."""
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


def time_impact_analysis(client: JsonPoster, *, population: int, warmup_runs: int, runs: int) -> ImpactTiming:
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


def check_eligibility(client: JsonPoster, number: int) -> float:
    elapsed, body = execute(client, "eligibility_check", {"citizen_id": f"CIT-{number}", "scheme_name": CHECK_SCHEME})
    if not body["outputs"]["decision"]["decision"]:
        raise RunFailedError(f"eligibility_check {body['instance_id']} completed without a decision")
    return elapsed


def time_eligibility_checks(client: JsonPoster, *, count: int, first_citizen: int = 1) -> CheckTiming:
    """`count` eligibility checks one after another, each for a different citizen."""
    started = time.perf_counter()
    latencies = [check_eligibility(client, number) for number in range(first_citizen, first_citizen + count)]
    return CheckTiming(total_seconds=time.perf_counter() - started, latencies_seconds=tuple(latencies))


def time_concurrent_checks(clients: Sequence[JsonPoster], *, count: int, first_citizen: int = 1) -> CheckTiming:
    """`count` eligibility checks sent by len(clients) threads at once, each with its own client.

    Each thread sends its next request as soon as its previous one is answered (a closed
    loop), so the figure is the throughput the system sustains with that many callers.
    """
    numbers = iter(range(first_citizen, first_citizen + count))
    lock = threading.Lock()

    def next_number() -> int | None:
        with lock:
            return next(numbers, None)

    def client_loop(client: JsonPoster) -> list[float]:
        latencies = []
        while (number := next_number()) is not None:
            latencies.append(check_eligibility(client, number))
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix="bench-client") as pool:
        per_client = list(pool.map(client_loop, clients))
    total = time.perf_counter() - started
    latencies = tuple(latency for client_latencies in per_client for latency in client_latencies)
    return CheckTiming(total_seconds=total, latencies_seconds=latencies, clients=len(clients))
