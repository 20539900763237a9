"""Requests the orchestrator refuses create nothing; a run that fails at a step is reported as failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.rest_api import RestApi


def test_unknown_template_is_404_and_creates_no_instance(api: RestApi, count_instances: Callable[[], int]) -> None:
    before = count_instances()

    response = api.post("/workflows/execute", json={"template_id": "no_such_template", "inputs": {}})

    error = api.error(response, 404)
    assert error["code"] == "NOT_FOUND"
    assert "no_such_template" in error["message"]
    assert count_instances() == before


@pytest.mark.parametrize(
    ("template_id", "inputs", "field", "reported_at"),
    [
        # A missing or unexpected property is a problem of the object that should (not) hold it.
        ("eligibility_check", {"citizen_id": "CIT-0000001"}, "scheme_name", "inputs"),
        (
            "eligibility_check",
            {"citizen_id": "CIT-0000001", "scheme_name": "scheme_alpha", "colour": "red"},
            "colour",
            "inputs",
        ),
        ("eligibility_check", {"citizen_id": 42, "scheme_name": "scheme_alpha"}, "citizen_id", "inputs.citizen_id"),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": 0},
            "population_size",
            "inputs.population_size",
        ),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": 1_000_001},
            "population_size",
            "inputs.population_size",
        ),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": "500"},
            "population_size",
            "inputs.population_size",
        ),
        ("impact_analysis", {"population_size": 10}, "scheme_name", "inputs"),
    ],
    ids=[
        "missing-field",
        "extra-field",
        "wrong-type",
        "population-0",
        "population-too-big",
        "population-string",
        "impact-missing-scheme",
    ],
)
def test_inputs_breaking_the_schema_are_422_naming_the_field_and_create_no_instance(
    admin_api: RestApi,
    count_instances: Callable[[], int],
    template_id: str,
    inputs: dict[str, Any],
    field: str,
    reported_at: str,
) -> None:
    before = count_instances()

    response = admin_api.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs})

    error = admin_api.error(response, 422)
    assert error["code"] == "INVALID_ARGUMENT"
    assert field in error["message"]
    assert len(error["details"]) == 1
    assert error["details"][0]["field"] == reported_at
    assert field in error["details"][0]["field"] + error["details"][0]["problem"]
    assert count_instances() == before


def test_every_input_problem_is_listed_with_its_field(analyst_api: RestApi) -> None:
    inputs = {"scheme_name": 7, "population_size": 0, "proposed_rules": {"max_age": "old"}}

    error = analyst_api.error(
        analyst_api.post("/workflows/execute", json={"template_id": "impact_analysis", "inputs": inputs}), 422
    )

    assert {problem["field"] for problem in error["details"]} == {
        "inputs.scheme_name",
        "inputs.population_size",
        "inputs.proposed_rules.max_age",
    }


def test_body_with_an_unknown_field_is_422_before_reaching_the_orchestrator(
    api: RestApi, count_instances: Callable[[], int]
) -> None:
    before = count_instances()
    body = {"template_id": "eligibility_check", "inputs": {"citizen_id": "CIT-1", "scheme_name": "x"}, "priority": 1}

    error = api.error(api.post("/workflows/execute", json=body), 422)

    assert error["code"] == "INVALID_ARGUMENT"
    assert error["details"] == [{"field": "body.priority", "problem": "Extra inputs are not permitted"}]
    assert count_instances() == before


def test_unknown_scheme_fails_the_run_at_fetch_scheme_rules(api: RestApi) -> None:
    run = api.execute("eligibility_check", {"citizen_id": "CIT-0000001", "scheme_name": "scheme_zeta"})

    assert run["status"] == "failed"
    assert "scheme_zeta" in run["error"]
    assert api.instance(run["instance_id"])["status"] == "failed"
    entries = api.audit(run["instance_id"])
    assert [(entry["step_name"], entry["status"]) for entry in entries] == [
        ("fetch_citizen", "success"),
        ("fetch_scheme_rules", "failed"),
    ]
    failed = entries[-1]
    assert "scheme_zeta" in failed["error"]
    assert failed["error"] in run["error"]
    assert failed["input"] == {"scheme_name": "scheme_zeta"}
