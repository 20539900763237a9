"""Review-queue figures of `make bench`: a page of a 100,000-task queue, and what parked runs cost the orchestrator.

Two systems start as `make run` starts them (bench/system.py), each on a database of its own:
one with no review tasks, one filled before its services start with `open_tasks` waiting runs
and their tasks (bench/review_queue_seed.py). Both then get the same calls, in the same order:
an exercise (eligibility checks, pages of the queue, the runs on them), the timed pages, the
exercise again. The orchestrator's resident memory after that is compared between the two
fresh starts rather than in one process before and after seeding, so that whatever an
orchestrator does with the waiting runs it finds when it starts (resuming, sweeping) is in the
figure. Pages are timed through the REST gateway with a caseworker's token, and over gRPC
(ListReviews) with the same token, which shows what of a page is the gateway's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.audit_workloads import Latencies
from bench.memory import rss_mb
from bench.rest_client import RestClient
from bench.review_queue_seed import ASSIGNEES, ReviewQueueShape, review_step, seed_review_queue
from bench.system import RunningSystem, run_with_system, stderr_progress
from bench.workloads import time_eligibility_checks
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.launch.supervisor import RunOutcome
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc

QUEUE_P50_TARGET_MS = 20.0
RSS_TARGET_RATIO = 1.10
PAGE = 50
FILTERED_SCHEME = "scheme_beta"
# The exercise both systems get before their memory is read.
EXERCISE_CHECKS = 50
EXERCISE_PAGES = 10
# Time for the orchestrator's background loops (lease renewal, sweeps) to pass over the runs at least once.
SETTLE_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class QueueQuery:
    """One view of the queue, as the REST route takes it and as ListReviews does."""

    label: str
    rest: str
    grpc: orchestrator_pb2.ListReviewsRequest
    # Which seeded tasks it lists, by (scheme, status, assignee): what a page of it must hold.
    lists: Callable[[str, str, str | None], bool]


QUERIES = (
    QueueQuery(
        "status=open",
        f"/reviews?status=open&limit={PAGE}",
        orchestrator_pb2.ListReviewsRequest(status=orchestrator_pb2.REVIEW_STATUS_OPEN, limit=PAGE),
        lambda scheme, status, assignee: status == "open",
    ),
    QueueQuery(
        f"status=open, scheme_name={FILTERED_SCHEME}",
        f"/reviews?status=open&scheme_name={FILTERED_SCHEME}&limit={PAGE}",
        orchestrator_pb2.ListReviewsRequest(
            status=orchestrator_pb2.REVIEW_STATUS_OPEN, scheme_name=FILTERED_SCHEME, limit=PAGE
        ),
        lambda scheme, status, assignee: status == "open" and scheme == FILTERED_SCHEME,
    ),
    QueueQuery(
        "status=claimed, assignee=me",
        f"/reviews?status=claimed&assignee=me&limit={PAGE}",
        orchestrator_pb2.ListReviewsRequest(status=orchestrator_pb2.REVIEW_STATUS_CLAIMED, assignee="me", limit=PAGE),
        # "me" is the caseworker whose token the pages are asked with.
        lambda scheme, status, assignee: status == "claimed" and assignee == ASSIGNEES[0],
    ),
)


@dataclass(frozen=True)
class PageTiming:
    query: str
    transport: str  # "REST" or "gRPC"
    latencies: Latencies
    items: int  # on each page answered


@dataclass(frozen=True)
class ReviewFigures:
    open_tasks: int
    waiting_runs: int
    seed_seconds: float
    pages: tuple[PageTiming, ...]
    # The orchestrator's resident memory (VmRSS, MB) after the same calls: with no review tasks, and seeded.
    idle_rss_mb: float | None
    loaded_rss_mb: float | None

    @property
    def rss_ratio(self) -> float | None:
        if self.idle_rss_mb is None or self.loaded_rss_mb is None:
            return None
        return self.loaded_rss_mb / self.idle_rss_mb


@dataclass(frozen=True)
class _SystemFigures:
    pages: tuple[PageTiming, ...]
    orchestrator_rss_mb: float | None


def measure_reviews(
    *, open_tasks: int, requests: int, progress: Callable[[str], None]
) -> tuple[ReviewFigures, list[RunOutcome]]:
    """The figures, and how each of the two systems stopped."""
    shape = ReviewQueueShape(open_tasks=open_tasks)
    progress("review queue: a system with no review tasks")
    idle, idle_outcome = run_with_system(
        lambda system: _measure(system, shape=None, requests=requests, progress=progress),
        progress=progress,
        before_start=lambda _: None,  # a database of its own, as the seeded system has
    )
    seeding: list[float] = []

    def seed(owner_url: str) -> None:
        progress(f"review queue: seeding {shape.total:,} waiting runs and their review tasks")
        started = time.perf_counter()
        seed_review_queue(owner_url, shape, review_step())
        seeding.append(time.perf_counter() - started)

    progress(f"review queue: a system with {open_tasks:,} open review tasks")
    loaded, loaded_outcome = run_with_system(
        lambda system: _measure(system, shape=shape, requests=requests, progress=progress),
        progress=progress,
        before_start=seed,
    )
    figures = ReviewFigures(
        open_tasks=open_tasks,
        waiting_runs=shape.total,
        seed_seconds=seeding[0],
        pages=loaded.pages,
        idle_rss_mb=idle.orchestrator_rss_mb,
        loaded_rss_mb=loaded.orchestrator_rss_mb,
    )
    return figures, [idle_outcome, loaded_outcome]


def _measure(
    system: RunningSystem, *, shape: ReviewQueueShape | None, requests: int, progress: Callable[[str], None]
) -> _SystemFigures:
    """The same calls whether or not the queue is seeded; `shape` only says what the pages must hold."""
    caseworker = system.tokens[Role.CASEWORKER]
    channel = system.credentials.channel(
        system.orchestrator_target, server=ServiceIdentity.ORCHESTRATOR, token=caseworker
    )
    with RestClient(system.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS, token=caseworker) as rest, channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        _exercise(rest, first_citizen=9_100_001)
        progress(f"review queue: {requests} pages of {PAGE} per view, through REST and over gRPC")
        pages = []
        for query in QUERIES:
            expected = None if shape is None else expected_items(shape, query)
            pages.append(_time_rest(rest, query, requests, expected))
            pages.append(_time_grpc(stub, query, requests, expected))
        _exercise(rest, first_citizen=9_200_001)
        time.sleep(SETTLE_SECONDS)
        rss = rss_mb({"orchestrator": system.pids["orchestrator"]})["orchestrator"]
    return _SystemFigures(pages=tuple(pages), orchestrator_rss_mb=rss)


def _exercise(caseworker: RestClient, *, first_citizen: int) -> None:
    """Eligibility checks, pages of the queue, and each run on the first page read on its own, as a caseworker
    opens a case."""
    time_eligibility_checks(caseworker, count=EXERCISE_CHECKS, first_citizen=first_citizen)
    listed = []
    for page in range(EXERCISE_PAGES):
        listed += _rest_page(caseworker, f"/reviews?status=open&limit={PAGE}&offset={page * PAGE}")
    for task in listed[:PAGE]:
        reply = caseworker.get(f"/workflows/{task['instance_id']}")
        if reply.status_code != 200 or reply.json()["status"] != "waiting":
            raise RuntimeError(f"run {task['instance_id']} did not read as waiting: HTTP {reply.status_code}")


def _rest_page(client: RestClient, path: str) -> list[dict[str, Any]]:
    reply = client.get(path)
    if reply.status_code != 200:
        raise RuntimeError(f"GET {path} answered HTTP {reply.status_code}: {reply.text[:200]}")
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def _time_rest(client: RestClient, query: QueueQuery, requests: int, expected: int | None) -> PageTiming:
    latencies, sizes = [], set()
    for _ in range(requests):
        started = time.perf_counter()
        items = _rest_page(client, query.rest)
        latencies.append(time.perf_counter() - started)
        sizes.add(len(items))
    return _timing(query, "REST", latencies, sizes, expected)


def _time_grpc(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub, query: QueueQuery, requests: int, expected: int | None
) -> PageTiming:
    latencies, sizes = [], set()
    for _ in range(requests):
        started = time.perf_counter()
        reply = stub.ListReviews(query.grpc, timeout=REQUEST_TIMEOUT_SECONDS)
        latencies.append(time.perf_counter() - started)
        sizes.add(len(reply.items))
    return _timing(query, "gRPC", latencies, sizes, expected)


def _timing(
    query: QueueQuery, transport: str, latencies: list[float], sizes: set[int], expected: int | None
) -> PageTiming:
    if expected is not None and sizes != {expected}:
        raise RuntimeError(f"{query.label} over {transport}: pages of {sorted(sizes)} items, not {expected}")
    return PageTiming(query=query.label, transport=transport, latencies=Latencies(tuple(latencies)), items=max(sizes))


def expected_items(shape: ReviewQueueShape, query: QueueQuery) -> int:
    """How many tasks the first page of `query` holds in a queue seeded as `shape`."""
    return min(PAGE, sum(count for key, count in shape.tasks_by().items() if query.lists(*key)))


def reviews_json(figures: ReviewFigures) -> dict[str, Any]:
    def summary(timing: PageTiming) -> dict[str, Any]:
        latencies = timing.latencies
        return {
            "query": timing.query,
            "transport": timing.transport,
            "requests": len(latencies.seconds),
            "items": timing.items,
            "p50_ms": latencies.ms(50),
            "p95_ms": latencies.ms(95),
            "p99_ms": latencies.ms(99),
        }

    first = next(timing for timing in figures.pages if timing.transport == "REST")
    ratio = figures.rss_ratio
    return {
        "open_tasks": figures.open_tasks,
        "waiting_runs": figures.waiting_runs,
        "seed_s": figures.seed_seconds,
        "pages": [summary(timing) for timing in figures.pages],
        "target_p50_ms": QUEUE_P50_TARGET_MS,
        "met": first.latencies.ms(50) < QUEUE_P50_TARGET_MS,
        "orchestrator_rss": {
            "comparison": "two fresh starts, the same calls",
            "idle_mb": figures.idle_rss_mb,
            "waiting_mb": figures.loaded_rss_mb,
            "ratio": ratio,
            "target_ratio": RSS_TARGET_RATIO,
            "met": None if ratio is None else ratio <= RSS_TARGET_RATIO,
        },
    }


def reviews_table(figures: ReviewFigures) -> str:
    document = reviews_json(figures)
    verdict = "met" if document["met"] else "MISSED"
    lines = [
        f"review queue: {figures.open_tasks:,} open tasks ({figures.waiting_runs:,} waiting runs, "
        f"seeded in {figures.seed_seconds:.1f} s), pages of {PAGE}",
        f"  {'':<44}{'items':>6}  {'p50 ms':>8}  {'p95 ms':>8}  {'p99 ms':>8}",
    ]
    for row in document["pages"]:
        target = f"target p50 < {QUEUE_P50_TARGET_MS:g} ms {verdict}" if row is document["pages"][0] else ""
        lines.append(
            f"  {row['transport'] + ' ' + row['query']:<44}{row['items']:>6}  {row['p50_ms']:>8.2f}  "
            f"{row['p95_ms']:>8.2f}  {row['p99_ms']:>8.2f}  {target}".rstrip()
        )
    memory = document["orchestrator_rss"]
    if memory["ratio"] is None:
        lines.append("  orchestrator RSS: n/a (/proc does not tell)")
    else:
        met = "met" if memory["met"] else "MISSED"
        lines.append(
            f"  orchestrator RSS after the same calls (two fresh starts): {memory['idle_mb']:.1f} MB with no "
            f"review tasks, {memory['waiting_mb']:.1f} MB with {figures.waiting_runs:,} waiting runs: "
            f"{memory['ratio']:.2f}x (target <= {RSS_TARGET_RATIO:g}x {met})"
        )
    return "\n".join(lines)


def queue_size_argument(text: str) -> int:
    """argparse type of the seeded queue's size: 0 (skip the review figures) or at least one page."""
    size = int(text)
    if size != 0 and size < PAGE:
        raise argparse.ArgumentTypeError(f"the review queue size is 0 (skip) or at least {PAGE}")
    return size


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.review_workloads`: the review-queue figures alone (`make bench` prints them too)."""
    parser = argparse.ArgumentParser(prog="python -m bench.review_workloads", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--open-tasks", type=queue_size_argument, default=100_000, help="open review tasks seeded (default: 100000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed pages per view and transport (default: 200)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    if arguments.open_tasks == 0:
        return 0
    figures, outcomes = measure_reviews(
        open_tasks=arguments.open_tasks, requests=arguments.requests, progress=stderr_progress
    )
    print(json.dumps(reviews_json(figures), indent=2) if arguments.json else reviews_table(figures))
    return 0 if all(outcome.clean for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
