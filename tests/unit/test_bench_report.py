"""The benchmark's figures: nearest-rank percentiles, and the same numbers in the table and the JSON."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import BenchResults, as_json, as_table, parse_arguments
from bench.workloads import CheckTiming, ImpactTiming


def results() -> BenchResults:
    return BenchResults(
        environment={"evaluators": 1, "database": "DATABASE_URL", "python": "3.12.0", "cpus": 2},
        impact=[ImpactTiming(population=500, warmup_runs=2, seconds=(0.05, 0.04, 0.06))],
        checks=CheckTiming(total_seconds=1.0, latencies_seconds=tuple(n / 1000 for n in range(1, 101))),
        peak_rss_mib={"gateway": 64.0, "evaluator": None},
    )


def test_percentiles_are_latencies_that_were_measured() -> None:
    checks = results().checks
    assert checks.percentile_ms(50) == pytest.approx(50.0)
    assert checks.percentile_ms(99) == pytest.approx(99.0)
    assert checks.percentile_ms(100) == pytest.approx(100.0)


def test_json_and_table_carry_the_same_figures() -> None:
    figures = as_json(results())
    assert figures["impact_analysis"] == [
        {"population": 500, "warmup_runs": 2, "runs": 3, "median_s": 0.05, "min_s": 0.04, "max_s": 0.06}
    ]
    table = as_table(results())
    assert "     500     3     0.050     0.040     0.060" in table
    assert "n/a" in table  # a process whose memory could not be read


def test_populations_are_a_comma_separated_list_within_the_templates_range() -> None:
    assert parse_arguments(["--populations", "500,50000,1000000"]).populations == [500, 50000, 1000000]
    with pytest.raises(SystemExit):
        parse_arguments(["--populations", "0"])
    with pytest.raises(SystemExit):
        parse_arguments(["--populations", "1000001"])
    assert isinstance(parse_arguments([]), argparse.Namespace)
