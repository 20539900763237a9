"""The per-subject rate limit on the real stack: the gateway answers 429 with Retry-After beyond it on every route
that takes a token, and the orchestrator refuses a direct gRPC caller beyond it with RESOURCE_EXHAUSTED and the time
to wait, which the gateway relays as 429 with Retry-After."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import pytest
from fastapi.testclient import TestClient
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.orchestrators import replica_settings, serving
from tests.support.rest_api import RestApi

BURST = 3


def someone(credentials: Credentials, role: Role = Role.CASEWORKER) -> str:
    """A token of a subject of this test's own, so that no other test's calls count against it."""
    return credentials.issue(f"rate-{uuid.uuid4().hex[:8]}", role)


@pytest.fixture(scope="module")
def limited_gateway(gateway_settings: GatewaySettings) -> Iterator[TestClient]:
    """The real app in front of the session's services, with a limit small enough to reach: 3 at once, 1 a second."""
    settings = gateway_settings.model_copy(update={"rate_limit_per_second": 1.0, "rate_limit_burst": BURST})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def limited_orchestrator(background_loop: BackgroundLoop, orchestrator_settings: OrchestratorSettings) -> Iterator[str]:
    """An orchestrator replica of the session's database with the same small limit."""
    settings = replica_settings(orchestrator_settings, rate_limit_per_second=1.0, rate_limit_burst=BURST)
    with serving(background_loop, settings) as target:
        yield target


def test_beyond_its_burst_a_subject_gets_429_with_retry_after_and_gets_in_again_after_waiting(
    limited_gateway: TestClient, credentials: Credentials
) -> None:
    api = RestApi(limited_gateway, credentials, someone(credentials))
    assert [api.get("/templates").status_code for _ in range(BURST)] == [200] * BURST

    refused = api.get("/templates")

    error = api.error(refused, 429)
    assert error["code"] == "RESOURCE_EXHAUSTED"
    assert refused.headers["Retry-After"] == "1"
    # Another subject has a bucket of its own.
    assert api.with_token(someone(credentials)).get("/templates").status_code == 200
    time.sleep(int(refused.headers["Retry-After"]))
    assert api.get("/templates").status_code == 200


def test_the_limit_holds_on_routes_that_never_reach_the_orchestrator(
    limited_gateway: TestClient, credentials: Credentials
) -> None:
    auditor = RestApi(limited_gateway, credentials, someone(credentials, Role.AUDITOR))
    statuses = [auditor.get("/audit/entries/1").status_code for _ in range(BURST)]
    assert 429 not in statuses

    refused = auditor.get("/audit/entries/1")

    assert auditor.error(refused, 429)["code"] == "RESOURCE_EXHAUSTED"
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_direct_grpc_caller_beyond_its_burst_is_refused_resource_exhausted_with_the_time_to_wait(
    limited_orchestrator: str, credentials: Credentials
) -> None:
    with credentials.orchestrator_channel(limited_orchestrator, token=someone(credentials)) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        for _ in range(BURST):
            stub.ListTemplates(orchestrator_pb2.ListTemplatesRequest(), timeout=30)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListTemplates(orchestrator_pb2.ListTemplatesRequest(), timeout=30)

    call = raised.value
    assert isinstance(call, grpc.Call)
    assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(call)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 1


def test_the_gateway_relays_the_orchestrators_refusal_as_429_with_retry_after(
    limited_orchestrator: str, gateway_settings: GatewaySettings, credentials: Credentials
) -> None:
    # A gateway that would let the calls through: the orchestrator's bucket is the one that runs out.
    settings = gateway_settings.model_copy(update={"orchestrator_target": limited_orchestrator})
    with TestClient(create_app(settings)) as client:
        api = RestApi(client, credentials, someone(credentials))
        assert [api.get("/templates").status_code for _ in range(BURST)] == [200] * BURST

        refused = api.get("/templates")

    assert api.error(refused, 429)["code"] == "RESOURCE_EXHAUSTED"
    assert refused.headers["Retry-After"] == "1"
