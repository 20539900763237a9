"""Reading instances, audit trails and reports: unknown ids are 404, malformed ids 422, wrong kinds 409."""

from __future__ import annotations

import uuid

import pytest

from tests.support.rest_api import RestApi


@pytest.mark.parametrize("suffix", ["", "/audit"])
def test_unknown_instance_is_404(api: RestApi, suffix: str) -> None:
    error = api.error(api.get(f"/workflows/{uuid.uuid4()}{suffix}"), 404)

    assert error["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/workflows/42", "/workflows/not-a-uuid/audit", "/workflows/report/x1"])
def test_malformed_instance_id_is_422(api: RestApi, path: str) -> None:
    error = api.error(api.get(path), 422)

    assert error["code"] == "INVALID_ARGUMENT"
    assert error["details"][0]["field"] == "path.instance_id"


@pytest.mark.parametrize("suffix", ["", "/results"])
def test_report_of_unknown_instance_is_404(api: RestApi, suffix: str) -> None:
    api.error(api.get(f"/workflows/report/{uuid.uuid4()}{suffix}"), 404)


@pytest.mark.parametrize("suffix", ["", "/results"])
def test_report_of_an_eligibility_check_is_409(api: RestApi, suffix: str) -> None:
    run = api.check_eligibility("CIT-0000001", "scheme_alpha")

    error = api.error(api.get(f"/workflows/report/{run['instance_id']}{suffix}"), 409)

    assert error["code"] == "FAILED_PRECONDITION"
