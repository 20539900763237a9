"""The review-queue figures: what each page must hold, the targets judged, the table and the option that sizes it."""

from __future__ import annotations

import argparse

import pytest

from bench.audit_workloads import Latencies
from bench.cli import parse_arguments
from bench.review_queue_seed import ReviewQueueShape
from bench.review_workloads import (
    PAGE,
    QUERIES,
    PageTiming,
    ReviewFigures,
    expected_items,
    queue_size_argument,
    reviews_json,
    reviews_table,
)


def _figures(*, p50_ms: float, idle_mb: float | None = 120.0, loaded_mb: float | None = 126.0) -> ReviewFigures:
    latencies = Latencies(tuple([p50_ms / 1000] * 200))
    pages = tuple(
        PageTiming(query=query.label, transport=transport, latencies=latencies, items=PAGE)
        for query in QUERIES
        for transport in ("REST", "gRPC")
    )
    return ReviewFigures(
        open_tasks=100_000,
        waiting_runs=101_000,
        seed_seconds=4.2,
        pages=pages,
        idle_rss_mb=idle_mb,
        loaded_rss_mb=loaded_mb,
    )


def test_a_large_queue_fills_every_page_and_the_caseworker_holds_a_third_of_the_claimed_tasks() -> None:
    shape = ReviewQueueShape(open_tasks=100_000)

    assert [expected_items(shape, query) for query in QUERIES] == [PAGE, PAGE, PAGE]
    small = ReviewQueueShape(open_tasks=1000)  # 10 claimed tasks, in turn among 3 assignees
    assert [expected_items(small, query) for query in QUERIES] == [PAGE, PAGE, 3]


def test_the_open_queue_p50_is_judged_against_20_ms_and_the_memory_against_ten_percent() -> None:
    document = reviews_json(_figures(p50_ms=7.5))

    assert document["met"] is True and document["target_p50_ms"] == 20.0
    assert document["orchestrator_rss"]["ratio"] == pytest.approx(1.05)
    assert document["orchestrator_rss"]["met"] is True
    assert reviews_json(_figures(p50_ms=25.0))["met"] is False
    assert reviews_json(_figures(p50_ms=7.5, loaded_mb=140.0))["orchestrator_rss"]["met"] is False


def test_memory_that_proc_does_not_tell_is_not_judged() -> None:
    document = reviews_json(_figures(p50_ms=7.5, idle_mb=None))

    assert document["orchestrator_rss"]["ratio"] is None and document["orchestrator_rss"]["met"] is None
    assert "orchestrator RSS: n/a" in reviews_table(_figures(p50_ms=7.5, idle_mb=None))


def test_the_table_shows_every_view_on_both_transports_and_both_verdicts() -> None:
    table = reviews_table(_figures(p50_ms=7.5, loaded_mb=140.0))

    assert "review queue: 100,000 open tasks (101,000 waiting runs, seeded in 4.2 s), pages of 50" in table
    assert "target p50 < 20 ms met" in table
    for query in QUERIES:
        assert f"REST {query.label}" in table and f"gRPC {query.label}" in table
    assert "120.0 MB with no review tasks, 140.0 MB with 101,000 waiting runs: 1.17x (target <= 1.1x MISSED)" in table


def test_the_queue_is_skipped_with_0_or_at_least_a_page() -> None:
    assert queue_size_argument("0") == 0
    assert queue_size_argument("1000") == 1000
    with pytest.raises(argparse.ArgumentTypeError):
        queue_size_argument("10")


def test_make_bench_seeds_a_hundred_thousand_tasks_unless_told_otherwise() -> None:
    assert parse_arguments([]).review_queue_size == 100_000
    assert parse_arguments(["--review-queue-size", "0"]).review_queue_size == 0
    with pytest.raises(SystemExit):
        parse_arguments(["--review-requests", "0"])
