"""eligibility_check through REST: the pinned decision rule, and an audit entry per step holding only what it used."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.eligibility_oracle import DECISIONS, SCHEME_RULES, expected_decision
from tests.support.rest_api import RestApi

CITIZEN_IDS = [f"CIT-{position:07d}" for position in range(1, 13)]
STEPS = ["fetch_citizen", "fetch_scheme_rules", "evaluate_rules", "make_decision"]


@pytest.mark.parametrize("scheme_name", sorted(SCHEME_RULES))
def test_decision_follows_the_pinned_rule_for_the_citizens_data(api: RestApi, scheme_name: str) -> None:
    for citizen_id in CITIZEN_IDS:
        run = api.check_eligibility(citizen_id, scheme_name)

        citizen = run["outputs"]["citizen"]
        decision = run["outputs"]["decision"]["decision"]
        assert set(citizen) == {"citizen_id", "name", "age", "income", "category"}
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
    assert {key: rules[key] for key in ("min_age", "max_age", "max_income")} == SCHEME_RULES["scheme_gamma"]
    assert evaluate["input"] == {"citizen": citizen, "rules": rules}
    assert evaluate["output"]["evaluation"]["decision"] == run["outputs"]["decision"]["decision"]
    assert decide["input"] == {"citizen": citizen, "rules": rules, "evaluation": evaluate["output"]["evaluation"]}
    assert decide["output"] == {"decision": run["outputs"]["decision"]}
