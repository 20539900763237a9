"""The review-queue benchmark in a small configuration: full pages of a seeded queue, and the memory of two starts."""

from __future__ import annotations

import pytest

from bench.review_workloads import PAGE, QUERIES, measure_reviews, reviews_json, reviews_table

pytestmark = pytest.mark.bench

OPEN_TASKS, REQUESTS = 1000, 5


@pytest.mark.usefixtures("on_test_server")
def test_pages_of_the_seeded_queue_are_timed_on_both_transports_and_the_orchestrators_memory_compared() -> None:
    progress: list[str] = []

    # measure_reviews raises if a page does not hold the tasks the seeded queue puts on it.
    figures, outcomes = measure_reviews(open_tasks=OPEN_TASKS, requests=REQUESTS, progress=progress.append)

    assert all(outcome.clean for outcome in outcomes)
    assert figures.waiting_runs == OPEN_TASKS + 10
    assert [(timing.query, timing.transport) for timing in figures.pages] == [
        (query.label, transport) for query in QUERIES for transport in ("REST", "gRPC")
    ]
    assert all(len(timing.latencies.seconds) == REQUESTS for timing in figures.pages)
    assert figures.pages[0].items == PAGE
    assert figures.idle_rss_mb is not None and figures.loaded_rss_mb is not None
    document = reviews_json(figures)
    assert document["orchestrator_rss"]["comparison"] == "two fresh starts, the same calls"
    assert "review queue: 1,000 open tasks (1,010 waiting runs" in reviews_table(figures)
    assert any("seeding 1,010 waiting runs" in line for line in progress)
