"""Command line of the benchmark: which workloads to run, and the figures as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

import httpx2

from bench.system import LOG_FILE, RunningSystem, run_with_system, stderr_progress
from bench.workloads import CheckTiming, ImpactTiming, peak_rss_mib, time_eligibility_checks, time_impact_analysis

# A million-citizen impact analysis takes a while; the gateway's own deadline is 600 s.
REQUEST_TIMEOUT_SECONDS = 660.0


@dataclass(frozen=True)
class BenchResults:
    environment: dict[str, Any]
    impact: list[ImpactTiming]
    checks: CheckTiming
    peak_rss_mib: dict[str, float | None]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="End-to-end timings through the REST API.")
    parser.add_argument(
        "--populations",
        type=_populations,
        default=[500],
        help="comma-separated impact_analysis population sizes, 1 to 1000000 (default: 500)",
    )
    parser.add_argument("--warmup-runs", type=int, default=2, help="untimed impact_analysis runs per population")
    parser.add_argument("--runs", type=int, default=9, help="timed impact_analysis runs per population")
    parser.add_argument("--checks", type=int, default=200, help="sequential eligibility_check runs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    if arguments.runs < 1 or arguments.checks < 1 or arguments.warmup_runs < 0:
        parser.error("--runs and --checks must be at least 1, --warmup-runs at least 0")
    return arguments


def _populations(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or not all(1 <= size <= 1_000_000 for size in sizes):
        raise argparse.ArgumentTypeError("population sizes are integers from 1 to 1000000")
    return sizes


def measure(system: RunningSystem, arguments: argparse.Namespace) -> BenchResults:
    with httpx2.Client(base_url=system.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        impact = []
        for population in arguments.populations:
            stderr_progress(
                f"impact_analysis of {population} citizens: {arguments.warmup_runs} + {arguments.runs} runs"
            )
            impact.append(
                time_impact_analysis(
                    client, population=population, warmup_runs=arguments.warmup_runs, runs=arguments.runs
                )
            )
        stderr_progress(f"{arguments.checks} sequential eligibility_check runs")
        checks = time_eligibility_checks(client, count=arguments.checks)
    environment = {
        "evaluators": system.evaluators,
        "database": system.database,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    return BenchResults(environment=environment, impact=impact, checks=checks, peak_rss_mib=peak_rss_mib(system.pids))


def as_json(results: BenchResults) -> dict[str, Any]:
    return {
        "environment": results.environment,
        "impact_analysis": [
            {
                "population": timing.population,
                "warmup_runs": timing.warmup_runs,
                "runs": len(timing.seconds),
                "median_s": timing.median,
                "min_s": min(timing.seconds),
                "max_s": max(timing.seconds),
            }
            for timing in results.impact
        ],
        "eligibility_check": {
            "runs": len(results.checks.latencies_seconds),
            "total_s": results.checks.total_seconds,
            "p50_ms": results.checks.percentile_ms(50),
            "p99_ms": results.checks.percentile_ms(99),
        },
        "peak_rss_mib": results.peak_rss_mib,
    }


def as_table(results: BenchResults) -> str:
    figures = as_json(results)
    environment = results.environment
    evaluators = f"{environment['evaluators']} evaluator{'s' if environment['evaluators'] != 1 else ''}"
    lines = [
        f"Civicflow benchmark: {evaluators}, {environment['database']}, Python {environment['python']}, "
        f"{environment['cpus']} CPUs",
        "",
        "impact_analysis through REST (seconds per run)",
        f"  {'population':>10}  {'runs':>4}  {'median':>8}  {'min':>8}  {'max':>8}",
    ]
    for row in figures["impact_analysis"]:
        lines.append(
            f"  {row['population']:>10}  {row['runs']:>4}  {row['median_s']:>8.3f}  {row['min_s']:>8.3f}  {row['max_s']:>8.3f}"
        )
    checks = figures["eligibility_check"]
    lines += [
        "",
        f"eligibility_check through REST ({checks['runs']} sequential runs)",
        f"  {'total s':>8}  {'p50 ms':>8}  {'p99 ms':>8}",
        f"  {checks['total_s']:>8.3f}  {checks['p50_ms']:>8.2f}  {checks['p99_ms']:>8.2f}",
        "",
        "peak RSS (VmHWM, MiB)",
    ]
    for name, mib in figures["peak_rss_mib"].items():
        lines.append(f"  {name:<16}{'n/a' if mib is None else f'{mib:8.1f}'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # The supervisor's own warnings go to stderr; stdout carries only the figures.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    results, outcome = run_with_system(lambda system: measure(system, arguments), progress=stderr_progress)
    print(json.dumps(as_json(results), indent=2) if arguments.json else as_table(results))
    if not outcome.clean:
        stderr_progress(f"the services did not stop cleanly {dict(outcome.returncodes)}; see {LOG_FILE}")
        return 1
    return 0
