"""The gRPC server's request metrics (civicflow/metrics/rpc.py) on a real server: each call counted once under
its method and the code its caller saw, unary or streaming, and a method the server lacks never a label."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from prometheus_client import REGISTRY

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.raising_servicer import start_raising_server

EVALUATE = "/civicflow.v1.EvaluatorService/Evaluate"
STREAM = "/civicflow.v1.EvaluatorService/EvaluateStream"


@pytest.fixture(scope="module")
def channel(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[grpc.Channel]:
    with (
        serve_on_loopback(background_loop, start_raising_server(credentials)) as target,
        credentials.channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR) as channel,
    ):
        yield channel


def eventually(expected: float, read: Callable[[], float]) -> float:
    """What `read` answers once it is `expected`, or after a second: the server aborts with a status, which its
    caller may see before the server's handler, and the interceptor around it, has returned."""
    deadline = time.monotonic() + 1.0
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def handled(method: str, code: str) -> float:
    labels = {"grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("civicflow_grpc_server_handled_total", labels) or 0.0


def timed(method: str) -> float:
    return REGISTRY.get_sample_value("civicflow_grpc_server_handling_seconds_count", {"grpc_method": method}) or 0.0


@pytest.mark.parametrize(
    ("citizen_id", "code"),
    [("CIT-not-found", "NOT_FOUND"), ("CIT-bad-fields", "INVALID_ARGUMENT"), ("CIT-defect", "INTERNAL")],
)
def test_a_unary_call_is_counted_once_under_the_code_its_caller_saw(
    channel: grpc.Channel, citizen_id: str, code: str
) -> None:
    before, before_timed = handled(EVALUATE, code), timed(EVALUATE)
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        stub.Evaluate(evaluator_pb2.EvaluateRequest(citizen=evaluator_pb2.CitizenProfile(citizen_id=citizen_id)))
    assert refused.value.code().name == code
    assert eventually(before + 1, lambda: handled(EVALUATE, code)) == before + 1
    assert eventually(before_timed + 1, lambda: timed(EVALUATE)) == before_timed + 1


def test_a_stream_is_counted_when_it_ends_with_the_code_it_ended_with(channel: grpc.Channel) -> None:
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    before_ok, before_failed = handled(STREAM, "OK"), handled(STREAM, "INTERNAL")
    answers = stub.EvaluateStream(iter([evaluator_pb2.EvaluateStreamRequest(batch_id=1)]))
    assert [answer.batch_id for answer in answers] == [1]
    failing = stub.EvaluateStream(iter([evaluator_pb2.EvaluateStreamRequest(batch_id=n) for n in (1, 2)]))
    with pytest.raises(grpc.RpcError) as ended:
        list(failing)
    assert ended.value.code() == grpc.StatusCode.INTERNAL
    assert eventually(before_ok + 1, lambda: handled(STREAM, "OK")) == before_ok + 1
    assert eventually(before_failed + 1, lambda: handled(STREAM, "INTERNAL")) == before_failed + 1


def test_a_method_the_server_lacks_adds_no_label(channel: grpc.Channel) -> None:
    unknown = "/civicflow.v1.EvaluatorService/NoSuchMethod"
    call = channel.unary_unary(unknown, request_serializer=bytes, response_deserializer=bytes)
    with pytest.raises(grpc.RpcError) as refused:
        call(b"")
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    methods = {
        sample.labels["grpc_method"]
        for family in REGISTRY.collect()
        if family.name == "civicflow_grpc_server_handled"
        for sample in family.samples
    }
    assert unknown not in methods
