"""Command line of the benchmark: which workloads to run, and the figures as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TypeVar

from bench.audit_workloads import audit_json, audit_table, log_size_argument, measure_audit
from bench.memory import peak_rss_mb, reset_peak_rss
from bench.report import BenchResults, ScalingTiming, as_json, as_table
from bench.rest_client import RestClient
from bench.review_workloads import measure_reviews, queue_size_argument, reviews_json, reviews_table
from bench.rules_workloads import (
    DELTA_SCHEME,
    CriteriaCheckTiming,
    VersionedImpactTiming,
    prepare_rule_versions,
    seed_document,
    time_criteria_checks,
    time_versioned_impact,
)
from bench.run_list_workloads import measure_run_list, run_count_argument, run_list_json, run_list_table
from bench.system import LOG_FILE, RunningSystem, run_with_system, stderr_progress
from bench.verify_load import measure_verify_load, verify_load_json, verify_load_table
from bench.workloads import (
    CheckTiming,
    ImpactTiming,
    time_concurrent_checks,
    time_eligibility_checks,
    time_impact_analysis,
)
from bench.yardstick import yardstick_ms
from civicflow.auth.principals import Role

T = TypeVar("T")
# A million-citizen impact analysis takes a while; the gateway's own deadline is 600 s.
REQUEST_TIMEOUT_SECONDS = 660.0
DEFAULT_POPULATIONS = [500, 50_000, 1_000_000]
# From this size on, an impact analysis gets --large-runs timed runs and no warm-up run of its own:
# the smaller populations before it have warmed the system, and each run costs seconds.
LARGE_POPULATION = 500_000
# Untimed before anything else in each system started: first connections, imports, caches.
SYSTEM_WARMUP_POPULATION = 500
SYSTEM_WARMUP_CHECKS = 20
CRITERIA_BURSTS = 8


@dataclass(frozen=True)
class MainPhase:
    """What the benchmark measured with one evaluator."""

    impact: list[ImpactTiming]
    checks: CheckTiming
    concurrent_checks: CheckTiming | None
    peak_rss_reset: bool
    versioned_impact: VersionedImpactTiming | None
    criteria_checks: CriteriaCheckTiming | None


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="End-to-end timings through the REST API, each with the peak RSS of every service.",
    )
    parser.add_argument(
        "--populations",
        type=_populations,
        default=DEFAULT_POPULATIONS,
        help="comma-separated impact_analysis population sizes, 1 to 1000000 (default: 500,50000,1000000)",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed impact_analysis runs per population (default: 5)")
    parser.add_argument(
        "--large-runs",
        type=int,
        default=3,
        help=f"at most this many timed runs of populations of {LARGE_POPULATION} or more (default: 3)",
    )
    parser.add_argument(
        "--warmup-runs",
        type=int,
        default=1,
        help=f"untimed runs per population below {LARGE_POPULATION} (default: 1)",
    )
    parser.add_argument("--checks", type=int, default=300, help="sequential eligibility_check runs (default: 300)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients for the throughput (default: 16)")
    parser.add_argument(
        "--concurrent-checks",
        type=int,
        default=1600,
        help="eligibility_check runs shared by the concurrent clients; 0 skips the throughput (default: 1600)",
    )
    parser.add_argument(
        "--scaling-population",
        type=int,
        default=None,
        help="population timed again with 2 evaluators for the speed-up (default: the largest of --populations)",
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip the run with 2 evaluators")
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="skip the rules-as-data figures (a versioned proposal, a ten-criterion decision)",
    )
    parser.add_argument(
        "--criteria-checks",
        type=int,
        default=50,
        help="eligibility checks per burst under three and under ten criteria, 8 bursts (default: 50)",
    )
    parser.add_argument(
        "--audit-log-size",
        type=log_size_argument,
        default=1_000_000,
        help="entries of the log the audit proofs are timed on; 0 skips the audit figures (default: 1000000)",
    )
    parser.add_argument(
        "--verify-load-log-size",
        type=log_size_argument,
        default=60_000,
        help="entries of the log 8 callers verify while eligibility checks are timed; 0 skips it (default: 60000)",
    )
    parser.add_argument(
        "--review-queue-size",
        type=queue_size_argument,
        default=100_000,
        help="open review tasks (waiting runs) seeded for the review queue's pages and the orchestrator's memory "
        "with them; 0 skips it (default: 100000)",
    )
    parser.add_argument(
        "--review-requests",
        type=int,
        default=200,
        help="timed pages of the review queue per view, through REST and over gRPC (default: 200)",
    )
    parser.add_argument(
        "--run-list-size",
        type=run_count_argument,
        default=1_000_000,
        help="finished runs seeded for the run list's pages (GET /workflows); 0 skips it (default: 1000000)",
    )
    parser.add_argument(
        "--run-list-requests", type=int, default=200, help="timed pages of the run list per view (default: 200)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    checked = (arguments.runs, arguments.large_runs, arguments.checks, arguments.clients, arguments.criteria_checks)
    if min(*checked, arguments.review_requests, arguments.run_list_requests) < 1:
        parser.error(
            "--runs, --large-runs, --checks, --clients, --criteria-checks, --review-requests and "
            "--run-list-requests must be at least 1"
        )
    if arguments.warmup_runs < 0 or arguments.concurrent_checks < 0:
        parser.error("--warmup-runs and --concurrent-checks must be at least 0")
    if arguments.scaling_population is None:
        arguments.scaling_population = max(arguments.populations)
    elif arguments.scaling_population not in arguments.populations:
        parser.error("--scaling-population must be one of --populations (its one-evaluator figure is reused)")
    return arguments


def _populations(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or not all(1 <= size <= 1_000_000 for size in sizes):
        raise argparse.ArgumentTypeError("population sizes are integers from 1 to 1000000")
    return sizes


def runs_for(population: int, arguments: argparse.Namespace) -> tuple[int, int]:
    """(warm-up runs, timed runs) of one population."""
    if population >= LARGE_POPULATION:
        return 0, min(arguments.runs, arguments.large_runs)
    return arguments.warmup_runs, arguments.runs


def _client(system: RunningSystem, role: Role) -> RestClient:
    """A client sending the token of `role`: a caseworker's for eligibility checks, an analyst's for impact analyses."""
    return RestClient(system.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS, token=system.tokens[role])


def _with_peak_rss(system: RunningSystem, workload: Callable[[], T]) -> tuple[T, dict[str, float | None], bool]:
    reset = reset_peak_rss(system.pids)
    result = workload()
    return result, peak_rss_mb(system.pids), reset


def _warm_up(system: RunningSystem) -> None:
    stderr_progress(f"warming up: impact_analysis of {SYSTEM_WARMUP_POPULATION}, {SYSTEM_WARMUP_CHECKS} checks")
    with _client(system, Role.ANALYST) as analyst:
        time_impact_analysis(analyst, population=SYSTEM_WARMUP_POPULATION, warmup_runs=0, runs=1)
    with _client(system, Role.CASEWORKER) as caseworker:
        # Citizen numbers far above those of the measured checks.
        time_eligibility_checks(caseworker, count=SYSTEM_WARMUP_CHECKS, first_citizen=9_000_001)


def _impact(system: RunningSystem, client: RestClient, population: int, arguments: argparse.Namespace) -> ImpactTiming:
    warmup_runs, runs = runs_for(population, arguments)
    stderr_progress(
        f"impact_analysis of {population} citizens, {system.evaluators} evaluator(s): {warmup_runs} + {runs} runs"
    )
    timing, rss, _ = _with_peak_rss(
        system, lambda: time_impact_analysis(client, population=population, warmup_runs=warmup_runs, runs=runs)
    )
    return replace(timing, evaluators=system.evaluators, peak_rss_mb=rss)


def measure_main(system: RunningSystem, arguments: argparse.Namespace) -> MainPhase:
    # The eligibility checks go first: right after the million-row analyses PostgreSQL is still
    # writing their pages out, and a check measured then measures that, not the check.
    _warm_up(system)
    with _client(system, Role.CASEWORKER) as client:
        stderr_progress(f"{arguments.checks} sequential eligibility_check runs")
        checks, rss, reset = _with_peak_rss(system, lambda: time_eligibility_checks(client, count=arguments.checks))
        checks = replace(checks, peak_rss_mb=rss)
    concurrent = None
    if arguments.concurrent_checks:
        stderr_progress(
            f"{arguments.concurrent_checks} eligibility_check runs from {arguments.clients} clients at once"
        )
        with ExitStack() as stack:
            clients = [stack.enter_context(_client(system, Role.CASEWORKER)) for _ in range(arguments.clients)]
            concurrent, rss, _ = _with_peak_rss(
                system,
                lambda: time_concurrent_checks(clients, count=arguments.concurrent_checks, first_citizen=1_000_001),
            )
        concurrent = replace(concurrent, peak_rss_mb=rss)
    with _client(system, Role.ANALYST) as client:
        impact = [_impact(system, client, population, arguments) for population in arguments.populations]
    versioned, criteria = (None, None) if arguments.no_rules else _measure_rules(system, arguments)
    return MainPhase(
        impact=impact,
        checks=checks,
        concurrent_checks=concurrent,
        peak_rss_reset=reset,
        versioned_impact=versioned,
        criteria_checks=criteria,
    )


def _measure_rules(
    system: RunningSystem, arguments: argparse.Namespace
) -> tuple[VersionedImpactTiming, CriteriaCheckTiming]:
    population = max(arguments.populations)
    _, runs = runs_for(population, arguments)
    with _client(system, Role.ANALYST) as analyst, _client(system, Role.ADMIN) as admin:
        versions = prepare_rule_versions(analyst=analyst, admin=admin, delta_document=seed_document(DELTA_SCHEME))
        stderr_progress(f"rules as data: scheme_alpha and scheme_delta at {population} citizens, {runs} runs each")
        versioned = time_versioned_impact(analyst, versions, population=population, runs=runs)
    with _client(system, Role.CASEWORKER) as caseworker:
        stderr_progress(
            f"rules as data: eligibility checks under 3 and 10 criteria, {arguments.criteria_checks} a burst"
        )
        criteria = time_criteria_checks(caseworker, bursts=CRITERIA_BURSTS, per_burst=arguments.criteria_checks)
    return versioned, criteria


def measure_two_evaluators(system: RunningSystem, arguments: argparse.Namespace) -> ImpactTiming:
    _warm_up(system)
    with _client(system, Role.ANALYST) as client:
        return _impact(system, client, arguments.scaling_population, arguments)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # The supervisor's own warnings go to stderr; stdout carries only the figures.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    LOG_FILE.unlink(missing_ok=True)  # each system started appends its services' logs
    yardstick_before = yardstick_ms()
    main_phase, outcome = run_with_system(
        lambda system: measure_main(system, arguments), progress=stderr_progress, evaluators=1
    )
    outcomes = [outcome]
    scaling = None
    if not arguments.no_scaling:
        two, outcome = run_with_system(
            lambda system: measure_two_evaluators(system, arguments), progress=stderr_progress, evaluators=2
        )
        outcomes.append(outcome)
        one = next(timing for timing in main_phase.impact if timing.population == arguments.scaling_population)
        scaling = ScalingTiming(one=one, two=two)
    audit = (
        measure_audit(log_size=arguments.audit_log_size, progress=stderr_progress) if arguments.audit_log_size else None
    )
    verify_load = (
        measure_verify_load(log_size=arguments.verify_load_log_size, progress=stderr_progress)
        if arguments.verify_load_log_size
        else None
    )
    reviews = None
    if arguments.review_queue_size:
        reviews, review_outcomes = measure_reviews(
            open_tasks=arguments.review_queue_size, requests=arguments.review_requests, progress=stderr_progress
        )
        outcomes += review_outcomes
    run_list = None
    if arguments.run_list_size:
        run_list, run_list_outcome = measure_run_list(
            runs=arguments.run_list_size, requests=arguments.run_list_requests, progress=stderr_progress
        )
        outcomes.append(run_list_outcome)
    environment = {
        "database": "a fresh embedded PostgreSQL" if "DATABASE_URL" not in os.environ else "DATABASE_URL",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "peak_rss": "during each workload" if main_phase.peak_rss_reset else "since the service started",
        "yardstick_ms": {"before": yardstick_before, "after": yardstick_ms()},
    }
    results = BenchResults(
        environment=environment,
        impact=main_phase.impact,
        checks=main_phase.checks,
        concurrent_checks=main_phase.concurrent_checks,
        scaling=scaling,
        versioned_impact=main_phase.versioned_impact,
        criteria_checks=main_phase.criteria_checks,
    )
    if arguments.json:
        document = as_json(results) | ({"audit_log": audit_json(audit)} if audit else {})
        document |= {"audit_verify_load": verify_load_json(verify_load)} if verify_load else {}
        document |= {"review_queue": reviews_json(reviews)} if reviews else {}
        document |= {"run_list": run_list_json(run_list)} if run_list else {}
        print(json.dumps(document, indent=2))
    else:
        tables = [as_table(results)]
        tables += [audit_table(audit)] if audit else []
        tables += [verify_load_table(verify_load)] if verify_load else []
        tables += [reviews_table(reviews)] if reviews else []
        tables += [run_list_table(run_list)] if run_list else []
        print("\n\n".join(tables))
    unclean = [dict(outcome.returncodes) for outcome in outcomes if not outcome.clean]
    if unclean:
        stderr_progress(f"the services did not stop cleanly {unclean}; see {LOG_FILE}")
        return 1
    return 0
