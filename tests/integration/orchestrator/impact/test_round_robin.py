"""The orchestrator spreads an impact analysis's streams over every evaluator replica (round_robin)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import grpc
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.tls import Identity
from civicflow.v1 import evaluator_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from evaluator.servicer import EvaluatorServicer
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.orchestrators import serving


class CallCounter(grpc.aio.ServerInterceptor):
    """Counts the calls one replica receives, by method."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.calls[handler_call_details.method.rsplit("/", 1)[-1]] += 1
        return await continuation(handler_call_details)


async def _start_replica(counter: CallCounter, identity: Identity) -> tuple[grpc.aio.Server, int]:
    """An evaluator replica as the evaluator serves: mutual TLS with its certificate, callers' certificates checked."""
    server = grpc.aio.server(interceptors=[counter])
    evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(EvaluatorServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", identity.server_credentials(require_client_certificate=True))
    await server.start()
    return server, port


@pytest.fixture(scope="module")
def replicas(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[list[tuple[CallCounter, int]]]:
    counters = [CallCounter(), CallCounter()]
    identity = credentials.identity(ServiceIdentity.EVALUATOR)
    started = [background_loop.run(_start_replica(counter, identity)) for counter in counters]
    yield [(counter, port) for counter, (_, port) in zip(counters, started, strict=True)]
    for server, _ in started:
        background_loop.run(server.stop(grace=1.0))


@pytest.fixture(scope="module")
def orchestrator_over_replicas(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    replicas: list[tuple[CallCounter, int]],
) -> Iterator[str]:
    replicas_target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in replicas)
    settings = orchestrator_settings.model_copy(update={"evaluator_target": replicas_target})
    with serving(background_loop, settings) as target:
        yield target


def test_streams_and_calls_reach_every_replica(
    orchestrator_over_replicas: str, replicas: list[tuple[CallCounter, int]], credentials: Credentials
) -> None:
    # An admin: eligibility checks and an impact analysis.
    channel = credentials.orchestrator_channel(orchestrator_over_replicas, role=Role.ADMIN)
    stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    for index in range(10):  # unary calls first: round_robin connects to both replicas
        inputs = {"citizen_id": f"CIT-{index}", "scheme_name": "scheme_alpha"}
        stub.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=json.dumps(inputs))
        )
    reply = stub.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(
            template_id="impact_analysis",
            inputs_json=json.dumps({"scheme_name": "scheme_beta", "population_size": 8000}),
        )
    )

    assert reply.instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, reply.instance.error
    unary = [counter.calls["Evaluate"] for counter, _ in replicas]
    streams = [counter.calls["EvaluateStream"] for counter, _ in replicas]
    assert sum(unary) == 10 and min(unary) >= 3, unary
    assert sum(streams) == 4 and min(streams) >= 1, streams
