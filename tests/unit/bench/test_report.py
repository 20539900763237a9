"""The benchmark's figures: nearest-rank percentiles, targets beside the figures, the same numbers in table and JSON."""

from __future__ import annotations

import pytest

from bench.report import BenchResults, ScalingTiming, as_json, as_table
from bench.rules_workloads import CriteriaCheckTiming, VersionedImpactTiming
from bench.workloads import CheckTiming, ImpactTiming

RSS = {"audit_service": 80.0, "evaluator": 60.0, "orchestrator": 250.5, "gateway": None}


def results(*, scaling: bool = True) -> BenchResults:
    one = ImpactTiming(population=1_000_000, warmup_runs=0, seconds=(12.0, 11.0, 13.0), peak_rss_mb=RSS)
    two = ImpactTiming(
        population=1_000_000,
        warmup_runs=0,
        seconds=(8.0, 7.5, 9.0),
        evaluators=2,
        peak_rss_mb={"audit_service": 80.0, "evaluator.0": 61.0, "evaluator.1": 62.0, "orchestrator": 310.0},
    )
    return BenchResults(
        environment={
            "database": "DATABASE_URL",
            "python": "3.12.0",
            "cpus": 2,
            "peak_rss": "during each workload",
            "yardstick_ms": {"before": 41.6, "after": 58.2},
        },
        impact=[
            ImpactTiming(population=500, warmup_runs=2, seconds=(0.05, 0.04, 0.06), peak_rss_mb=RSS),
            ImpactTiming(population=50_000, warmup_runs=1, seconds=(0.5, 0.55, 0.58), peak_rss_mb=RSS),
            one,
        ],
        checks=CheckTiming(total_seconds=1.0, latencies_seconds=tuple(n / 1000 for n in range(1, 101))),
        concurrent_checks=CheckTiming(total_seconds=2.0, latencies_seconds=(0.05,) * 800, clients=16),
        scaling=ScalingTiming(one=one, two=two) if scaling else None,
    )


def test_percentiles_are_latencies_that_were_measured() -> None:
    checks = results().checks
    assert checks.percentile_ms(50) == pytest.approx(50.0)
    assert checks.percentile_ms(99) == pytest.approx(99.0)
    assert checks.percentile_ms(100) == pytest.approx(100.0)


def test_each_figure_is_judged_against_its_target() -> None:
    figures = as_json(results())
    small, medium, large = figures["impact_analysis"]
    assert (small["median_s"], small["target_s"], small["time_met"], small["rss_met"]) == (0.05, 0.05, False, None)
    assert (medium["time_met"], medium["target_rss_mb"], medium["rss_met"]) == (True, 200.0, False)
    assert (large["time_met"], large["rss_met"]) == (False, True)
    sequential, concurrent = figures["eligibility_check"]["sequential"], figures["eligibility_check"]["concurrent"]
    assert (sequential["p50_ms"], sequential["met"]) == (pytest.approx(50.0), False)
    assert (concurrent["workflows_per_s"], concurrent["met"]) == (400.0, True)
    assert figures["evaluator_scaling"]["speedup"] == pytest.approx(12.0 / 8.0)
    assert figures["evaluator_scaling"]["two_evaluators"]["rss_met"] is False


def test_the_table_shows_the_json_figures_with_verdicts_and_memory() -> None:
    table = as_table(results())
    assert "         500      1     3     0.050     0.040     0.060  < 0.05 s MISSED" in table
    assert "< 200 MB MISSED" in table and "< 300 MB met" in table
    # Replicas share the evaluator column; a process whose memory could not be read says so.
    assert "61/62" in table
    assert "n/a" in table
    assert "400.0" in table and "> 300/s met" in table
    assert "speed-up 1.50x" in table
    assert "42 ms before, 58 ms after" in table


def test_without_scaling_or_concurrency_those_parts_are_left_out() -> None:
    partial = BenchResults(**{**results(scaling=False).__dict__, "concurrent_checks": None})
    assert as_json(partial)["evaluator_scaling"] is None
    table = as_table(partial)
    assert "speed-up" not in table and "at once" not in table


def test_the_rules_figures_are_ratios_of_workloads_measured_side_by_side() -> None:
    with_rules = BenchResults(
        **{
            **results().__dict__,
            "versioned_impact": VersionedImpactTiming(
                population=1_000_000, alpha_seconds=(2.0, 3.0, 2.5), delta_seconds=(3.0, 3.5, 4.0)
            ),
            "criteria_checks": CriteriaCheckTiming(
                three_latencies=tuple(n / 1000 for n in range(1, 101)),
                ten_latencies=tuple(n / 1000 + 0.01 for n in range(1, 101)),
            ),
        }
    )
    rules = as_json(with_rules)["rules"]
    versioned, criteria = rules["versioned_impact"], rules["criteria_checks"]
    assert versioned["ratio"] == pytest.approx(3.5 / 2.5)
    assert versioned["met"] is True, "1.4x is within 1.5x, and 3.5 s under 5 s"
    assert (criteria["three_criteria_p50_ms"], criteria["ten_criteria_p50_ms"]) == (
        pytest.approx(50.0),
        pytest.approx(60.0),
    )
    assert criteria["met"] is False, "1.2x is more than the 10 % allowed"
    table = as_table(with_rules)
    assert "scheme_delta draft version 3.500 s: 1.40x (target <= 1.5x and < 5 s met)" in table
    assert "10 criteria p50 60.00 ms: 1.20x (target <= 1.1x MISSED)" in table


def test_without_the_rules_figures_they_are_left_out() -> None:
    rules = as_json(results())["rules"]
    assert rules == {"versioned_impact": None, "criteria_checks": None}
    assert "rules as data" not in as_table(results())
