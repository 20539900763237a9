"""Scheme versions through REST, with real tokens: reading, drafting, publishing (four eyes), and every refusal."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.principals import Role
from civicflow.rules.document import rule_hash
from civicflow.rules.schema import DOCUMENT_SCHEMA
from civicflow.settings import REPO_ROOT
from orchestrator.schemes.audit_records import audit_instance_id
from tests.support.rest_api import RestApi
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document

SEEDED = ("scheme_alpha", "scheme_beta", "scheme_delta", "scheme_gamma")


@pytest.fixture(scope="module")
def second_admin(api: RestApi) -> RestApi:
    """An admin who is not the tests' usual admin ('admin-1'): the second pair of eyes."""
    return api.with_token(api.credentials.issue("admin-2", Role.ADMIN))


def draft(caller: RestApi, name: str, document: dict[str, Any]) -> dict[str, Any]:
    response = caller.post(f"/schemes/{name}/versions", json=document)
    assert response.status_code == 201, response.text
    return dict(response.json())


def publish(caller: RestApi, name: str, version: int, effective_from: str) -> Any:
    return caller.post(f"/schemes/{name}/versions/{version}/publish", json={"effective_from": effective_from})


def test_the_seeded_schemes_are_listed_with_version_1_in_force(api: RestApi) -> None:
    response = api.get("/schemes")

    assert response.status_code == 200, response.text
    listed = {scheme["scheme_name"]: scheme for scheme in response.json()}
    for name in SEEDED:
        assert listed[name] == {"scheme_name": name, "current_version": 1, "effective_from": "2000-01-01"}


def test_the_seed_is_version_1_published_by_the_seed_subject(auditor_api: RestApi) -> None:
    scheme = auditor_api.get("/schemes/scheme_delta").json()
    # Other tests may have drafted later versions of scheme_delta: the seed is the first.
    version = scheme["versions"][0]
    assert version["version"] == 1 and version["status"] == "published"
    assert version["created_by"] == version["published_by"] == "civicflow-seed"
    stored = auditor_api.get("/schemes/scheme_delta/versions/1").json()
    seed = json.loads((REPO_ROOT / "schemes" / "scheme_delta.json").read_text())
    assert stored["document"] == seed["document"]
    assert stored["rule_hash"] == version["rule_hash"] == rule_hash(seed["document"])


def test_the_document_schema_is_served_to_every_role(api: RestApi) -> None:
    for role in Role:
        response = api.as_role(role).get("/schemes/schema")
        assert response.status_code == 200, response.text
        assert response.json() == DOCUMENT_SCHEMA


def test_drafts_count_1_2_3_per_scheme_and_keep_their_document(analyst_api: RestApi) -> None:
    name = fresh_scheme("test")
    documents = [seeded_document("scheme_alpha", max_income=income) for income in (100000, 200000, 300000)]

    created = [draft(analyst_api, name, document) for document in documents]

    assert created == [
        {"scheme_name": name, "version": number, "status": "draft", "rule_hash": rule_hash(document)}
        for number, document in enumerate(documents, start=1)
    ]
    versions = analyst_api.get(f"/schemes/{name}").json()["versions"]
    assert [version["version"] for version in versions] == [1, 2, 3]
    for version in versions:
        assert version["status"] == "draft" and version["created_by"] == "analyst-1"
        assert version["effective_from"] is None and version["published_by"] is None
        assert version["published_at"] is None and version["created_at"]
    second = analyst_api.get(f"/schemes/{name}/versions/2").json()
    assert second == {
        "scheme_name": name,
        "version": 2,
        "status": "draft",
        "effective_from": None,
        "rule_hash": rule_hash(documents[1]),
        "document": documents[1],
    }
    # Nothing of it is in force: it is listed without a current version.
    listed = {scheme["scheme_name"]: scheme for scheme in analyst_api.get("/schemes").json()}
    assert listed[name] == {"scheme_name": name, "current_version": None, "effective_from": None}


def test_publishing_takes_a_second_admin(admin_api: RestApi, second_admin: RestApi) -> None:
    name = fresh_scheme("test")
    draft(admin_api, name, seeded_document("scheme_alpha"))

    refused = admin_api.error(publish(admin_api, name, 1, "2026-01-01"), 403)
    assert refused["code"] == "PERMISSION_DENIED"
    assert "'admin-1' may not publish" in refused["message"]

    response = publish(second_admin, name, 1, "2026-01-01")
    assert response.status_code == 200, response.text
    published = response.json()
    assert published["scheme_name"] == name and published["version"] == 1
    assert published["status"] == "published" and published["effective_from"] == "2026-01-01"
    assert published["created_by"] == "admin-1" and published["published_by"] == "admin-2"
    assert published["published_at"] >= published["created_at"]
    listed = {scheme["scheme_name"]: scheme for scheme in admin_api.get("/schemes").json()}
    assert listed[name] == {"scheme_name": name, "current_version": 1, "effective_from": "2026-01-01"}


def test_only_an_admin_publishes_and_only_analysts_and_admins_draft(api: RestApi, analyst_api: RestApi) -> None:
    name = fresh_scheme("test")
    for role in (Role.CASEWORKER, Role.AUDITOR):
        refused = api.as_role(role).post(f"/schemes/{name}/versions", json=seeded_document("scheme_alpha"))
        assert api.error(refused, 403)["code"] == "PERMISSION_DENIED"
    draft(analyst_api, name, seeded_document("scheme_alpha"))
    for role in (Role.CASEWORKER, Role.AUDITOR, Role.ANALYST):
        refused = publish(api.as_role(role), name, 1, "2026-01-01")
        assert api.error(refused, 403)["code"] == "PERMISSION_DENIED"
    assert api.get(f"/schemes/{name}").json()["versions"][0]["status"] == "draft"


def test_a_published_version_cannot_be_published_again(analyst_api: RestApi, admin_api: RestApi) -> None:
    name = fresh_scheme("test")
    draft(analyst_api, name, seeded_document("scheme_alpha"))
    assert publish(admin_api, name, 1, "2026-01-01").status_code == 200

    conflict = admin_api.error(publish(admin_api, name, 1, "2027-01-01"), 409)

    assert conflict["code"] == "FAILED_PRECONDITION"
    assert "already published" in conflict["message"]
    assert admin_api.get(f"/schemes/{name}").json()["versions"][0]["effective_from"] == "2026-01-01"


def test_a_version_cannot_take_effect_before_the_latest_published_one(analyst_api: RestApi, admin_api: RestApi) -> None:
    name = fresh_scheme("test")
    for income in (100000, 200000, 300000):
        draft(analyst_api, name, seeded_document("scheme_alpha", max_income=income))
    assert publish(admin_api, name, 1, "2026-06-01").status_code == 200

    conflict = admin_api.error(publish(admin_api, name, 2, "2026-05-31"), 409)
    assert conflict["code"] == "FAILED_PRECONDITION"
    assert "2026-06-01" in conflict["message"]

    # The same date is allowed, and the higher version is the one in force.
    assert publish(admin_api, name, 3, "2026-06-01").status_code == 200
    listed = {scheme["scheme_name"]: scheme for scheme in admin_api.get("/schemes").json()}
    assert listed[name] == {"scheme_name": name, "current_version": 3, "effective_from": "2026-06-01"}
    assert publish(admin_api, name, 2, "2026-06-01").status_code == 200
    listed = {scheme["scheme_name"]: scheme for scheme in admin_api.get("/schemes").json()}
    assert listed[name]["current_version"] == 3


def test_an_invalid_document_is_422_with_every_problem_at_its_path(analyst_api: RestApi) -> None:
    name = fresh_scheme("test")
    document = copy.deepcopy(seeded_document("scheme_alpha"))
    del document["description"]
    document["criteria"][0]["kind"] = "maybe"

    error = analyst_api.error(analyst_api.post(f"/schemes/{name}/versions", json=document), 422)

    assert error["code"] == "INVALID_ARGUMENT"
    fields = [problem["field"] for problem in error["details"]]
    assert len(fields) >= 2, error
    assert "document.criteria[0].kind" in fields
    assert all(field.startswith("document") for field in fields)
    # Nothing was created: the scheme does not exist.
    assert analyst_api.get(f"/schemes/{name}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/schemes/Not-A-Name", None),
        ("get", "/schemes/scheme_alpha/versions/0", None),
        ("get", "/schemes/scheme_alpha/versions/-3", None),
        ("get", "/schemes/scheme_alpha/versions/99999999999", None),
        ("post", "/schemes/UPPER/versions", {"description": "x"}),
        ("post", "/schemes/schema/versions", None),
        ("post", "/schemes/scheme_alpha/versions", [1, 2]),
        ("post", "/schemes/scheme_alpha/versions/0/publish", {"effective_from": "2026-01-01"}),
        ("post", "/schemes/scheme_alpha/versions/1/publish", {"effective_from": "2026-02-30"}),
        ("post", "/schemes/scheme_alpha/versions/1/publish", {"effective_from": "tomorrow"}),
        ("post", "/schemes/scheme_alpha/versions/1/publish", {"effective_from": "2026-W01-1"}),
        ("post", "/schemes/scheme_alpha/versions/1/publish", {}),
    ],
)
def test_bad_names_versions_and_dates_are_422(admin_api: RestApi, method: str, path: str, body: Any) -> None:
    if body is None and method == "post":
        body = seeded_document("scheme_alpha")
    response = admin_api.get(path) if method == "get" else admin_api.post(path, json=body)
    assert admin_api.error(response, 422)["code"] == "INVALID_ARGUMENT"


def test_unknown_schemes_and_versions_are_404(analyst_api: RestApi, admin_api: RestApi) -> None:
    unknown = admin_api.error(admin_api.get("/schemes/no_such_scheme"), 404)
    assert unknown["code"] == "NOT_FOUND" and "scheme_alpha" in unknown["message"]
    assert admin_api.error(admin_api.get("/schemes/no_such_scheme/versions/1"), 404)["code"] == "NOT_FOUND"
    missing = admin_api.error(admin_api.get("/schemes/scheme_alpha/versions/99"), 404)
    assert "no version 99" in missing["message"]
    assert admin_api.error(publish(admin_api, "scheme_alpha", 99, "2026-01-01"), 404)["code"] == "NOT_FOUND"
    assert admin_api.error(publish(admin_api, "no_such_scheme", 1, "2026-01-01"), 404)["code"] == "NOT_FOUND"


def test_drafting_and_publishing_are_audit_entries_with_the_subject_as_actor(
    analyst_api: RestApi, admin_api: RestApi, auditor_api: RestApi, owner: sa.Engine
) -> None:
    name = fresh_scheme("test")
    document = seeded_document("scheme_alpha", max_income=123456)
    draft(analyst_api, name, document)
    assert publish(admin_api, name, 1, "2026-03-01").status_code == 200

    with owner.connect() as connection:
        seqs = connection.execute(
            sa.text("SELECT seq FROM audit.audit_trail WHERE instance_id = :id ORDER BY seq"),
            {"id": audit_instance_id(name, 1)},
        ).scalars()
        entries = [auditor_api.get(f"/audit/entries/{seq}").json() for seq in seqs]

    assert [(entry["step_name"], entry["actor"]) for entry in entries] == [
        ("create_scheme_version", "analyst-1"),
        ("publish_scheme_version", "admin-1"),
    ]
    created, published = entries
    assert created["input"] == {"scheme_name": name, "document": document}
    assert created["output"] == {"scheme_name": name, "version": 1, "status": "draft", "rule_hash": rule_hash(document)}
    assert published["input"] == {"scheme_name": name, "version": 1, "effective_from": "2026-03-01"}
    assert published["output"]["rule_hash"] == rule_hash(document)
    assert published["output"]["effective_from"] == "2026-03-01"
    report = auditor_api.get("/audit/verify").json()
    assert report["ok"] is True, report


def test_a_refused_change_leaves_no_audit_entry(admin_api: RestApi, owner: sa.Engine) -> None:
    name = fresh_scheme("test")
    draft(admin_api, name, seeded_document("scheme_alpha"))
    admin_api.error(publish(admin_api, name, 1, "2026-01-01"), 403)

    with owner.connect() as connection:
        steps = connection.execute(
            sa.text("SELECT step_name FROM audit.audit_trail WHERE instance_id = :id"),
            {"id": audit_instance_id(name, 1)},
        ).scalars()
        assert list(steps) == ["create_scheme_version"]
