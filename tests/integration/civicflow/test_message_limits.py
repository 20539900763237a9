"""Each RPC of the real orchestrator, evaluator and audit service receives requests up to what it needs, and a
larger one ends RESOURCE_EXHAUSTED, cleanly, naming no internals; what each method needs still gets through."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.message_limits import MiB
from civicflow.v1 import audit_pb2, evaluator_pb2, evaluator_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.audit_stubs import audit_stubs
from tests.support.credentials import Credentials
from tests.support.scheme_documents import seed_rule_document

# scheme_delta reads every column, so its batches are the largest a fan-out sends.
DOCUMENT = seed_rule_document("scheme_delta")


@pytest.fixture(scope="module")
def orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    with credentials.orchestrator_channel(orchestrator_target) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


@pytest.fixture(scope="module")
def evaluator_channel(credentials: Credentials, evaluator_target: str) -> Iterator[grpc.Channel]:
    server, caller = ServiceIdentity.EVALUATOR, ServiceIdentity.ORCHESTRATOR
    with credentials.channel(evaluator_target, server=server, as_=caller) as channel:
        yield channel


@pytest.fixture(scope="module")
def evaluator(evaluator_channel: grpc.Channel) -> evaluator_pb2_grpc.EvaluatorServiceStub:
    return evaluator_pb2_grpc.EvaluatorServiceStub(evaluator_channel)


def refusal(call: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    assert isinstance(call, grpc.Call)
    return call.code(), call.details() or ""


def test_a_request_naming_an_instance_is_refused_over_64_kib_and_the_method_is_named(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        orchestrator.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id="x" * (100 * 1024)), timeout=30)

    code, details = refusal(raised.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "GetWorkflow" in details and "65536" in details
    # The server goes on serving the next call.
    assert orchestrator.ListTemplates(orchestrator_pb2.ListTemplatesRequest(), timeout=30).templates


def test_a_stream_request_over_its_limit_ends_the_stream_resource_exhausted(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
) -> None:
    request = orchestrator_pb2.WatchWorkflowRequest(instance_id="x" * (100 * 1024))
    with pytest.raises(grpc.RpcError) as raised:
        list(orchestrator.WatchWorkflow(request, timeout=30))

    assert refusal(raised.value)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_inputs_as_large_as_the_gateway_can_relay_reach_the_template_and_larger_ones_are_refused(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
) -> None:
    # The longest a 1 MiB body becomes as the gateway re-encodes it: "1e15," is "1000000000000000.0, ".
    remarks = [1e15] * (MiB // len("1e15,"))
    relayed = json.dumps({"citizen_id": "CIT-0000001", "scheme_name": "scheme_alpha", "remarks": remarks})
    assert 4 * MiB - 1024 < len(relayed) < 8 * MiB

    with pytest.raises(grpc.RpcError) as read:
        orchestrator.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=relayed), timeout=60
        )
    with pytest.raises(grpc.RpcError) as refused:
        orchestrator.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=relayed * 3),
            timeout=60,
        )

    code, details = refusal(read.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "remarks" in details
    assert refusal(refused.value)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_evaluator_takes_a_batch_of_the_largest_size_and_refuses_a_larger_one_or_a_large_single_check(
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub,
) -> None:
    def batch(size: int) -> evaluator_pb2.EvaluateStreamRequest:
        return evaluator_pb2.EvaluateStreamRequest(
            batch_id=1,
            documents=[DOCUMENT],
            size=size,
            ages=[30] * size,
            incomes=[12345.5] * size,
            categories=[evaluator_pb2.CATEGORY_OBC] * size,
            household_sizes=[8] * size,
            disabilities=[True] * size,
            first_position=1,
        )

    largest = batch(100_000)  # fan_out_config.py's largest batch_size
    assert largest.ByteSize() < 4 * MiB
    [answer] = list(evaluator.EvaluateStream(iter([largest]), timeout=60))
    assert len(answer.columns[0].decisions) == 100_000

    with pytest.raises(grpc.RpcError) as stream_refused:
        list(evaluator.EvaluateStream(iter([batch(500_000)]), timeout=60))
    citizen = evaluator_pb2.CitizenProfile(citizen_id="CIT-0000001", name="x" * (100 * 1024), age=30, income=1)
    with pytest.raises(grpc.RpcError) as unary_refused:
        evaluator.Evaluate(evaluator_pb2.EvaluateRequest(citizen=citizen, document=DOCUMENT), timeout=30)

    assert refusal(stream_refused.value)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    code, details = refusal(unary_refused.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "Evaluate" in details


def test_the_audit_service_refuses_a_read_request_over_64_kib(credentials: Credentials, audit_target: str) -> None:
    with audit_stubs(credentials, audit_target) as stubs, pytest.raises(grpc.RpcError) as raised:
        stubs.ListEntries(audit_pb2.ListEntriesRequest(instance_id="x" * (100 * 1024)), timeout=30)

    code, details = refusal(raised.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "ListEntries" in details


def test_a_bidirectional_stream_of_small_requests_answers_them_and_ends_at_the_first_oversized_one(
    evaluator_channel: grpc.Channel,
) -> None:
    """Server reflection, a stream of small requests on every server, gets the default limit."""
    reflection = reflection_pb2_grpc.ServerReflectionStub(evaluator_channel)
    small = reflection_pb2.ServerReflectionRequest(list_services="")
    large = reflection_pb2.ServerReflectionRequest(file_containing_symbol="x" * (100 * 1024))

    answers = reflection.ServerReflectionInfo(iter([small, large]), timeout=30)
    first = next(answers)
    with pytest.raises(grpc.RpcError) as raised:
        next(answers)

    assert "civicflow.v1.EvaluatorService" in {service.name for service in first.list_services_response.service}
    code, details = refusal(raised.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "ServerReflectionInfo" in details
