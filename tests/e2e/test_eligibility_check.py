"""eligibility_check through REST: the pinned decision rule under the version in force, the reasons with the values
they used, and an audit entry per step holding only what it used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.support.eligibility_oracle import DECISIONS, SCHEME_RULES, expected_decision
from tests.support.rest_api import RestApi
from tests.support.seeded_schemes import seeded_reference, seeded_rules

CITIZEN_IDS = [f"CIT-{position:07d}" for position in range(1, 13)]
STEPS = ["fetch_citizen", "fetch_scheme_rules", "evaluate_rules", "make_decision"]
CITIZEN_FIELDS = {"citizen_id", "name", "age", "income", "category", "household_size", "has_disability"}


@pytest.mark.parametrize("scheme_name", sorted(SCHEME_RULES))
def test_decision_follows_the_pinned_rule_for_the_citizens_data(api: RestApi, scheme_name: str) -> None:
    for citizen_id in CITIZEN_IDS:
        run = api.check_eligibility(citizen_id, scheme_name)

        citizen = run["outputs"]["citizen"]
        decision = run["outputs"]["decision"]["decision"]
        assert set(citizen) == CITIZEN_FIELDS
        assert citizen["citizen_id"] == citizen_id
        assert decision in DECISIONS
        assert decision == expected_decision(citizen, SCHEME_RULES[scheme_name]), (citizen, scheme_name)
        assert run["error"] is None


def test_completed_run_is_stored_with_its_inputs_and_outputs(api: RestApi) -> None:
    inputs = {"citizen_id": "CIT-0000007", "scheme_name": "scheme_beta"}
    run = api.execute("eligibility_check", inputs)

    instance = api.instance(run["instance_id"])

    assert instance["template_id"] == "eligibility_check"
    assert instance["template_version"]
    assert instance["status"] == "completed"
    assert instance["inputs"] == inputs
    assert instance["outputs"] == run["outputs"]
    assert instance["error"] is None
    assert instance["appealed_instance_id"] is None
    assert datetime.fromisoformat(instance["created_at"]) <= datetime.fromisoformat(instance["completed_at"])


def test_audit_has_one_success_entry_per_step_in_order(api: RestApi) -> None:
    run = api.check_eligibility("CIT-0000003", "scheme_alpha")

    entries = api.audit(run["instance_id"])

    assert [entry["step_name"] for entry in entries] == STEPS
    assert [entry["step_index"] for entry in entries] == [0, 1, 2, 3]
    assert {entry["status"] for entry in entries} == {"success"}
    assert {entry["instance_id"] for entry in entries} == {run["instance_id"]}
    assert all(entry["error"] is None and entry["attempt"] == 1 for entry in entries)
    first_seq = entries[0]["seq"]
    assert [entry["seq"] for entry in entries] == list(range(first_seq, first_seq + 4))
    for entry in entries:
        assert datetime.fromisoformat(entry["started_at"]) <= datetime.fromisoformat(entry["completed_at"])


def test_audit_inputs_hold_what_each_step_consumed_not_the_whole_context(api: RestApi) -> None:
    run = api.check_eligibility("CIT-0000004", "scheme_gamma")
    citizen = run["outputs"]["citizen"]

    fetch_citizen, fetch_rules, evaluate, decide = api.audit(run["instance_id"])

    assert fetch_citizen["input"] == {"citizen_id": "CIT-0000004"}
    assert fetch_citizen["output"] == {"citizen": citizen}
    assert fetch_rules["input"] == {"scheme_name": "scheme_gamma"}
    rules = fetch_rules["output"]["rules"]
    assert rules == seeded_reference("scheme_gamma"), "the version by reference: its document is not copied"
    assert evaluate["input"] == {"citizen": citizen, "rules": rules}
    assert evaluate["output"]["evaluation"]["decision"] == run["outputs"]["decision"]["decision"]
    assert decide["input"] == {"citizen": citizen, "rules": rules, "evaluation": evaluate["output"]["evaluation"]}
    assert decide["output"] == {"decision": run["outputs"]["decision"]}


@pytest.mark.parametrize("scheme_name", sorted(SCHEME_RULES))
def test_the_decision_names_its_version_and_hash_and_each_reason_its_kind_and_the_values_it_used(
    api: RestApi, scheme_name: str
) -> None:
    rules = SCHEME_RULES[scheme_name]
    for citizen_id in CITIZEN_IDS[:4]:
        run = api.check_eligibility(citizen_id, scheme_name)
        citizen, decision = run["outputs"]["citizen"], run["outputs"]["decision"]

        assert decision["scheme_name"] == scheme_name
        assert decision["scheme_version"] == 1
        assert decision["rule_hash"] == seeded_rules(scheme_name)["rule_hash"]
        age, income, review = decision["reasons"]
        for reason in decision["reasons"]:
            assert set(reason) == {"criterion", "kind", "passed", "detail", "values"}
            assert reason["detail"]
        assert (age["criterion"], age["kind"]) == ("age", "exclusion")
        assert age["values"] == {"age": citizen["age"], "min_age": rules["min_age"], "max_age": rules["max_age"]}
        assert age["passed"] is (rules["min_age"] <= citizen["age"] <= rules["max_age"])
        assert (income["criterion"], income["kind"]) == ("income_ceiling", "exclusion")
        assert income["values"] == {"income": citizen["income"], "max_income": rules["max_income"]}
        assert income["passed"] is (citizen["income"] <= rules["max_income"])
        assert (review["criterion"], review["kind"]) == ("review_band", "review")
        assert review["values"] == {
            "income": citizen["income"],
            "max_income": rules["max_income"],
            "review_fraction": 0.9,
        }
        assert review["passed"] is (citizen["income"] < 0.9 * rules["max_income"])


def _delta_decision(citizen: dict[str, Any]) -> str:
    """scheme_delta version 1 as issue 14 states it, written out independently of the evaluator."""
    max_age = 70 if citizen["has_disability"] else 65
    base = {"general": 200000, "obc": 240000, "sc": 280000, "st": 280000}[citizen["category"]]
    ceiling = base + 40000 * (citizen["household_size"] - 1)
    if not 18 <= citizen["age"] <= max_age or citizen["income"] > ceiling:
        return "NOT_ELIGIBLE"
    return "NEEDS_REVIEW" if citizen["income"] >= 0.9 * ceiling else "ELIGIBLE"


def test_scheme_delta_decides_by_category_household_and_disability(api: RestApi) -> None:
    seen: set[str] = set()
    for position in range(1, 61):
        run = api.check_eligibility(f"CIT-{position:07d}", "scheme_delta")
        citizen, decision = run["outputs"]["citizen"], run["outputs"]["decision"]

        assert set(citizen) == CITIZEN_FIELDS
        assert decision["decision"] == _delta_decision(citizen), citizen
        assert decision["scheme_version"] == 1
        assert [reason["criterion"] for reason in decision["reasons"]] == ["age", "income_ceiling", "review_band"]
        assert set(decision["reasons"][1]["values"]) >= {"income", "category", "household_size", "per_extra_member"}
        seen.add(decision["decision"])
    assert {"ELIGIBLE", "NOT_ELIGIBLE"} <= seen, "the first 60 citizens are not all decided alike"


def test_a_decision_as_of_a_past_date_is_made_under_the_version_in_force_then(api: RestApi) -> None:
    run = api.execute(
        "eligibility_check", {"citizen_id": "CIT-0000005", "scheme_name": "scheme_beta", "as_of": "2001-06-30"}
    )

    assert run["status"] == "completed", run
    assert run["outputs"]["decision"]["scheme_version"] == 1
    today = api.check_eligibility("CIT-0000005", "scheme_beta")
    assert run["outputs"]["decision"] == today["outputs"]["decision"]
    fetch_rules = api.audit(run["instance_id"])[1]
    assert fetch_rules["input"] == {"scheme_name": "scheme_beta", "as_of": "2001-06-30"}


def test_a_date_before_any_version_is_in_force_fails_the_run_naming_the_scheme_and_the_date(api: RestApi) -> None:
    run = api.execute(
        "eligibility_check", {"citizen_id": "CIT-0000005", "scheme_name": "scheme_beta", "as_of": "1999-12-31"}
    )

    assert run["status"] == "failed"
    assert "scheme_beta" in run["error"] and "1999-12-31" in run["error"]
    assert "decision" not in (run["outputs"] or {})


@pytest.mark.parametrize("as_of", ["2026-02-30", "31/12/2026", "2026-12-31T00:00:00Z", "", 20261231])
def test_an_as_of_that_is_not_a_real_date_is_422_and_creates_nothing(api: RestApi, as_of: Any) -> None:
    response = api.post(
        "/workflows/execute",
        json={
            "template_id": "eligibility_check",
            "inputs": {"citizen_id": "CIT-0000005", "scheme_name": "scheme_beta", "as_of": as_of},
        },
    )

    error = api.error(response, 422)
    assert error["code"] == "INVALID_ARGUMENT"
    assert [detail["field"] for detail in error["details"]] == ["inputs.as_of"]
