"""GET /workflows through the real gateway and services: each filter as a query parameter, paging with the cursor
across the 10,000 seeded runs, hostile values refused with 422 naming their field, the runs each role may read, and
GET / (the API's index) for anyone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bench.run_list_seed import RunListShape
from civicflow.auth.principals import Role
from tests.support.eligibility_oracle import citizens_decided
from tests.support.rest_api import RestApi


def window(shape: RunListShape) -> dict[str, str]:
    """Query parameters that hold the seeded runs alone (they are a day old)."""
    return {
        "created_after": shape.created_at_of(shape.runs - 1).isoformat(),
        "created_before": (shape.newest + timedelta(seconds=1)).isoformat(),
    }


def page(api: RestApi, params: dict[str, Any]) -> dict[str, Any]:
    response = api.get("/workflows", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def list_all(api: RestApi, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = page(api, {**params, **({"cursor": cursor} if cursor else {})})
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def newest_first(items: list[dict[str, Any]]) -> bool:
    keys = [(item["created_at"], item["instance_id"]) for item in items]
    return keys == sorted(keys, reverse=True)


def test_paging_with_the_cursor_lists_every_seeded_run_once_newest_first(
    admin_api: RestApi, seeded_runs: RunListShape
) -> None:
    items = list_all(admin_api, {**window(seeded_runs), "limit": 500})

    assert len(items) == seeded_runs.runs == len({item["instance_id"] for item in items})
    assert newest_first(items)
    assert set(items[0]) == {
        "instance_id",
        "template_id",
        "template_version",
        "status",
        "actor",
        "created_at",
        "completed_at",
    }


@pytest.mark.parametrize("name", ["template_id", "status", "citizen_id", "actor", "created"])
def test_each_filter_as_a_query_parameter(name: str, auditor_api: RestApi, seeded_runs: RunListShape) -> None:
    shape = seeded_runs
    citizen = f"{shape.citizen_prefix}{42:07d}"
    params, listed = {
        "template_id": ({"template_id": "appeal_processing"}, lambda n: shape.template_of(n) == "appeal_processing"),
        "status": ({"status": "failed"}, lambda n: shape.status_of(n) == "failed"),
        "citizen_id": ({"citizen_id": citizen}, lambda n: shape.citizen_of(n) == citizen),
        "actor": ({"actor": shape.actors[4]}, lambda n: shape.actor_of(n) == shape.actors[4]),
        "created": (
            {"created_after": shape.created_at_of(500).isoformat(), "created_before": shape.newest.isoformat()},
            lambda n: shape.created_at_of(500) <= shape.created_at_of(n) < shape.newest,
        ),
    }[name]

    items = list_all(auditor_api, {**window(shape), **params, "limit": 500})

    wanted = sorted(
        (shape.template_of(n), shape.actor_of(n), shape.status_of(n)) for n in range(shape.runs) if listed(n)
    )
    assert wanted
    assert sorted((item["template_id"], item["actor"], item["status"]) for item in items) == wanted
    assert newest_first(items)


def test_a_waiting_run_is_listed_as_waiting_and_then_by_its_citizen(api: RestApi) -> None:
    caseworker = api.with_token(api.credentials.issue("run-list-rest", Role.CASEWORKER))
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1400)
    run = caseworker.execute("benefit_application", {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})
    assert run["status"] == "waiting"

    waiting = page(caseworker, {"actor": "run-list-rest", "status": "waiting"})["items"]
    by_citizen = page(caseworker, {"citizen_id": citizen_id, "template_id": "benefit_application"})["items"]

    assert [item["instance_id"] for item in waiting] == [run["instance_id"]]
    assert waiting[0]["completed_at"] is None and waiting[0]["actor"] == "run-list-rest"
    # Other tests may have applied for the same citizen: theirs are listed too, this one among them.
    assert run["instance_id"] in [item["instance_id"] for item in by_citizen]
    assert {item["template_id"] for item in by_citizen} == {"benefit_application"}


def test_each_role_lists_the_runs_of_the_templates_it_may_read(api: RestApi, seeded_runs: RunListShape) -> None:
    params = {**window(seeded_runs), "actor": seeded_runs.actors[0], "limit": 500}
    templates = {role: {item["template_id"] for item in list_all(api.as_role(role), params)} for role in Role}

    assert templates[Role.CASEWORKER] == {"eligibility_check", "benefit_application", "appeal_processing"}
    assert templates[Role.ANALYST] == {"impact_analysis"}
    assert templates[Role.AUDITOR] == templates[Role.ADMIN] == set(seeded_runs.templates)


def test_a_template_the_caller_may_not_read_is_403(api: RestApi) -> None:
    error = api.error(api.get("/workflows", params={"template_id": "impact_analysis"}), 403)
    assert error["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "f" * 32}, "cursor"),
        ({"cursor": "x" * 65}, "query.cursor"),
        ({"cursor": ""}, "query.cursor"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"status": "finished"}, "query.status"),
        ({"template_id": "Not A Template"}, "query.template_id"),
        ({"created_after": "2026-12-01T00:00:00"}, "query.created_after"),  # no UTC offset
        ({"created_before": "yesterday"}, "query.created_before"),
        # Offsets that move the time past the years 1 to 9999 in UTC.
        ({"created_after": "0001-01-01T00:00:00+01:00"}, "query.created_after"),
        ({"created_before": "9999-12-31T23:59:59-01:00"}, "query.created_before"),
        ({"actor": "a" * 201}, "query.actor"),
        ({"citizen_id": "CIT\x00"}, "citizen_id"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_a_bad_value_is_422_naming_its_field(params: dict[str, str], field: str, admin_api: RestApi) -> None:
    error = admin_api.error(admin_api.get("/workflows", params=params), 422)
    assert error["code"] == "INVALID_ARGUMENT"
    assert [detail["field"] for detail in error["details"]] == [field]
    assert "Traceback" not in error["message"] and "psycopg" not in error["message"]


def test_unknown_query_parameters_are_ignored_as_on_every_route(admin_api: RestApi) -> None:
    assert page(admin_api, {"limit": 1, "colour": "blue"})["items"]


def test_the_index_names_the_api_and_its_links_to_anyone(api: RestApi) -> None:
    response = api.with_token(None).get("/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Civicflow",
        "version": response.json()["version"],
        "links": {
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/healthz",
            "workflows": "/workflows",
            "templates": "/templates",
            "reviews": "/reviews",
        },
    }
