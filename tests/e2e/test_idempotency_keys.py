"""Idempotency-Key through REST: a repeat by the same subject returns the same instance and creates nothing;
another body is a 409."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from civicflow.auth.principals import Role
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi


def _execute(api: RestApi, key: str, inputs: dict[str, Any], **body: Any) -> Any:
    return api.post(
        "/workflows/execute",
        json={"template_id": "eligibility_check", "inputs": inputs, **body},
        headers={"Idempotency-Key": key},
    )


def test_a_repeated_execute_returns_the_first_run_and_creates_nothing(
    api: RestApi, count_instances: Callable[[], int]
) -> None:
    key = f"check-{uuid.uuid4()}"
    inputs = {"citizen_id": "CIT-0000011", "scheme_name": "scheme_alpha"}
    first = _execute(api, key, inputs)
    assert first.status_code == 200, first.text
    before = count_instances()

    again = _execute(api, key, inputs)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert count_instances() == before
    assert len(api.audit(first.json()["instance_id"])) == 4


def test_the_same_key_with_another_body_is_409(api: RestApi, count_instances: Callable[[], int]) -> None:
    key = f"check-{uuid.uuid4()}"
    assert _execute(api, key, {"citizen_id": "CIT-0000012", "scheme_name": "scheme_alpha"}).status_code == 200
    before = count_instances()

    response = _execute(api, key, {"citizen_id": "CIT-0000013", "scheme_name": "scheme_alpha"})

    error = api.error(response, 409)
    assert error["code"] == "ALREADY_EXISTS"
    assert key in error["message"]
    assert count_instances() == before


def test_an_async_repeat_answers_the_same_instance(api: RestApi) -> None:
    key = f"async-{uuid.uuid4()}"
    inputs = {"citizen_id": "CIT-0000014", "scheme_name": "scheme_beta"}
    first = _execute(api, key, inputs, mode="async")
    again = _execute(api, key, inputs, mode="async")
    assert first.status_code == again.status_code == 202
    assert again.json()["instance_id"] == first.json()["instance_id"]


def test_the_token_subject_is_the_actor_of_the_run_and_of_every_audit_entry(
    api: RestApi, credentials: Credentials
) -> None:
    caseworker = api.with_token(credentials.issue("caseworker-9", Role.CASEWORKER))
    inputs = {"citizen_id": "CIT-0000015", "scheme_name": "scheme_alpha"}
    run = _execute(caseworker, f"actor-{uuid.uuid4()}", inputs).json()
    assert caseworker.instance(run["instance_id"])["actor"] == "caseworker-9"
    assert {entry["actor"] for entry in caseworker.audit(run["instance_id"])} == {"caseworker-9"}


def test_a_repeated_appeal_returns_the_first_appeal(api: RestApi, owner: sa.Engine) -> None:
    original = api.check_eligibility("CIT-0000016", "scheme_alpha")["instance_id"]
    key = f"appeal-{uuid.uuid4()}"
    body = {"original_instance_id": original, "new_data": {"age": 35, "income": 1000}}
    first = api.post("/workflows/appeal", json=body, headers={"Idempotency-Key": key})
    again = api.post("/workflows/appeal", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json()
    with owner.connect() as connection:
        appeals = connection.execute(
            sa.text("SELECT count(*) FROM orchestrator.appeals WHERE original_instance_id = :id"), {"id": original}
        ).scalar_one()
    assert appeals == 1

    other = api.post("/workflows/appeal", json={**body, "new_data": {"age": 36}}, headers={"Idempotency-Key": key})
    assert api.error(other, 409)["code"] == "ALREADY_EXISTS"


def test_a_key_longer_than_200_characters_is_422(api: RestApi) -> None:
    response = _execute(api, "k" * 201, {"citizen_id": "CIT-0000017", "scheme_name": "scheme_alpha"})
    assert api.error(response, 422)["details"][0]["field"] == "header.Idempotency-Key"
