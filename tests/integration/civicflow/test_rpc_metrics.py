"""The gRPC server's request metrics (civicflow/metrics/rpc.py) on a real server: each call counted once under
its method and the code its caller saw, unary or streaming, and a method the server lacks never a label."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from prometheus_client import REGISTRY

from civicflow.auth.access import ServiceIdentity
from civicflow.grpc_errors import maps_errors
from civicflow.grpc_server import RunningServer, start_grpc_server
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials

EVALUATE = "/civicflow.v1.EvaluatorService/Evaluate"
STREAM = "/civicflow.v1.EvaluatorService/EvaluateStream"


class MissingError(Exception):
    pass


@maps_errors({MissingError: grpc.StatusCode.NOT_FOUND})
class AnsweringServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    """Answers CIT-ok, refuses CIT-missing (NOT_FOUND), and fails on anything else; a stream ends at batch 2."""

    async def Evaluate(
        self, request: evaluator_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.EvaluateResponse:
        if request.citizen.citizen_id == "CIT-missing":
            raise MissingError("no such citizen")
        if request.citizen.citizen_id != "CIT-ok":
            raise KeyError("a defect")
        return evaluator_pb2.EvaluateResponse()

    async def EvaluateStream(
        self,
        request_iterator: AsyncIterator[evaluator_pb2.EvaluateStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[evaluator_pb2.EvaluateStreamResponse]:
        async for request in request_iterator:
            if request.batch_id == 2:
                raise MissingError("no batch 2")
            yield evaluator_pb2.EvaluateStreamResponse(batch_id=request.batch_id)


async def _start(credentials: Credentials) -> RunningServer:
    return await start_grpc_server(
        service_names=["civicflow.v1.EvaluatorService"],
        register=lambda server: evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(AnsweringServicer(), server),
        host="127.0.0.1",
        port=0,
        identity=credentials.identity(ServiceIdentity.EVALUATOR),
        require_client_certificate=True,
    )


@pytest.fixture(scope="module")
def channel(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[grpc.Channel]:
    with (
        serve_on_loopback(background_loop, _start(credentials)) as target,
        credentials.channel(target, server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR) as channel,
    ):
        yield channel


def handled(method: str, code: str) -> float:
    labels = {"grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("civicflow_grpc_server_handled_total", labels) or 0.0


def timed(method: str) -> float:
    return REGISTRY.get_sample_value("civicflow_grpc_server_handling_seconds_count", {"grpc_method": method}) or 0.0


def evaluate(channel: grpc.Channel, citizen_id: str) -> grpc.StatusCode:
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    try:
        stub.Evaluate(evaluator_pb2.EvaluateRequest(citizen=evaluator_pb2.CitizenProfile(citizen_id=citizen_id)))
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("citizen_id", "code"),
    [("CIT-ok", "OK"), ("CIT-missing", "NOT_FOUND"), ("CIT-defect", "INTERNAL")],
)
def test_a_unary_call_is_counted_once_under_the_code_its_caller_saw(
    channel: grpc.Channel, citizen_id: str, code: str
) -> None:
    before, before_timed = handled(EVALUATE, code), timed(EVALUATE)
    assert evaluate(channel, citizen_id).name == code
    assert handled(EVALUATE, code) == before + 1
    assert timed(EVALUATE) == before_timed + 1


def test_a_stream_is_counted_when_it_ends_with_the_code_it_ended_with(channel: grpc.Channel) -> None:
    stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    before_ok, before_refused = handled(STREAM, "OK"), handled(STREAM, "NOT_FOUND")
    answers = stub.EvaluateStream(iter([evaluator_pb2.EvaluateStreamRequest(batch_id=1)]))
    assert [answer.batch_id for answer in answers] == [1]
    refused = stub.EvaluateStream(iter([evaluator_pb2.EvaluateStreamRequest(batch_id=n) for n in (1, 2)]))
    with pytest.raises(grpc.RpcError) as ended:
        list(refused)
    assert ended.value.code() == grpc.StatusCode.NOT_FOUND
    assert (handled(STREAM, "OK"), handled(STREAM, "NOT_FOUND")) == (before_ok + 1, before_refused + 1)


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
