"""The issue's story end to end, each step by the role that takes it in an agency.

An analyst writes scheme_delta's version 2 and sees its impact by category; an admin publishes
it from a date; a caseworker's check after that date is decided under it, while an appeal of a
decision made under version 1 is decided under version 1 again.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.support.rest_api import RestApi

SCHEME = "scheme_delta"
# After any date the other tests publish scheme_delta from, so that this publication is never refused as earlier.
EFFECTIVE_FROM = "2090-01-01"
POPULATION = 2000
CATEGORIES = ("general", "obc", "sc", "st")


def _version_1(api: RestApi) -> dict[str, Any]:
    response = api.get(f"/schemes/{SCHEME}/versions/1")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_new_version_is_analysed_published_and_decides_from_its_date_but_not_for_appeals(
    api: RestApi, analyst_api: RestApi, admin_api: RestApi
) -> None:
    # A caseworker decides a citizen under version 1 (the date is before the new version's).
    before = api.execute(
        "eligibility_check", {"citizen_id": "CIT-0000042", "scheme_name": SCHEME, "as_of": "2089-12-31"}
    )
    assert before["status"] == "completed", before
    assert before["outputs"]["decision"]["scheme_version"] == 1

    # The analyst writes version 2: every category's base 150,000 lower, so fewer citizens qualify.
    document = copy.deepcopy(_version_1(analyst_api)["document"])
    for category in CATEGORIES:
        document["parameters"][f"base_{category}"] -= 150000
    created = analyst_api.post(f"/schemes/{SCHEME}/versions", json=document)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert created.json()["status"] == "draft"

    # ... and sees its impact, by category, before anyone publishes it.
    run = analyst_api.execute(
        "impact_analysis", {"scheme_name": SCHEME, "population_size": POPULATION, "proposed_version": version}
    )
    assert run["status"] == "completed", run
    report = run["outputs"]["impact_report"]
    assert (report["baseline_version"], report["proposed_version"]) == (1, version)
    assert set(report["by_category"]) == set(CATEGORIES)
    assert sum(report["by_category"][category]["total"] for category in CATEGORIES) == POPULATION
    for category in CATEGORIES:
        counts = report["by_category"][category]
        assert counts["eligible"] <= counts["baseline"]["eligible"], f"lower ceilings admit no one new ({category})"
    assert report["eligible"] < report["baseline"]["eligible"]

    # The analyst may not publish; the admin may, from a date.
    refused = analyst_api.post(f"/schemes/{SCHEME}/versions/{version}/publish", json={"effective_from": EFFECTIVE_FROM})
    assert refused.status_code == 403, refused.text
    published = admin_api.post(f"/schemes/{SCHEME}/versions/{version}/publish", json={"effective_from": EFFECTIVE_FROM})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"

    # A check after the date is decided under version 2, one before it still under version 1.
    after = api.execute(
        "eligibility_check", {"citizen_id": "CIT-0000042", "scheme_name": SCHEME, "as_of": "2090-06-01"}
    )
    assert after["outputs"]["decision"]["scheme_version"] == version
    assert after["outputs"]["decision"]["rule_hash"] == published.json()["rule_hash"]

    # The appeal of the decision made under version 1 is decided under version 1.
    appeal = api.post(
        "/workflows/appeal", json={"original_instance_id": before["instance_id"], "new_data": {"household_size": 3}}
    )
    assert appeal.status_code == 200, appeal.text
    new_run = api.get(f"/workflows/{appeal.json()['new_instance_id']}").json()
    assert new_run["status"] == "completed", new_run
    assert new_run["outputs"]["decision"]["scheme_version"] == 1
    assert new_run["outputs"]["decision"]["rule_hash"] == before["outputs"]["decision"]["rule_hash"]
