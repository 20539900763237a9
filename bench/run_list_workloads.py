"""Run-list figures of `make bench`: pages of GET /workflows over a million stored runs, through the real gateway.

A system starts as `make run` starts it (bench/system.py) on a database of its own, filled
before its services start with `runs` finished runs (bench/run_list_seed.py). Each view of the
list (a filter, or a page deep in the list reached by following its cursors) is then asked
`requests` times in a row through the REST gateway with a caseworker's token, so that the role
filter (the templates a caseworker may read) is part of every query, as it is in production.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from bench.audit_workloads import Latencies
from bench.rest_client import RestClient
from bench.run_list_seed import RunListShape, seed_run_list
from bench.system import RunningSystem, run_with_system, stderr_progress
from civicflow.auth.principals import Role
from civicflow.launch.supervisor import RunOutcome

RUN_LIST_P50_TARGET_MS = 20.0
PAGE = 50
DEEP_PAGE = 20  # the page reached by following this many cursors
CITIZEN = "CIT-0000042"
ACTOR = "intake-7"
REQUEST_TIMEOUT_SECONDS = 60.0
# What a caseworker may read (templates/*.json allowed_roles): the role filter every page carries.
CASEWORKER_TEMPLATES = frozenset({"eligibility_check", "benefit_application", "appeal_processing"})


def bench_shape(runs: int) -> RunListShape:
    """A million runs of four templates by 50 people, about ten a citizen, the newest made at the seeding."""
    return RunListShape(
        runs=runs,
        newest=datetime.now(UTC).replace(microsecond=0),
        actors=tuple(f"intake-{number}" for number in range(1, 51)),
        citizens=max(1, runs // 10),
    )


@dataclass(frozen=True)
class ListView:
    label: str
    params: dict[str, str]
    pages_deep: int = 0


VIEWS = (
    ListView("status=failed", {"status": "failed"}),
    ListView("template_id=eligibility_check", {"template_id": "eligibility_check"}),
    ListView(f"citizen_id={CITIZEN}", {"citizen_id": CITIZEN}),
    ListView(f"actor={ACTOR}", {"actor": ACTOR}),
    ListView(f"status=failed, page {DEEP_PAGE + 1}", {"status": "failed"}, pages_deep=DEEP_PAGE),
)


@dataclass(frozen=True)
class ViewTiming:
    view: str
    latencies: Latencies
    items: int


@dataclass(frozen=True)
class RunListFigures:
    runs: int
    seed_seconds: float
    views: tuple[ViewTiming, ...]


def measure_run_list(*, runs: int, requests: int, progress: Callable[[str], None]) -> tuple[RunListFigures, RunOutcome]:
    shape = bench_shape(runs)
    seeding: list[float] = []

    def seed(owner_url: str) -> None:
        progress(f"run list: seeding {runs:,} finished runs")
        started = time.perf_counter()
        seed_run_list(owner_url, shape)
        seeding.append(time.perf_counter() - started)

    views, outcome = run_with_system(
        lambda system: _measure(system, shape, requests=requests, progress=progress),
        progress=progress,
        before_start=seed,
    )
    return RunListFigures(runs=runs, seed_seconds=seeding[0], views=views), outcome


def _measure(
    system: RunningSystem, shape: RunListShape, *, requests: int, progress: Callable[[str], None]
) -> tuple[ViewTiming, ...]:
    progress(f"run list: {requests} pages of {PAGE} per view, through REST")
    token = system.tokens[Role.CASEWORKER]
    with RestClient(system.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS, token=token) as client:
        return tuple(_time_view(client, view, requests, expected_items(shape, view)) for view in VIEWS)


def _page(client: RestClient, params: dict[str, str]) -> dict[str, Any]:
    path = f"/workflows?{urlencode(params)}"
    reply = client.get(path)
    if reply.status_code != 200:
        raise RuntimeError(f"GET {path} answered HTTP {reply.status_code}: {reply.text[:200]}")
    body: dict[str, Any] = reply.json()
    return body


def _time_view(client: RestClient, view: ListView, requests: int, expected: int) -> ViewTiming:
    params = {**view.params, "limit": str(PAGE)}
    for _ in range(view.pages_deep):
        params["cursor"] = _page(client, params)["next_cursor"]
    latencies, sizes = [], set()
    for _ in range(requests):
        started = time.perf_counter()
        body = _page(client, params)
        latencies.append(time.perf_counter() - started)
        sizes.add(len(body["items"]))
    if sizes != {expected}:
        raise RuntimeError(f"run list {view.label}: pages of {sorted(sizes)} runs, not {expected}")
    return ViewTiming(view=view.label, latencies=Latencies(tuple(latencies)), items=expected)


def expected_items(shape: RunListShape, view: ListView) -> int:
    """How many runs the timed page of `view` holds for a caseworker, from the seeded shape alone."""
    if "citizen_id" not in view.params:
        return PAGE  # every other view lists far more runs than its pages reach
    listed = sum(
        1
        for n in range(shape.runs)
        if shape.citizen_of(n) == view.params["citizen_id"] and shape.template_of(n) in CASEWORKER_TEMPLATES
    )
    return min(PAGE, listed)


def run_list_json(figures: RunListFigures) -> dict[str, Any]:
    first = figures.views[0].latencies
    return {
        "runs": figures.runs,
        "seed_s": figures.seed_seconds,
        "token": "caseworker",
        "views": [
            {
                "view": timing.view,
                "requests": len(timing.latencies.seconds),
                "items": timing.items,
                "p50_ms": timing.latencies.ms(50),
                "p95_ms": timing.latencies.ms(95),
                "p99_ms": timing.latencies.ms(99),
            }
            for timing in figures.views
        ],
        "target_p50_ms": RUN_LIST_P50_TARGET_MS,
        "met": first.ms(50) < RUN_LIST_P50_TARGET_MS,
    }


def run_list_table(figures: RunListFigures) -> str:
    document = run_list_json(figures)
    verdict = "met" if document["met"] else "MISSED"
    lines = [
        f"run list: {figures.runs:,} stored runs (seeded in {figures.seed_seconds:.1f} s), GET /workflows pages of "
        f"{PAGE}, a caseworker's token",
        f"  {'':<40}{'items':>6}  {'p50 ms':>8}  {'p95 ms':>8}  {'p99 ms':>8}",
    ]
    for row in document["views"]:
        target = f"target p50 < {RUN_LIST_P50_TARGET_MS:g} ms {verdict}" if row is document["views"][0] else ""
        lines.append(
            f"  {row['view']:<40}{row['items']:>6}  {row['p50_ms']:>8.2f}  {row['p95_ms']:>8.2f}  "
            f"{row['p99_ms']:>8.2f}  {target}".rstrip()
        )
    return "\n".join(lines)


def run_count_argument(text: str) -> int:
    """argparse type of the seeded runs: 0 (skip the run-list figures) or at least one deep page of failed runs."""
    runs = int(text)
    least = (DEEP_PAGE + 1) * PAGE * 10  # one run in ten is failed
    if runs != 0 and runs < least:
        raise argparse.ArgumentTypeError(f"the run list's size is 0 (skip) or at least {least}")
    return runs


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.run_list_workloads`: the run-list figures alone (`make bench` prints them too)."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_list_workloads", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=run_count_argument, default=1_000_000, help="finished runs seeded (default: 1000000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed pages per view (default: 200)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    if arguments.runs == 0:
        return 0
    figures, outcome = measure_run_list(runs=arguments.runs, requests=arguments.requests, progress=stderr_progress)
    print(json.dumps(run_list_json(figures), indent=2) if arguments.json else run_list_table(figures))
    return 0 if outcome.clean else 1


if __name__ == "__main__":
    sys.exit(main())
