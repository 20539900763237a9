"""The gateway's gRPC-to-HTTP table and its one error shape, against the real app with nothing behind it."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.grpc_errors import UNAVAILABLE_RETRY_SECONDS
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.errors import (
    HTTP_STATUS_BY_GRPC_CODE,
    RETRY_AFTER_SECONDS,
    http_status_for,
    install_error_handlers,
    rpc_error_body,
)
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi

# Nothing listens on port 1, so every call fails with UNAVAILABLE at once.
UNREACHABLE = "127.0.0.1:1"

EXPECTED_HTTP_STATUS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 422,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}


@pytest.mark.parametrize(("code", "status"), EXPECTED_HTTP_STATUS.items(), ids=lambda value: str(value))
def test_grpc_code_maps_to_the_http_status_of_code_proto(code: grpc.StatusCode, status: int) -> None:
    assert http_status_for(code) == status


def test_every_grpc_error_code_has_an_entry_in_the_table() -> None:
    errors = {code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}
    assert errors <= HTTP_STATUS_BY_GRPC_CODE.keys()


@pytest.fixture(scope="module")
def client(credentials: Credentials) -> Iterator[RestApi]:
    """The app with nothing behind it, called by a caseworker: the token is verified, then every call fails."""
    settings = GatewaySettings(
        orchestrator_target=UNREACHABLE,
        evaluator_target=UNREACHABLE,
        audit_target=UNREACHABLE,
        request_timeout_seconds=5.0,
        **credentials.service_settings(ServiceIdentity.GATEWAY),
    )
    with TestClient(create_app(settings)) as test_client:
        yield RestApi.acting_as(test_client, credentials, Role.CASEWORKER)


def _error(body: Any, *, status: int, code: str) -> dict[str, Any]:
    assert set(body) == {"error"}
    error = body["error"]
    # An unexpected 500 alone carries the id of its log line.
    assert set(error) - ({"error_id"} if status == 500 else set()) == {"status", "code", "message", "details"}
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return dict(error)


def test_unreachable_orchestrator_answers_503_in_the_error_shape(client: RestApi) -> None:
    response = client.post("/workflows/execute", json={"template_id": "eligibility_check", "inputs": {}})

    assert response.status_code == 503
    _error(response.json(), status=503, code="UNAVAILABLE")
    # A client is told when to try again: the launcher restarts a service within seconds.
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert 1 <= RETRY_AFTER_SECONDS <= 5


def test_an_unreachable_service_is_named_in_our_words_not_grpcs(client: RestApi) -> None:
    orchestrator = client.post("/workflows/execute", json={"template_id": "eligibility_check", "inputs": {}})
    audit = client.get("/audit/checkpoint")

    assert orchestrator.json()["error"]["message"] == "the orchestrator could not be reached; send the request again"
    assert audit.status_code == 503
    assert audit.json()["error"]["message"] == "the audit service could not be reached; send the request again"
    assert audit.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_a_services_own_unavailable_keeps_its_words_and_its_retry_delay() -> None:
    """What maps_errors sends for a service's own outage: the message, and a RetryInfo that marks it as ours."""
    status = status_pb2.Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message="the database is unavailable")
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromTimedelta(datetime.timedelta(seconds=UNAVAILABLE_RETRY_SECONDS))
    status.details.add().Pack(retry)
    trailing = grpc.aio.Metadata(*rpc_status.to_status(status).trailing_metadata)
    said = grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), trailing, details=status.message)
    gone = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details="failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Connection refused",
    )

    assert rpc_error_body(said, path="/workflows/execute").error.message == "the database is unavailable"
    assert "ipv4" not in rpc_error_body(gone, path="/workflows/execute").error.message


def test_unreachable_orchestrator_gives_503_on_reads_too(client: RestApi) -> None:
    for path in ("/templates", f"/workflows/{uuid.uuid4()}", f"/workflows/report/{uuid.uuid4()}/results"):
        response = client.get(path)
        assert response.status_code == 503, path
        _error(response.json(), status=503, code="UNAVAILABLE")
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_healthz_is_503_degraded_when_the_services_are_unreachable(client: RestApi) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "services": {
            "gateway": "SERVING",
            "orchestrator": "NOT_SERVING",
            "evaluator": "NOT_SERVING",
            "audit_service": "NOT_SERVING",
        },
    }


def test_extra_body_field_is_a_422_naming_the_field(client: RestApi) -> None:
    response = client.post("/workflows/execute", json={"template_id": "eligibility_check", "inputs": {}, "x": 1})

    assert response.status_code == 422
    error = _error(response.json(), status=422, code="INVALID_ARGUMENT")
    assert [detail["field"] for detail in error["details"]] == ["body.x"]
    assert "body.x" in error["message"]


def test_appeal_without_a_uuid_original_is_a_422(client: RestApi) -> None:
    response = client.post("/workflows/appeal", json={"original_instance_id": "abc", "new_data": {}})

    error = _error(response.json(), status=422, code="INVALID_ARGUMENT")
    assert [detail["field"] for detail in error["details"]] == ["body.original_instance_id"]


def test_non_uuid_instance_id_is_a_422_before_any_call(client: RestApi) -> None:
    response = client.get("/workflows/not-a-uuid")

    error = _error(response.json(), status=422, code="INVALID_ARGUMENT")
    assert error["details"][0]["field"] == "path.instance_id"


@pytest.mark.parametrize("query", ["offset=-1", "limit=0", "limit=1001", "limit=ten"])
def test_results_paging_out_of_range_is_a_422(client: RestApi, query: str) -> None:
    response = client.get(f"/workflows/report/{uuid.uuid4()}/results?{query}")

    error = _error(response.json(), status=422, code="INVALID_ARGUMENT")
    assert error["details"][0]["field"].startswith("query.")


def test_unknown_path_answers_in_the_same_error_shape(client: RestApi) -> None:
    response = client.get("/no/such/path")

    _error(response.json(), status=404, code="NOT_FOUND")


def test_docs_and_openapi_describe_the_api(client: RestApi) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()

    assert spec["info"]["title"] == "Civicflow"
    assert spec["info"]["description"]
    assert {"/workflows/execute", "/workflows/appeal", "/workflows/{instance_id}", "/templates", "/healthz"} <= set(
        spec["paths"]
    )


def test_an_unexpected_error_answers_an_error_id_the_log_line_carries_and_nothing_of_its_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/defect")
    async def defect() -> None:
        raise KeyError("secret_column_name")

    response = TestClient(app, raise_server_exceptions=False).get("/defect")

    error = _error(response.json(), status=500, code="INTERNAL")
    assert "KeyError" not in response.text and "secret_column_name" not in response.text
    assert re.fullmatch(r"[0-9a-f]{12}", error["error_id"]) and error["error_id"] in error["message"]
    [logged] = [record for record in caplog.records if getattr(record, "error_id", None) == error["error_id"]]
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError


@pytest.mark.parametrize("code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL])
def test_an_upstream_failure_of_unknown_cause_is_passed_on_as_an_error_id_alone(code: grpc.StatusCode) -> None:
    leaked = "Unexpected <class 'RecursionError'>: maximum recursion depth exceeded"
    failure = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=leaked)

    body = rpc_error_body(failure, path="/workflows/execute").error

    assert (body.status, body.code) == (500, code.name)
    assert body.error_id is not None and body.error_id in body.message
    assert "RecursionError" not in body.message


def test_an_upstream_internal_error_keeps_the_services_error_id() -> None:
    details = "internal error (error id 0123456789ab); the service log has it"
    failure = grpc.aio.AioRpcError(grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)

    assert rpc_error_body(failure, path="/templates").error.error_id == "0123456789ab"


def test_out_of_range_from_a_service_is_invalid_argument_on_rest() -> None:
    failure = grpc.aio.AioRpcError(
        grpc.StatusCode.OUT_OF_RANGE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="tree_size 9 > 5"
    )

    body = rpc_error_body(failure, path="/audit/consistency").error

    assert (body.status, body.code, body.message) == (422, "INVALID_ARGUMENT", "tree_size 9 > 5")


def test_a_body_too_deep_for_the_json_decoder_is_a_422_naming_the_body(client: RestApi) -> None:
    body = '{"template_id": "eligibility_check", "inputs": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"

    response = client.post("/workflows/execute", content=body, headers={"Content-Type": "application/json"})

    error = _error(response.json(), status=422, code="INVALID_ARGUMENT")
    assert error["details"] == [{"field": "body", "problem": "is not JSON the gateway can read"}]
