"""A hostile caller's values get a 422 INVALID_ARGUMENT naming the field, never a 5xx, and never an echo of the value.

Each case is one of issue 13's reproducers, sent through the real gateway to the real services:
integers beyond 2**63, NUL and lone surrogates, 1e308, a 20 KB id, JSON nested thousands deep, a
pattern matched before a final newline, a 10 KB template id.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from civicflow.input_limits import ECHO_LIMIT
from tests.support.rest_api import RestApi

BEYOND_INT64 = [2**63, 2**64, 10**30]
# Words that only an exception's own text would put in an answer.
INTERNALS = re.compile(r"psycopg2|sqlalchemy|Traceback|Error\b|Exception|rfc8785|<class|CONTEXT:|SELECT |INSERT ")


def refused(response: Any, *, field: str) -> dict[str, Any]:
    """The 422 of a refused value: one code, the field named, nothing internal, no long echo of anything."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert field in [problem["field"] for problem in error["details"]], error
    assert not INTERNALS.search(response.text), response.text
    assert not re.search(rf"(.)\1{{{ECHO_LIMIT}}}", response.text), "a value is echoed longer than the limit"
    return dict(error)


@pytest.mark.parametrize("value", BEYOND_INT64)
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/workflows/report/{uuid}/results?offset={value}", "query.offset"),
        ("/audit/checkpoints?offset={value}", "query.offset"),
        ("/audit/entries/{value}", "path.seq"),
        ("/audit/entries/0/proof?tree_size={value}", "query.tree_size"),
        ("/audit/consistency?first={value}", "query.first"),
        ("/audit/consistency?first=1&second={value}", "query.second"),
    ],
)
def test_an_integer_beyond_int64_is_a_422_naming_it(admin_api: RestApi, path: str, field: str, value: int) -> None:
    response = admin_api.get(path.format(uuid=uuid.uuid4(), value=value))

    refused(response, field=field)


def test_the_largest_int64_is_still_an_answer_of_the_service_not_a_5xx(admin_api: RestApi) -> None:
    assert admin_api.get(f"/audit/entries/{2**63 - 1}").status_code == 404
    assert admin_api.get(f"/audit/checkpoints?offset={2**63 - 1}").json()["checkpoints"] == []


ELIGIBILITY = {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"}


@pytest.mark.parametrize(
    ("template_id", "inputs", "field"),
    [
        ("eligibility_check", {**ELIGIBILITY, "scheme_name": "scheme\x00alpha"}, "inputs.scheme_name"),
        ("eligibility_check", {**ELIGIBILITY, "citizen_id": "CIT-0000042\n"}, "inputs.citizen_id"),
        ("eligibility_check", {**ELIGIBILITY, "citizen_id": "C" * 20_000}, "inputs.citizen_id"),
        ("eligibility_check", {**ELIGIBILITY, "scheme_name": "s" * 5_000}, "inputs.scheme_name"),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": 10, "proposed_rules": {"max_income": 1e308}},
            "inputs.proposed_rules.max_income",
        ),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": 10, "proposed_rules": {"max_income": 2e12}},
            "inputs.proposed_rules.max_income",
        ),
        (
            "impact_analysis",
            {"scheme_name": "scheme_alpha", "population_size": 2**70},
            "inputs.population_size",
        ),
        ("eligibility_check", {**ELIGIBILITY, "k" * 10_000: 1}, "inputs"),
    ],
    ids=[
        "nul",
        "final-newline",
        "20kb-citizen-id",
        "5kb-scheme",
        "max-income-1e308",
        "max-income-2e12",
        "2**70",
        "10kb-key",
    ],
)
def test_a_hostile_input_is_a_422_naming_the_field_and_creates_no_run(
    admin_api: RestApi, count_instances: Callable[[], int], template_id: str, inputs: dict[str, Any], field: str
) -> None:
    before = count_instances()

    response = admin_api.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs})

    refused(response, field=field)
    assert count_instances() == before


def test_a_lone_surrogate_is_a_422(api: RestApi, count_instances: Callable[[], int]) -> None:
    before = count_instances()
    body = '{"template_id": "eligibility_check", "inputs": {"citizen_id": "CIT-1", "scheme_name": "\\ud800"}}'

    response = api.post("/workflows/execute", content=body, headers={"Content-Type": "application/json"})

    refused(response, field="inputs.scheme_name")
    assert count_instances() == before


@pytest.mark.parametrize("depth", [33, 500, 5_000])
def test_inputs_nested_deeper_than_32_levels_are_a_422(api: RestApi, depth: int) -> None:
    inputs = '{"a":' * depth + "1" + "}" * depth
    body = '{"template_id": "eligibility_check", "inputs": ' + inputs + "}"

    response = api.post("/workflows/execute", content=body, headers={"Content-Type": "application/json"})

    # Too deep for the JSON decoder itself, the body as a whole is what cannot be read.
    refused(response, field="body" if depth > 900 else "inputs" + ".a" * 31 + ".a")


def test_inputs_32_levels_deep_reach_the_template_check(api: RestApi) -> None:
    inputs = {**ELIGIBILITY, "extra": json.loads('{"a":' * 30 + "1" + "}" * 30)}

    response = api.post("/workflows/execute", json={"template_id": "eligibility_check", "inputs": inputs})

    error = refused(response, field="inputs")
    assert "extra" in error["message"]


def test_evidence_with_nul_or_1e308_is_a_422_before_any_lookup(api: RestApi) -> None:
    original = str(uuid.uuid4())
    for new_data, field in [({"category": "sc\x00"}, "new_data.category"), ({"income": 1e308}, "new_data.income")]:
        response = api.post("/workflows/appeal", json={"original_instance_id": original, "new_data": new_data})

        refused(response, field=field)


def test_a_10kb_template_id_is_a_422_without_its_echo(api: RestApi) -> None:
    response = api.post("/workflows/execute", json={"template_id": "t" * 10_000, "inputs": ELIGIBILITY})

    refused(response, field="body.template_id")


def test_an_unknown_template_of_64_characters_is_a_404_quoting_at_most_64(api: RestApi) -> None:
    response = api.post("/workflows/execute", json={"template_id": "t" * 64, "inputs": {}})

    error = api.error(response, 404)
    assert error["code"] == "NOT_FOUND"
    assert "t" * 64 in error["message"] and "t" * 65 not in error["message"]


def test_an_unknown_body_field_with_a_10kb_name_is_named_in_64_characters(api: RestApi) -> None:
    body = {"template_id": "eligibility_check", "inputs": ELIGIBILITY, "x" * 10_000: 1}

    response = api.post("/workflows/execute", json=body)

    assert response.status_code == 422
    [problem] = response.json()["error"]["details"]
    assert problem["field"] == "body." + "x" * ECHO_LIMIT + "…"
