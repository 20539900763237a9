"""impact_analysis through REST: consistent counts, a report equal to the stored one, pages covering everyone."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.citizens import mock_citizen
from tests.support.eligibility_oracle import DECISIONS, SCHEME_RULES, expected_decision
from tests.support.rest_api import RestApi
from tests.support.scheme_versions import draft, fresh_scheme, published
from tests.support.seeded_schemes import seeded_document, seeded_rules

POPULATION = 500
PROPOSED = {"min_age": 21, "max_income": 200000}
INPUTS = {"scheme_name": "scheme_alpha", "population_size": POPULATION, "proposed_rules": PROPOSED}
PAGE = 200


@pytest.fixture(scope="module")
def analysis(analyst_api: RestApi) -> dict[str, Any]:
    run = analyst_api.execute("impact_analysis", INPUTS)
    assert run["status"] == "completed", run
    return run


@pytest.fixture(scope="module")
def results(analyst_api: RestApi, analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """Every per-citizen result, read page by page."""
    collected: list[dict[str, Any]] = []
    offset = 0
    while offset < POPULATION:
        response = analyst_api.get(f"/workflows/report/{analysis['instance_id']}/results?offset={offset}&limit={PAGE}")
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["total"], page["offset"], page["limit"]) == (POPULATION, offset, PAGE)
        assert page["next_offset"] == min(offset + PAGE, POPULATION)
        collected.extend(page["results"])
        offset = page["next_offset"]
    return collected


@pytest.mark.parametrize("offset", [POPULATION, POPULATION + 1, 10 * POPULATION])
def test_a_page_at_or_past_the_end_is_empty_and_its_next_offset_never_points_backwards(
    analyst_api: RestApi, analysis: dict[str, Any], offset: int
) -> None:
    response = analyst_api.get(f"/workflows/report/{analysis['instance_id']}/results?offset={offset}&limit={PAGE}")

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["results"], page["offset"], page["total"]) == ([], offset, POPULATION)
    assert page["next_offset"] == offset  # the last page: at least total, and not behind where the caller is


def _report(analysis: dict[str, Any]) -> dict[str, Any]:
    return dict(analysis["outputs"]["impact_report"])


def test_totals_equal_the_sum_of_decisions_under_both_rule_sets(analysis: dict[str, Any]) -> None:
    report = _report(analysis)

    assert report["total"] == POPULATION
    assert report["eligible"] + report["not_eligible"] + report["needs_review"] == POPULATION
    baseline = report["baseline"]
    assert baseline["eligible"] + baseline["not_eligible"] + baseline["needs_review"] == POPULATION


def test_transitions_cover_every_pair_and_sum_to_the_counts(analysis: dict[str, Any]) -> None:
    report = _report(analysis)
    transitions = {(t["from"], t["to"]): t["count"] for t in report["transitions"]}

    assert len(report["transitions"]) == 9
    assert set(transitions) == {(a, b) for a in DECISIONS for b in DECISIONS}
    assert sum(transitions.values()) == report["total"]
    keys = {"ELIGIBLE": "eligible", "NOT_ELIGIBLE": "not_eligible", "NEEDS_REVIEW": "needs_review"}
    for decision, key in keys.items():
        assert sum(transitions[(decision, to)] for to in DECISIONS) == report["baseline"][key]
        assert sum(transitions[(source, decision)] for source in DECISIONS) == report[key]


def test_report_names_the_current_and_the_proposed_rules(analysis: dict[str, Any]) -> None:
    report = _report(analysis)

    assert report["instance_id"] == analysis["instance_id"]
    assert report["scheme_name"] == "scheme_alpha"
    baseline = seeded_rules("scheme_alpha")
    assert report["current_rules"] == baseline["document"]["parameters"]
    assert report["proposed_rules"] == {**baseline["document"]["parameters"], **PROPOSED}
    # proposed_rules override the version in force: a proposal that is no stored version.
    assert (report["baseline_version"], report["proposed_version"]) == (1, None)
    assert report["baseline_rule_hash"] == baseline["rule_hash"]
    assert len(report["proposed_rule_hash"]) == 64 and report["proposed_rule_hash"] != baseline["rule_hash"]
    assert len(report["results_digest"]) == 64


def test_counts_by_category_add_up_to_the_results_of_each_categorys_citizens(
    analysis: dict[str, Any], results: list[dict[str, Any]]
) -> None:
    by_category = _report(analysis)["by_category"]
    keys = {"ELIGIBLE": "eligible", "NOT_ELIGIBLE": "not_eligible", "NEEDS_REVIEW": "needs_review"}

    assert list(by_category) == ["general", "obc", "sc", "st"]
    for category, counts in by_category.items():
        mine = [result for result in results if mock_citizen(result["citizen_id"]).category == category]
        assert counts["total"] == len(mine) > 0
        for decision, key in keys.items():
            assert counts[key] == sum(result["decision"] == decision for result in mine)
            assert counts["baseline"][key] == sum(result["baseline_decision"] == decision for result in mine)


def test_get_report_equals_the_stored_outputs_report_exactly(analyst_api: RestApi, analysis: dict[str, Any]) -> None:
    response = analyst_api.get(f"/workflows/report/{analysis['instance_id']}")

    assert response.status_code == 200, response.text
    # Serialised, so that 250000 and 250000.0 would differ.
    assert json.dumps(response.json(), sort_keys=True) == json.dumps(_report(analysis), sort_keys=True)
    stored = analyst_api.instance(analysis["instance_id"])["outputs"]["impact_report"]
    assert json.dumps(stored, sort_keys=True) == json.dumps(response.json(), sort_keys=True)


def test_result_pages_cover_every_citizen_exactly_once_in_order(results: list[dict[str, Any]]) -> None:
    assert [result["position"] for result in results] == list(range(1, POPULATION + 1))
    assert len({result["citizen_id"] for result in results}) == POPULATION


def test_results_add_up_to_the_report(analysis: dict[str, Any], results: list[dict[str, Any]]) -> None:
    report = _report(analysis)

    pairs = Counter((result["baseline_decision"], result["decision"]) for result in results)

    assert {(t["from"], t["to"]): t["count"] for t in report["transitions"]} == {
        (a, b): pairs[(a, b)] for a in DECISIONS for b in DECISIONS
    }


def test_sampled_decisions_equal_what_eligibility_check_decides(api: RestApi, results: list[dict[str, Any]]) -> None:
    """An analyst's results against a caseworker's eligibility checks."""
    proposed_rules = {**SCHEME_RULES["scheme_alpha"], **PROPOSED}

    for result in results[:: POPULATION // 20]:
        check = api.check_eligibility(result["citizen_id"], "scheme_alpha")

        assert result["baseline_decision"] == check["outputs"]["decision"]["decision"], result
        assert result["decision"] == expected_decision(check["outputs"]["citizen"], proposed_rules), result


def test_the_same_analysis_gives_the_same_results_again(
    analyst_api: RestApi, analysis: dict[str, Any], results: list[dict[str, Any]]
) -> None:
    again = analyst_api.execute("impact_analysis", INPUTS)

    # The digest covers the results, not the instance id: equal analyses have equal digests.
    per_run = {"instance_id"}
    first, second = _report(analysis), _report(again)
    assert {k: v for k, v in second.items() if k not in per_run} == {k: v for k, v in first.items() if k not in per_run}
    page = analyst_api.get(f"/workflows/report/{again['instance_id']}/results?limit={POPULATION}").json()
    assert page["results"] == results


def test_population_size_defaults_to_500(analyst_api: RestApi) -> None:
    run = analyst_api.execute("impact_analysis", {"scheme_name": "scheme_gamma"})

    assert run["status"] == "completed", run
    report = _report(run)
    assert report["total"] == 500
    assert report["proposed_rules"] == report["current_rules"] == seeded_rules("scheme_gamma")["document"]["parameters"]
    assert report["proposed_rule_hash"] == report["baseline_rule_hash"] == seeded_rules("scheme_gamma")["rule_hash"]


WORSE = {("ELIGIBLE", "NOT_ELIGIBLE"), ("ELIGIBLE", "NEEDS_REVIEW"), ("NEEDS_REVIEW", "NOT_ELIGIBLE")}


def _transitions(report: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(t["from"], t["to"]): t["count"] for t in report["transitions"]}


def _changed(report: dict[str, Any]) -> int:
    return sum(count for (before, after), count in _transitions(report).items() if before != after)


@pytest.fixture(scope="module")
def delta_copy(api: RestApi) -> str:
    """A scheme of this module's own: scheme_delta's version 1 published, and a draft version 2 with higher bases."""
    scheme = fresh_scheme("impact_delta")
    assert published(api, scheme, seeded_document("scheme_delta"), "2000-01-01") == 1
    assert draft(api, scheme, seeded_document("scheme_delta", base_general=260000, base_obc=300000)) == 2
    return scheme


def test_a_draft_version_is_compared_with_the_version_in_force(analyst_api: RestApi, delta_copy: str) -> None:
    run = analyst_api.execute(
        "impact_analysis", {"scheme_name": delta_copy, "population_size": POPULATION, "proposed_version": 2}
    )

    assert run["status"] == "completed", run
    report = _report(run)
    assert (report["baseline_version"], report["proposed_version"]) == (1, 2)
    assert report["total"] == POPULATION
    # Higher ceilings only ever help: nobody is worse off, and some general or obc citizens are better off.
    assert all(_transitions(report)[pair] == 0 for pair in WORSE)
    assert _changed(report) > 0


def test_a_draft_may_be_proposed_but_is_never_the_baseline(analyst_api: RestApi, delta_copy: str) -> None:
    forward = analyst_api.execute(
        "impact_analysis",
        {"scheme_name": delta_copy, "population_size": POPULATION, "baseline_version": 1, "proposed_version": 2},
    )
    backward = analyst_api.execute(
        "impact_analysis",
        {"scheme_name": delta_copy, "population_size": POPULATION, "baseline_version": 2, "proposed_version": 1},
    )

    assert forward["status"] == "completed", forward
    assert backward["status"] == "failed", backward  # version 2 is a draft: only a proposal may be one


def test_proposed_rules_override_any_parameter_of_the_baseline_document(analyst_api: RestApi, delta_copy: str) -> None:
    run = analyst_api.execute(
        "impact_analysis",
        {"scheme_name": delta_copy, "population_size": POPULATION, "proposed_rules": {"per_extra_member": 0}},
    )

    assert run["status"] == "completed", run
    report = _report(run)
    assert (report["baseline_version"], report["proposed_version"]) == (1, None)  # no stored version
    # No allowance per household member only ever lowers a ceiling: nobody is better off.
    better = {(after, before) for before, after in WORSE}
    assert all(_transitions(report)[pair] == 0 for pair in better)
    assert _changed(report) > 0


def test_an_override_of_a_parameter_the_document_lacks_fails_the_run_naming_it(analyst_api: RestApi) -> None:
    run = analyst_api.execute(
        "impact_analysis", {"scheme_name": "scheme_alpha", "population_size": 10, "proposed_rules": {"max_incme": 1}}
    )

    assert run["status"] == "failed"
    assert "max_incme" in run["error"] and "proposed_rules" in run["error"]


def test_an_unknown_proposed_version_fails_the_run(analyst_api: RestApi, delta_copy: str) -> None:
    run = analyst_api.execute(
        "impact_analysis", {"scheme_name": delta_copy, "population_size": 10, "proposed_version": 99}
    )

    assert run["status"] == "failed"
    assert delta_copy in run["error"]


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"proposed_rules": {"max_age": 70}, "proposed_version": 2}, "inputs"),
        ({"proposed_version": 0}, "inputs.proposed_version"),
        ({"baseline_version": "1"}, "inputs.baseline_version"),
        ({"proposed_rules": {"max_age": 151}}, "inputs.proposed_rules.max_age"),
        ({"proposed_rules": {"base_general": {"nested": 1}}}, "inputs.proposed_rules.base_general"),
        ({"proposed_rules": {"Base General": 1}}, "inputs.proposed_rules"),
    ],
    ids=["both-proposals", "version-0", "baseline-as-text", "max-age-151", "object-value", "not-a-parameter-name"],
)
def test_an_impossible_proposal_is_422_at_submission_and_creates_nothing(
    analyst_api: RestApi, count_instances: Callable[[], int], inputs: dict[str, Any], field: str
) -> None:
    before = count_instances()

    response = analyst_api.post(
        "/workflows/execute",
        json={"template_id": "impact_analysis", "inputs": {"scheme_name": "scheme_delta", **inputs}},
    )

    error = analyst_api.error(response, 422)
    assert error["code"] == "INVALID_ARGUMENT"
    assert [detail["field"] for detail in error["details"]] == [field]
    assert count_instances() == before


def test_overrides_of_a_named_baseline_need_no_version_in_force_today(analyst_api: RestApi) -> None:
    scheme = fresh_scheme("impact_future")
    assert published(analyst_api, scheme, seeded_document("scheme_alpha"), "2099-01-01") == 1

    run = analyst_api.execute(
        "impact_analysis",
        {"scheme_name": scheme, "population_size": 50, "baseline_version": 1, "proposed_rules": {"max_income": 1}},
    )

    assert run["status"] == "completed", run
    report = _report(run)
    assert (report["baseline_version"], report["proposed_version"], report["eligible"]) == (1, None, 0)
