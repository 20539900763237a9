"""Appeals through REST: a new linked instance decides with the new data under the appealed decision's version; the
original never changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from orchestrator.citizens import mock_citizen
from tests.support.rest_api import RestApi
from tests.support.scheme_versions import fresh_scheme, published
from tests.support.seeded_schemes import seeded_document

SCHEME = "scheme_alpha"  # ages 18..60, income up to 250000


@pytest.fixture(scope="module")
def too_old(api: RestApi) -> dict[str, Any]:
    """A completed eligibility_check of a citizen whom only the age rule of scheme_alpha excludes."""
    for position in range(1, 200):
        run = api.check_eligibility(f"CIT-{position:07d}", SCHEME)
        citizen = run["outputs"]["citizen"]
        if citizen["age"] > 60 and citizen["income"] < 200000:
            assert run["outputs"]["decision"]["decision"] == "NOT_ELIGIBLE"
            return run
    raise AssertionError("no citizen over 60 with a modest income among the first 200")


@contextmanager
def _unchanged(api: RestApi, instance_id: str) -> Iterator[None]:
    """Asserts that the instance and its audit trail read byte for byte the same after the block."""
    instance = api.get(f"/workflows/{instance_id}").content
    audit = api.get(f"/workflows/{instance_id}/audit").content
    yield
    assert api.get(f"/workflows/{instance_id}").content == instance
    assert api.get(f"/workflows/{instance_id}/audit").content == audit


def _applied_citizen(api: RestApi, instance_id: str) -> dict[str, Any]:
    """The citizen as the appeal's fetch_citizen step recorded it, new data applied."""
    fetch = next(entry for entry in api.audit(instance_id) if entry["step_name"] == "fetch_citizen")
    assert fetch["status"] == "success"
    return dict(fetch["output"]["citizen"])


def test_appeal_with_new_data_that_changes_the_decision(api: RestApi, too_old: dict[str, Any]) -> None:
    new_data = {"age": 30, "income": 60000}

    with _unchanged(api, too_old["instance_id"]):
        appeal = api.appeal(too_old["instance_id"], new_data)

    assert appeal["original_instance_id"] == too_old["instance_id"]
    assert (appeal["original_decision"], appeal["new_decision"]) == ("NOT_ELIGIBLE", "ELIGIBLE")
    assert appeal["outcome"] == "decision_changed"
    assert (appeal["status"], appeal["error"]) == ("completed", None)
    uuid.UUID(appeal["appeal_id"])
    new = api.instance(appeal["new_instance_id"])
    assert new["template_id"] == "appeal_processing"
    assert new["appealed_instance_id"] == too_old["instance_id"]
    assert new["outputs"]["decision"]["decision"] == "ELIGIBLE"
    applied = _applied_citizen(api, appeal["new_instance_id"])
    assert (applied["age"], applied["income"]) == (30, 60000)
    assert applied["citizen_id"] == too_old["outputs"]["citizen"]["citizen_id"]
    assert new["inputs"]["scheme_version"] == too_old["outputs"]["decision"]["scheme_version"] == 1
    assert "as_of" not in new["inputs"]
    assert new["outputs"]["decision"]["scheme_version"] == 1


def test_household_size_and_disability_can_be_corrected(api: RestApi, too_old: dict[str, Any]) -> None:
    registry = too_old["outputs"]["citizen"]
    corrections = {
        "household_size": registry["household_size"] % 8 + 1,
        "has_disability": not registry["has_disability"],
    }

    appeal = api.appeal(too_old["instance_id"], corrections)

    assert appeal["status"] == "completed"
    applied = _applied_citizen(api, appeal["new_instance_id"])
    assert {key: applied[key] for key in corrections} == corrections
    assert {key: value for key, value in applied.items() if key not in corrections} == {
        key: value for key, value in registry.items() if key not in corrections
    }


def test_appeal_with_new_data_that_keeps_the_decision(api: RestApi, too_old: dict[str, Any]) -> None:
    category = "st" if too_old["outputs"]["citizen"]["category"] != "st" else "sc"

    with _unchanged(api, too_old["instance_id"]):
        appeal = api.appeal(too_old["instance_id"], {"category": category})

    assert (appeal["original_decision"], appeal["new_decision"]) == ("NOT_ELIGIBLE", "NOT_ELIGIBLE")
    assert appeal["outcome"] == "decision_upheld"
    assert appeal["status"] == "completed"
    assert _applied_citizen(api, appeal["new_instance_id"])["category"] == category


def test_an_appeal_can_itself_be_appealed(api: RestApi, too_old: dict[str, Any]) -> None:
    first = api.appeal(too_old["instance_id"], {"age": 30, "income": 60000})

    with _unchanged(api, first["new_instance_id"]):
        second = api.appeal(first["new_instance_id"], {"age": 30, "income": 240000})

    assert second["original_instance_id"] == first["new_instance_id"]
    assert (second["original_decision"], second["new_decision"]) == ("ELIGIBLE", "NEEDS_REVIEW")
    assert second["outcome"] == "decision_changed"
    second_run = api.instance(second["new_instance_id"])
    assert second_run["appealed_instance_id"] == first["new_instance_id"]
    assert second_run["inputs"]["scheme_version"] == second_run["outputs"]["decision"]["scheme_version"] == 1


def test_appeal_of_an_unknown_instance_is_404(api: RestApi) -> None:
    response = api.post("/workflows/appeal", json={"original_instance_id": str(uuid.uuid4()), "new_data": {}})

    assert api.error(response, 404)["code"] == "NOT_FOUND"


def test_appeal_of_an_impact_analysis_is_409(admin_api: RestApi) -> None:
    """By an admin, who may read the analysis and run appeals: what is refused is the appeal itself."""
    analysis = admin_api.execute("impact_analysis", {"scheme_name": SCHEME, "population_size": 10})

    response = admin_api.post(
        "/workflows/appeal", json={"original_instance_id": analysis["instance_id"], "new_data": {"age": 30}}
    )

    assert admin_api.error(response, 409)["code"] == "FAILED_PRECONDITION"


def test_appeal_of_a_failed_run_is_409(api: RestApi) -> None:
    failed = api.execute("eligibility_check", {"citizen_id": "CIT-0000001", "scheme_name": "scheme_unknown"})
    assert failed["status"] == "failed"

    response = api.post(
        "/workflows/appeal", json={"original_instance_id": failed["instance_id"], "new_data": {"age": 30}}
    )

    assert api.error(response, 409)["code"] == "FAILED_PRECONDITION"


@pytest.mark.parametrize(
    ("new_data", "field"),
    [
        ({"height": 180}, "height"),
        ({"age": "thirty"}, "age"),
        ({"age": 131}, "age"),
        ({"income": -1}, "income"),
        ({"category": "x"}, "category"),
        ({"household_size": 0}, "household_size"),
        ({"household_size": 101}, "household_size"),
        ({"household_size": 2.5}, "household_size"),
        ({"has_disability": "yes"}, "has_disability"),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "age-131",
        "negative-income",
        "unknown-category",
        "household-0",
        "household-101",
        "household-fraction",
        "disability-not-boolean",
    ],
)
def test_invalid_new_data_is_422_naming_the_field_by_its_request_path_and_creates_nothing(
    api: RestApi,
    count_instances: Callable[[], int],
    too_old: dict[str, Any],
    new_data: dict[str, Any],
    field: str,
) -> None:
    before = count_instances()

    with _unchanged(api, too_old["instance_id"]):
        response = api.post(
            "/workflows/appeal", json={"original_instance_id": too_old["instance_id"], "new_data": new_data}
        )

    error = api.error(response, 422)
    assert error["code"] == "INVALID_ARGUMENT"
    assert field in error["message"] and "evidence" not in error["message"]
    named = "new_data" if field == "height" else f"new_data.{field}"  # an unknown key is the object's problem
    assert [detail["field"] for detail in error["details"]] == [named]
    assert count_instances() == before


def test_appeal_body_with_an_unknown_field_is_422(api: RestApi, too_old: dict[str, Any]) -> None:
    body = {"original_instance_id": too_old["instance_id"], "new_data": {"age": 30}, "reason": "typo"}

    error = api.error(api.post("/workflows/appeal", json=body), 422)

    assert error["code"] == "INVALID_ARGUMENT"
    assert error["details"][0]["field"] == "body.reason"


def test_an_appeal_keeps_the_version_of_the_decision_it_appeals_after_a_new_one_is_in_force(api: RestApi) -> None:
    """Its own scheme, so that the other tests' checks keep scheme_alpha's version 1 in force."""
    scheme = fresh_scheme("appeal_pin")
    first = published(api, scheme, seeded_document("scheme_alpha"), "2000-01-01")
    citizen_id = next(
        f"CIT-{position:07d}"
        for position in range(1, 1000)
        if 45 <= mock_citizen(f"CIT-{position:07d}").age <= 60 and mock_citizen(f"CIT-{position:07d}").income < 200000
    )
    decided = api.check_eligibility(citizen_id, scheme)
    assert decided["outputs"]["decision"]["scheme_version"] == first
    assert decided["outputs"]["decision"]["decision"] == "ELIGIBLE"

    # Version 2 ends eligibility at 40, in force from a date long before the decision: every check from now on is
    # decided under it, and so would the appeal be, were it not pinned.
    second = published(api, scheme, seeded_document("scheme_alpha", max_age=40), "2001-01-01")
    assert second == first + 1
    later = api.check_eligibility(citizen_id, scheme)["outputs"]["decision"]
    assert (later["scheme_version"], later["decision"]) == (second, "NOT_ELIGIBLE")
    before = api.execute("eligibility_check", {"citizen_id": citizen_id, "scheme_name": scheme, "as_of": "2000-12-31"})
    assert (before["status"], before["outputs"]["decision"]["scheme_version"]) == ("completed", first)

    appeal = api.appeal(decided["instance_id"], {"income": 60000})
    again = api.appeal(appeal["new_instance_id"], {"income": 61000})

    for made in (appeal, again):
        run = api.instance(made["new_instance_id"])
        assert run["inputs"]["scheme_version"] == first
        assert run["outputs"]["decision"]["scheme_version"] == first
        assert run["outputs"]["decision"]["rule_hash"] == decided["outputs"]["decision"]["rule_hash"]
        assert (made["new_decision"], made["outcome"]) == ("ELIGIBLE", "decision_upheld")
