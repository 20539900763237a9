"""The benchmark's workloads against the real stack: completed runs are timed, a failed run stops the benchmark.

The workloads post through whatever client they are given; here the REST API as a caseworker (eligibility
checks) or an analyst (impact analyses) calls it, as the benchmark's clients carry those roles' tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.workloads import (
    RunFailedError,
    execute,
    time_concurrent_checks,
    time_eligibility_checks,
    time_impact_analysis,
)
from tests.support.rest_api import RestApi

pytestmark = pytest.mark.bench


def test_a_run_that_fails_is_refused_rather_than_timed(api: RestApi) -> None:
    with pytest.raises(RunFailedError, match="failed"):
        execute(api, "eligibility_check", {"citizen_id": "CIT-1", "scheme_name": "scheme_unknown"})


def test_a_request_the_gateway_rejects_is_refused_rather_than_timed(api: RestApi) -> None:
    with pytest.raises(RunFailedError, match="HTTP 404"):
        execute(api, "no_such_template", {})


def test_impact_analysis_times_only_the_runs_after_the_warm_up(
    analyst_api: RestApi, count_instances: Callable[[], int]
) -> None:
    before = count_instances()
    timing = time_impact_analysis(analyst_api, population=20, warmup_runs=1, runs=3)

    assert timing.population == 20
    assert len(timing.seconds) == 3
    assert count_instances() - before == 4, "the warm-up run is made, and not timed"


def test_eligibility_checks_time_every_run(api: RestApi, count_instances: Callable[[], int]) -> None:
    before = count_instances()
    timing = time_eligibility_checks(api, count=5)

    assert len(timing.latencies_seconds) == 5
    assert sum(timing.latencies_seconds) <= timing.total_seconds
    assert count_instances() - before == 5


def test_concurrent_checks_share_the_runs_among_the_clients(api: RestApi, count_instances: Callable[[], int]) -> None:
    before = count_instances()
    timing = time_concurrent_checks([api] * 4, count=12, first_citizen=500)

    assert timing.clients == 4
    assert len(timing.latencies_seconds) == 12
    assert count_instances() - before == 12, "each check is run exactly once"
