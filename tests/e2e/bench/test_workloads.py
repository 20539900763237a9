"""The benchmark's workloads against the real stack: completed runs are timed, a failed run stops the benchmark."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from bench.workloads import (
    RunFailedError,
    execute,
    time_concurrent_checks,
    time_eligibility_checks,
    time_impact_analysis,
)

pytestmark = pytest.mark.bench


def test_a_run_that_fails_is_refused_rather_than_timed(gateway_client: TestClient) -> None:
    with pytest.raises(RunFailedError, match="failed"):
        execute(gateway_client, "eligibility_check", {"citizen_id": "CIT-1", "scheme_name": "scheme_unknown"})


def test_a_request_the_gateway_rejects_is_refused_rather_than_timed(gateway_client: TestClient) -> None:
    with pytest.raises(RunFailedError, match="HTTP 404"):
        execute(gateway_client, "no_such_template", {})


def test_impact_analysis_times_only_the_runs_after_the_warm_up(
    gateway_client: TestClient, count_instances: Callable[[], int]
) -> None:
    before = count_instances()
    timing = time_impact_analysis(gateway_client, population=20, warmup_runs=1, runs=3)

    assert timing.population == 20
    assert len(timing.seconds) == 3
    assert count_instances() - before == 4, "the warm-up run is made, and not timed"


def test_eligibility_checks_time_every_run(gateway_client: TestClient, count_instances: Callable[[], int]) -> None:
    before = count_instances()
    timing = time_eligibility_checks(gateway_client, count=5)

    assert len(timing.latencies_seconds) == 5
    assert sum(timing.latencies_seconds) <= timing.total_seconds
    assert count_instances() - before == 5


def test_concurrent_checks_share_the_runs_among_the_clients(
    gateway_client: TestClient, count_instances: Callable[[], int]
) -> None:
    before = count_instances()
    timing = time_concurrent_checks([gateway_client] * 4, count=12, first_citizen=500)

    assert timing.clients == 4
    assert len(timing.latencies_seconds) == 12
    assert count_instances() - before == 12, "each check is run exactly once"
