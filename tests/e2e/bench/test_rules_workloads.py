"""The rules-as-data workloads against the real stack: versions made through the API, every run completed and timed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.rules_workloads import (
    DELTA_SCHEME,
    TEN_CRITERIA_SCHEME,
    prepare_rule_versions,
    seed_document,
    time_criteria_checks,
    time_versioned_impact,
)
from tests.support.rest_api import RestApi

pytestmark = pytest.mark.bench


def test_the_versioned_proposal_and_the_ten_criteria_are_timed_from_completed_runs(
    api: RestApi, analyst_api: RestApi, admin_api: RestApi, count_instances: Callable[[], int]
) -> None:
    versions = prepare_rule_versions(analyst=analyst_api, admin=admin_api, delta_document=seed_document(DELTA_SCHEME))
    scheme = analyst_api.get(f"/schemes/{TEN_CRITERIA_SCHEME}").json()
    assert [version["status"] for version in scheme["versions"]] == ["published"]
    before = count_instances()

    impact = time_versioned_impact(analyst_api, versions, population=50, runs=2)
    checks = time_criteria_checks(api, bursts=2, per_burst=3)

    assert (len(impact.alpha_seconds), len(impact.delta_seconds)) == (2, 2)
    assert (len(checks.three_latencies), len(checks.ten_latencies)) == (6, 6)
    assert count_instances() - before == 4 + 12, "every timed workload is one run"
    draft = analyst_api.get(f"/schemes/{DELTA_SCHEME}/versions/{versions.delta_draft_version}").json()
    assert draft["status"] == "draft", "the proposal stays a draft: an analysis publishes nothing"
