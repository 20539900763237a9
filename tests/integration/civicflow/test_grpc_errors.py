"""The gRPC error edge: what a caller of any service sees when an RPC fails, unary or streaming.

A servicer of the real generated EvaluatorService contract, served on loopback, raises each kind
of error the edge knows; the real services are then sent the requests that used to leak.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from civicflow.auth.access import ServiceIdentity
from civicflow.grpc_errors import (
    CallFailure,
    classify_rpc_error,
)
from civicflow.v1 import (
    audit_pb2,
    evaluator_pb2,
    evaluator_pb2_grpc,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
)
from tests.support.audit_stubs import audit_stubs
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.raising_servicer import start_raising_server


@pytest.fixture(scope="module")
def raising(
    background_loop: BackgroundLoop, credentials: Credentials
) -> Iterator[evaluator_pb2_grpc.EvaluatorServiceStub]:
    with (
        serve_on_loopback(background_loop, start_raising_server(credentials)) as target,
        credentials.channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR) as channel,
    ):
        yield evaluator_pb2_grpc.EvaluatorServiceStub(channel)


def _refusal(stub: evaluator_pb2_grpc.EvaluatorServiceStub, citizen_id: str) -> grpc.RpcError:
    request = evaluator_pb2.EvaluateRequest(citizen=evaluator_pb2.CitizenProfile(citizen_id=citizen_id))
    with pytest.raises(grpc.RpcError) as refused:
        stub.Evaluate(request)
    return refused.value


@pytest.mark.parametrize(
    ("citizen_id", "code", "details"),
    [
        ("CIT-not-found", grpc.StatusCode.NOT_FOUND, "no thing 'x'"),
        ("CIT-bad-fields", grpc.StatusCode.INVALID_ARGUMENT, "citizen.age: must be >= 0"),
        ("CIT-unreadable", grpc.StatusCode.INVALID_ARGUMENT, "citizen: not valid JSON: Expecting value"),
        ("CIT-too-deep", grpc.StatusCode.INVALID_ARGUMENT, "the request is nested too deeply"),
    ],
)
def test_a_known_error_ends_the_call_with_its_code_and_message(
    raising: evaluator_pb2_grpc.EvaluatorServiceStub, citizen_id: str, code: grpc.StatusCode, details: str
) -> None:
    refused = _refusal(raising, citizen_id)
    assert (refused.code(), refused.details()) == (code, details)


def test_field_problems_travel_as_a_bad_request_detail(raising: evaluator_pb2_grpc.EvaluatorServiceStub) -> None:
    status = rpc_status.from_call(_refusal(raising, "CIT-bad-fields"))
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [("citizen.age", "must be >= 0")]


def test_an_unexpected_error_is_internal_with_an_id_the_log_has_and_nothing_of_its_own(
    raising: evaluator_pb2_grpc.EvaluatorServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="civicflow.grpc_errors"):
        refused = _refusal(raising, "CIT-defect")

    assert refused.code() == grpc.StatusCode.INTERNAL
    details = refused.details() or ""
    assert "KeyError" not in details and "secret_column_name" not in details
    error_id = re.fullmatch(r"internal error \(error id ([0-9a-f]{12})\); the service log has it", details)
    assert error_id is not None
    logged = [record for record in caplog.records if getattr(record, "error_id", None) == error_id.group(1)]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_stream_answers_until_the_error_then_ends_as_a_unary_call_would(
    raising: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    requests = iter([evaluator_pb2.EvaluateStreamRequest(batch_id=n) for n in (1, 2, 3)])
    answered: list[int] = []
    with pytest.raises(grpc.RpcError) as refused:
        for response in raising.EvaluateStream(requests):
            answered.append(response.batch_id)

    assert answered == [1]
    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert "secret_column_name" not in (refused.value.details() or "")


def test_json_nested_too_deeply_is_an_invalid_argument_of_the_orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> None:
    stub = orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(orchestrator_target))
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(grpc.RpcError) as refused:
        stub.ExecuteWorkflow(orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=deep))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "inputs_json: must not be nested deeper than 32 levels"


def test_a_record_nested_too_deeply_is_an_invalid_argument_of_the_audit_service(
    credentials: Credentials, audit_target: str
) -> None:
    deep = json.dumps({"citizen": None})
    for _ in range(2000):
        deep = '{"a":' + deep + "}"
    record = audit_pb2.AuditRecord(
        instance_id="00000000-0000-4000-8000-000000000001",
        step_name="fetch_citizen",
        step_index=0,
        attempt=1,
        status=audit_pb2.STEP_STATUS_SUCCESS,
        input_json=deep,
        output_json="{}",
    )
    record.started_at.GetCurrentTime()
    record.completed_at.GetCurrentTime()
    with audit_stubs(credentials, audit_target) as stub:
        size_before = stub.VerifyLog(audit_pb2.VerifyLogRequest()).tree_size
        with pytest.raises(grpc.RpcError) as refused:
            stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record]))

        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "RecursionError" not in (refused.value.details() or "")
        assert stub.VerifyLog(audit_pb2.VerifyLogRequest()).tree_size == size_before


@pytest.mark.parametrize(
    ("code", "failure", "transient"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, CallFailure.TIMEOUT, True),
        (grpc.StatusCode.UNAVAILABLE, CallFailure.UNAVAILABLE, True),
        (grpc.StatusCode.INVALID_ARGUMENT, CallFailure.REFUSED, False),
        (grpc.StatusCode.PERMISSION_DENIED, CallFailure.REFUSED, False),
        (grpc.StatusCode.UNAUTHENTICATED, CallFailure.REFUSED, False),
        (grpc.StatusCode.NOT_FOUND, CallFailure.REFUSED, False),
        (grpc.StatusCode.INTERNAL, CallFailure.FAILED, False),
        (grpc.StatusCode.DATA_LOSS, CallFailure.FAILED, False),
        (grpc.StatusCode.UNKNOWN, CallFailure.FAILED, False),
    ],
)
def test_a_failed_downstream_call_is_classified_by_what_another_attempt_could_change(
    code: grpc.StatusCode, failure: CallFailure, transient: bool
) -> None:
    error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="said the server")
    classified = classify_rpc_error(error)
    assert (classified.failure, classified.transient) == (failure, transient)
    assert str(classified) == f"{code.name}: said the server"
