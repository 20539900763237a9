"""The benchmark's figures with the targets of issue 5 beside them, as a plain-text table or as JSON."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.rules_workloads import CriteriaCheckTiming, VersionedImpactTiming
from bench.workloads import CheckTiming, ImpactTiming, percentile_ms

# Issue 5's targets on the 2-core development machine: seconds per run (median) and peak RSS of any one service.
IMPACT_TARGET_SECONDS = {500: 0.05, 50_000: 0.6, 1_000_000: 10.0}
IMPACT_TARGET_RSS_MB = {50_000: 200.0, 1_000_000: 300.0}
CHECK_P50_TARGET_MS = 10.0
THROUGHPUT_TARGET_PER_SECOND = 300.0
SERVICES = ("audit_service", "evaluator", "orchestrator", "gateway")
# Issue 14's targets: scheme_delta against a draft version in at most 1.5x the time of scheme_alpha with
# proposed_rules, and under 5 s, at a million citizens; a ten-criterion decision's p50 within 10 % of three's.
VERSIONED_IMPACT_TARGET_RATIO = 1.5
VERSIONED_IMPACT_TARGET_SECONDS = 5.0
CRITERIA_CHECK_TARGET_RATIO = 1.10


@dataclass(frozen=True)
class ScalingTiming:
    """The same impact analysis with one evaluator and with two: the speed-up from a second replica."""

    one: ImpactTiming
    two: ImpactTiming

    @property
    def speedup(self) -> float:
        return self.one.median / self.two.median


@dataclass(frozen=True)
class BenchResults:
    environment: dict[str, Any]
    impact: list[ImpactTiming]
    checks: CheckTiming
    concurrent_checks: CheckTiming | None
    scaling: ScalingTiming | None
    versioned_impact: VersionedImpactTiming | None = None
    criteria_checks: CriteriaCheckTiming | None = None


def verdict(met: bool | None) -> str:
    return "-" if met is None else "met" if met else "MISSED"


def largest_rss(peak_rss_mb: Mapping[str, float | None]) -> float | None:
    known = [mb for mb in peak_rss_mb.values() if mb is not None]
    return max(known) if known else None


def _impact_json(timing: ImpactTiming) -> dict[str, Any]:
    target_s = IMPACT_TARGET_SECONDS.get(timing.population)
    target_mb = IMPACT_TARGET_RSS_MB.get(timing.population)
    largest = largest_rss(timing.peak_rss_mb)
    return {
        "population": timing.population,
        "evaluators": timing.evaluators,
        "warmup_runs": timing.warmup_runs,
        "runs": len(timing.seconds),
        "median_s": timing.median,
        "min_s": min(timing.seconds),
        "max_s": max(timing.seconds),
        "target_s": target_s,
        "time_met": None if target_s is None else timing.median < target_s,
        "peak_rss_mb": dict(timing.peak_rss_mb),
        "target_rss_mb": target_mb,
        "rss_met": None if target_mb is None or largest is None else largest < target_mb,
    }


def _checks_json(timing: CheckTiming) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "clients": timing.clients,
        "runs": len(timing.latencies_seconds),
        "total_s": timing.total_seconds,
        "workflows_per_s": timing.workflows_per_second,
        "p50_ms": timing.percentile_ms(50),
        "p99_ms": timing.percentile_ms(99),
        "peak_rss_mb": dict(timing.peak_rss_mb),
    }
    if timing.clients == 1:
        figures |= {"target_p50_ms": CHECK_P50_TARGET_MS, "met": figures["p50_ms"] < CHECK_P50_TARGET_MS}
    else:
        target = THROUGHPUT_TARGET_PER_SECOND
        figures |= {"target_workflows_per_s": target, "met": figures["workflows_per_s"] > target}
    return figures


def _versioned_impact_json(timing: VersionedImpactTiming) -> dict[str, Any]:
    delta_median = statistics.median(timing.delta_seconds)
    return {
        "population": timing.population,
        "runs": len(timing.delta_seconds),
        "alpha_proposed_rules_median_s": statistics.median(timing.alpha_seconds),
        "delta_proposed_version_median_s": delta_median,
        "ratio": timing.ratio,
        "target_ratio": VERSIONED_IMPACT_TARGET_RATIO,
        "target_s": VERSIONED_IMPACT_TARGET_SECONDS,
        "met": timing.ratio <= VERSIONED_IMPACT_TARGET_RATIO and delta_median < VERSIONED_IMPACT_TARGET_SECONDS,
    }


def _criteria_checks_json(timing: CriteriaCheckTiming) -> dict[str, Any]:
    return {
        "runs": len(timing.ten_latencies),
        "three_criteria_p50_ms": percentile_ms(timing.three_latencies, 50),
        "ten_criteria_p50_ms": percentile_ms(timing.ten_latencies, 50),
        "ratio": timing.ratio,
        "target_ratio": CRITERIA_CHECK_TARGET_RATIO,
        "met": timing.ratio <= CRITERIA_CHECK_TARGET_RATIO,
    }


def as_json(results: BenchResults) -> dict[str, Any]:
    scaling = results.scaling
    versioned, criteria = results.versioned_impact, results.criteria_checks
    return {
        "environment": results.environment,
        "impact_analysis": [_impact_json(timing) for timing in results.impact],
        "eligibility_check": {
            "sequential": _checks_json(results.checks),
            "concurrent": None if results.concurrent_checks is None else _checks_json(results.concurrent_checks),
        },
        "evaluator_scaling": None
        if scaling is None
        else {
            "population": scaling.one.population,
            "one_evaluator": _impact_json(scaling.one),
            "two_evaluators": _impact_json(scaling.two),
            "speedup": scaling.speedup,
        },
        "rules": {
            "versioned_impact": None if versioned is None else _versioned_impact_json(versioned),
            "criteria_checks": None if criteria is None else _criteria_checks_json(criteria),
        },
    }


def _rss_cells(peak_rss_mb: Mapping[str, float | None]) -> str:
    cells = []
    for service in SERVICES:
        # Replicas (evaluator.0, evaluator.1) share a column: "61.2/60.8".
        values = [mb for name, mb in peak_rss_mb.items() if name.split(".")[0] == service]
        text = "/".join("n/a" if mb is None else f"{mb:.0f}" for mb in values) or "n/a"
        cells.append(f"{text:>{len(service)}}")
    return "  ".join(cells)


def _impact_row(row: dict[str, Any]) -> str:
    target = "" if row["target_s"] is None else f"< {row['target_s']:g} s {verdict(row['time_met'])}"
    rss_target = "" if row["target_rss_mb"] is None else f"< {row['target_rss_mb']:g} MB {verdict(row['rss_met'])}"
    return (
        f"  {row['population']:>10}  {row['evaluators']:>5}  {row['runs']:>4}  {row['median_s']:>8.3f}  "
        f"{row['min_s']:>8.3f}  {row['max_s']:>8.3f}  {target:<16}  {_rss_cells(row['peak_rss_mb'])}  {rss_target}"
    ).rstrip()


def _checks_row(label: str, row: dict[str, Any]) -> str:
    if row["clients"] == 1:
        target = f"p50 < {row['target_p50_ms']:g} ms {verdict(row['met'])}"
    else:
        target = f"> {row['target_workflows_per_s']:g}/s {verdict(row['met'])}"
    return (
        f"  {label:<12}  {row['runs']:>5}  {row['total_s']:>8.2f}  {row['workflows_per_s']:>8.1f}  "
        f"{row['p50_ms']:>7.2f}  {row['p99_ms']:>7.2f}  {target:<20}  {_rss_cells(row['peak_rss_mb'])}"
    ).rstrip()


def _yardstick_line(yardstick_ms: Mapping[str, float]) -> str:
    return (
        f"machine speed (bench/yardstick.py, lower is faster): {yardstick_ms['before']:.0f} ms before, "
        f"{yardstick_ms['after']:.0f} ms after; compare runs only when these agree"
    )


def as_table(results: BenchResults) -> str:
    figures = as_json(results)
    environment = results.environment
    rss_header = "  ".join(SERVICES)
    lines = [
        f"Civicflow benchmark: {environment['database']}, Python {environment['python']}, {environment['cpus']} CPUs; "
        f"peak RSS in MB of each service {environment['peak_rss']}",
        _yardstick_line(environment["yardstick_ms"]),
        "",
        "impact_analysis through REST, sync mode (seconds per run)",
        f"  {'population':>10}  {'evals':>5}  {'runs':>4}  {'median':>8}  {'min':>8}  {'max':>8}  {'target':<16}  "
        f"{rss_header}  RSS target",
    ]
    scaling = figures["evaluator_scaling"]
    # The run with two evaluators is listed with the others, for its memory.
    lines += [_impact_row(row) for row in figures["impact_analysis"] + ([scaling["two_evaluators"]] if scaling else [])]
    checks = figures["eligibility_check"]
    lines += [
        "",
        "eligibility_check through REST, sync mode",
        f"  {'clients':<12}  {'runs':>5}  {'total s':>8}  {'per s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'target':<20}  "
        f"{rss_header}",
        _checks_row("1 (in turn)", checks["sequential"]),
    ]
    if checks["concurrent"] is not None:
        lines.append(_checks_row(f"{checks['concurrent']['clients']} at once", checks["concurrent"]))
    if scaling is not None:
        one, two = scaling["one_evaluator"], scaling["two_evaluators"]
        lines += [
            "",
            f"evaluator replicas: impact_analysis of {scaling['population']} citizens (median of {two['runs']} runs)",
            f"  1 evaluator {one['median_s']:.3f} s, 2 evaluators {two['median_s']:.3f} s: "
            f"speed-up {scaling['speedup']:.2f}x",
        ]
    return "\n".join(lines + _rules_lines(figures["rules"]))


def _rules_lines(rules: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if (versioned := rules["versioned_impact"]) is not None:
        lines += [
            "",
            f"rules as data: impact_analysis of {versioned['population']} citizens, interleaved "
            f"(median of {versioned['runs']} runs each)",
            f"  scheme_alpha proposed_rules {versioned['alpha_proposed_rules_median_s']:.3f} s, scheme_delta draft "
            f"version {versioned['delta_proposed_version_median_s']:.3f} s: {versioned['ratio']:.2f}x "
            f"(target <= {versioned['target_ratio']:g}x and < {versioned['target_s']:g} s {verdict(versioned['met'])})",
        ]
    if (criteria := rules["criteria_checks"]) is not None:
        lines += [
            "",
            f"rules as data: sequential eligibility_check, interleaved bursts ({criteria['runs']} checks each)",
            f"  3 criteria p50 {criteria['three_criteria_p50_ms']:.2f} ms, 10 criteria p50 "
            f"{criteria['ten_criteria_p50_ms']:.2f} ms: {criteria['ratio']:.2f}x "
            f"(target <= {criteria['target_ratio']:g}x {verdict(criteria['met'])})",
        ]
    return lines
