"""`civicflow schemes`: the scheme routes through the command line, each command by the role that may use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicflow.auth.principals import Role
from tests.support.cli_runs import RunCommand
from tests.support.rest_api import RestApi

SCHEME = "cli_household_support"
DOCUMENT = {
    "description": "A scheme drafted through the command line",
    "parameters": {"max_income": 150000},
    "criteria": [
        {"id": "income_ceiling", "kind": "exclusion", "test": {"<=": [{"var": "income"}, {"param": "max_income"}]}}
    ],
}


def test_schemes_are_listed_with_the_version_in_force(civicflow: RunCommand, api: RestApi) -> None:
    table = civicflow("schemes", "list")
    assert table.status == 0, table.err
    assert any(line.split()[:3] == ["scheme_delta", "1", "2000-01-01"] for line in table.out.splitlines())
    as_json = civicflow("schemes", "list", "--json")
    assert as_json.json() == api.get("/schemes").json()


def test_a_draft_is_made_from_a_file_and_published_by_another_person(civicflow: RunCommand, tmp_path: Path) -> None:
    document_file = tmp_path / "document.json"
    document_file.write_text(json.dumps(DOCUMENT))

    refused = civicflow("schemes", "draft", SCHEME, str(document_file), role=Role.CASEWORKER)
    assert refused.status == 1
    assert "error 403" in refused.err
    drafted = civicflow("schemes", "draft", SCHEME, str(document_file), "--json", role=Role.ANALYST)
    assert drafted.status == 0, drafted.err
    assert drafted.json()["status"] == "draft"
    version = str(drafted.json()["version"])

    published = civicflow("schemes", "publish", SCHEME, version, "--effective-from", "2001-01-01", role=Role.ADMIN)
    assert published.status == 0, published.err
    assert f"{SCHEME} version {version}: published from 2001-01-01" in published.out
    again = civicflow("schemes", "publish", SCHEME, version, "--effective-from", "2001-01-01", role=Role.ADMIN)
    assert again.status == 1
    assert "error 409" in again.err

    versions = civicflow("schemes", "show", SCHEME)
    assert versions.status == 0, versions.err
    assert any(line.split()[:3] == [version, "published", "2001-01-01"] for line in versions.out.splitlines())
    one = civicflow("schemes", "show", SCHEME, version)
    assert "income_ceiling" in one.out and "exclusion" in one.out and "150000" in one.out


def test_a_document_with_problems_is_refused_with_each_at_its_path(civicflow: RunCommand, tmp_path: Path) -> None:
    document_file = tmp_path / "document.json"
    broken = {**DOCUMENT, "criteria": [{**DOCUMENT["criteria"][0], "test": {"<=": [{"var": "category"}, 5]}}]}
    document_file.write_text(json.dumps(broken))

    refused = civicflow("schemes", "draft", SCHEME, str(document_file), role=Role.ANALYST)

    assert refused.status == 1
    assert "error 422" in refused.err
    assert "criteria[0].test" in refused.err and "income_ceiling" in refused.err


def test_a_date_that_is_no_date_is_a_usage_error(civicflow: RunCommand, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        civicflow("schemes", "publish", SCHEME, "1", "--effective-from", "2026-02-30", role=Role.ADMIN)
    assert exited.value.code == 2
    assert "'2026-02-30' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
