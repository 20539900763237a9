"""The run-list figures: what each page must hold, the target judged, the table and the options that size it."""

from __future__ import annotations

import argparse

import pytest

from bench.audit_workloads import Latencies
from bench.cli import parse_arguments
from bench.run_list_seed import RunListShape
from bench.run_list_workloads import (
    CASEWORKER_TEMPLATES,
    PAGE,
    VIEWS,
    RunListFigures,
    ViewTiming,
    bench_shape,
    expected_items,
    run_count_argument,
    run_list_json,
    run_list_table,
)


def _figures(p50_ms: float) -> RunListFigures:
    latencies = Latencies(tuple([p50_ms / 1000] * 200))
    return RunListFigures(
        runs=1_000_000,
        seed_seconds=30.5,
        views=tuple(ViewTiming(view=view.label, latencies=latencies, items=PAGE) for view in VIEWS),
    )


def test_a_million_runs_fill_every_page_but_one_citizens_ten() -> None:
    shape = bench_shape(1_000_000)

    assert [expected_items(shape, view) for view in VIEWS] == [PAGE, PAGE, 10, PAGE, PAGE]


def test_the_seeded_shape_spreads_templates_actors_and_statuses() -> None:
    shape = RunListShape(runs=1000, newest=bench_shape(1).newest)

    assert {shape.template_of(n) for n in range(4)} == set(shape.templates)
    assert [shape.status_of(n) for n in (0, 1, 10)] == ["failed", "completed", "failed"]
    assert shape.created_at_of(0) == shape.created_at_of(1) > shape.created_at_of(2)
    assert shape.citizen_of(3) is None  # an impact analysis names no citizen
    assert {shape.template_of(n) for n in range(1000) if shape.status_of(n) == "failed"} <= CASEWORKER_TEMPLATES


def test_the_first_view_is_judged_against_20_ms() -> None:
    assert run_list_json(_figures(4.0))["met"] is True
    assert run_list_json(_figures(25.0))["met"] is False
    table = run_list_table(_figures(4.0))
    assert "run list: 1,000,000 stored runs (seeded in 30.5 s), GET /workflows pages of 50" in table
    assert "target p50 < 20 ms met" in table
    for view in VIEWS:
        assert view.label in table


def test_make_bench_seeds_a_million_runs_unless_told_otherwise() -> None:
    assert parse_arguments([]).run_list_size == 1_000_000
    assert parse_arguments(["--run-list-size", "0"]).run_list_size == 0
    assert run_count_argument("20000") == 20_000
    with pytest.raises(argparse.ArgumentTypeError):
        run_count_argument("100")
    with pytest.raises(SystemExit):
        parse_arguments(["--run-list-requests", "0"])
