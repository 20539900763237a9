"""A run's events from the real gateway to `civicflow watch`: snapshots, the terminal one, and an `error` event.

The gateway is the real app; the orchestrator behind it is a scripted gRPC server on loopback, because
the real one fails a stream already begun only as a replica shuts down.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.grpc_server import start_grpc_server
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from civicflow_cli.main import main
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi

# Nothing listens on port 1: the gateway's other upstreams are never called here.
UNREACHABLE = "127.0.0.1:1"
RUNNING = orchestrator_pb2.RUN_STATUS_RUNNING
COMPLETED = orchestrator_pb2.RUN_STATUS_COMPLETED
FAILED = orchestrator_pb2.RUN_STATUS_FAILED


def instance(
    instance_id: str,
    status: orchestrator_pb2.RunStatus.ValueType,
    *,
    items_done: int = 0,
    outputs: dict[str, Any] | None = None,
) -> orchestrator_pb2.WorkflowInstance:
    return orchestrator_pb2.WorkflowInstance(
        instance_id=instance_id,
        template_id="impact_analysis",
        template_version="1",
        status=status,
        inputs_json='{"scheme_name": "scheme_alpha", "population_size": 5000}',
        outputs_json=json.dumps(outputs or {}),
        error="step 'build_impact_report' failed" if status == FAILED else "",
        progress=orchestrator_pb2.RunProgress(
            steps_completed=5 if status == COMPLETED else 3, steps_total=5, items_done=items_done, items_total=5000
        ),
    )


ERROR_ID = "0123456789ab"


@dataclass
class Script:
    """What the orchestrator answers: WatchWorkflow streams `stream`, then fails with `failure` if one is given."""

    stream: list[orchestrator_pb2.WorkflowInstance]
    failure: tuple[grpc.StatusCode, str] | None = None
    # What GetWorkflow answers; without it, GetWorkflow fails with `failure` (or NOT_FOUND).
    current: orchestrator_pb2.WorkflowInstance | None = None


@dataclass
class ScriptedOrchestrator(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    script: Script = field(default_factory=lambda: Script(stream=[]))
    gets: int = 0

    async def WatchWorkflow(
        self, request: orchestrator_pb2.WatchWorkflowRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[orchestrator_pb2.WatchWorkflowResponse]:
        for snapshot in self.script.stream:
            yield orchestrator_pb2.WatchWorkflowResponse(instance=snapshot)
        if self.script.failure is not None:
            await context.abort(*self.script.failure)

    async def GetWorkflow(
        self, request: orchestrator_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> orchestrator_pb2.GetWorkflowResponse:
        self.gets += 1
        if self.script.current is None:
            failure = self.script.failure or (grpc.StatusCode.NOT_FOUND, f"no workflow instance {request.instance_id}")
            await context.abort(*failure)
        return orchestrator_pb2.GetWorkflowResponse(instance=self.script.current)


@pytest.fixture(scope="module")
def orchestrator_server(
    background_loop: BackgroundLoop, credentials: Credentials
) -> Iterator[tuple[ScriptedOrchestrator, str]]:
    """Serves as the orchestrator does: TLS with its certificate, any client (the gateway has checked the token)."""
    orchestrator = ScriptedOrchestrator()
    start = start_grpc_server(
        service_names=[orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name],
        register=lambda server: orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(orchestrator, server),
        host="127.0.0.1",
        port=0,
        identity=credentials.identity(ServiceIdentity.ORCHESTRATOR),
        require_client_certificate=False,
    )
    with serve_on_loopback(background_loop, start) as target:
        yield orchestrator, target


@pytest.fixture(scope="module")
def client(orchestrator_server: tuple[ScriptedOrchestrator, str], credentials: Credentials) -> Iterator[RestApi]:
    """The real gateway in front of the scripted orchestrator, called by an analyst (the runs are impact analyses)."""
    settings = GatewaySettings(
        orchestrator_target=orchestrator_server[1],
        evaluator_target=UNREACHABLE,
        audit_target=UNREACHABLE,
        request_timeout_seconds=5.0,
        **credentials.service_settings(ServiceIdentity.GATEWAY),
    )
    with TestClient(create_app(settings)) as test_client:
        yield RestApi.acting_as(test_client, credentials, Role.ANALYST)


@pytest.fixture
def orchestrator(orchestrator_server: tuple[ScriptedOrchestrator, str]) -> ScriptedOrchestrator:
    scripted = orchestrator_server[0]
    scripted.script, scripted.gets = Script(stream=[]), 0
    return scripted


@dataclass(frozen=True)
class Watched:
    status: int
    out: str
    err: str


def watch(client: RestApi, instance_id: str) -> Watched:
    assert client.token is not None
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["--token", client.token, "watch", instance_id, "--json"],
        client=client.client,
        console=Console(file=out, width=200, color_system=None),
        errors=Console(file=err, width=200, color_system=None),
    )
    return Watched(status=status, out=out.getvalue(), err=err.getvalue())


def stream_lines(client: RestApi, instance_id: str) -> list[str]:
    with client.stream("GET", f"/workflows/{instance_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(response.iter_lines())


def test_the_gateway_sends_each_snapshot_as_one_unnamed_data_line(
    client: RestApi, orchestrator: ScriptedOrchestrator
) -> None:
    run = str(uuid.uuid4())
    orchestrator.script = Script(stream=[instance(run, RUNNING, items_done=1000), instance(run, COMPLETED)])

    lines = stream_lines(client, run)

    assert [line[:6] for line in lines] == ["data: ", "", "data: ", ""]
    snapshots = [json.loads(line.removeprefix("data: ")) for line in lines if line]
    assert [(s["instance_id"], s["status"], s["progress"]["items_done"]) for s in snapshots] == [
        (run, "running", 1000),
        (run, "completed", 0),
    ]


@pytest.mark.parametrize(
    ("code", "details", "error"),
    [
        # A service's INTERNAL is passed on as its error id alone.
        (
            grpc.StatusCode.INTERNAL,
            f"internal error (error id {ERROR_ID}); the service log has it",
            {"status": 500, "message": f"internal error (error id {ERROR_ID}); the service log has the details"}
            | {"error_id": ERROR_ID},
        ),
        # UNAVAILABLE without a service's RetryInfo: no service answered, and the gateway says so in its words.
        (
            grpc.StatusCode.UNAVAILABLE,
            "",
            {"status": 503, "message": "the orchestrator could not be reached; send the request again"},
        ),
        # No details: the message is the code's name, never empty.
        (grpc.StatusCode.FAILED_PRECONDITION, "", {"status": 409, "message": "failed precondition"}),
    ],
    ids=["details", "no-details-503", "no-details-409"],
)
def test_a_failure_after_the_stream_began_is_a_last_error_event_in_the_one_error_shape(
    client: RestApi,
    orchestrator: ScriptedOrchestrator,
    code: grpc.StatusCode,
    details: str,
    error: dict[str, Any],
) -> None:
    run = str(uuid.uuid4())
    orchestrator.script = Script(stream=[instance(run, RUNNING)], failure=(code, details))

    lines = stream_lines(client, run)

    assert [line[:7] for line in lines] == ["data: {", "", "event: ", "data: {", ""]
    assert lines[2] == "event: error"
    body = json.loads(lines[3].removeprefix("data: "))
    assert body == {"error": {**error, "code": code.name, "details": []}}
    # The same failure of a plain request is answered with the same body.
    plain = client.get(f"/workflows/{run}")
    assert (plain.status_code, plain.json()) == (error["status"], body)


def test_watch_ends_with_the_terminal_event_and_asks_nothing_more(
    client: RestApi, orchestrator: ScriptedOrchestrator
) -> None:
    run = str(uuid.uuid4())
    report = {"impact_report": {"total": 5000}}
    orchestrator.script = Script(
        stream=[instance(run, RUNNING, items_done=2000), instance(run, COMPLETED, items_done=5000, outputs=report)],
        # Were it asked, the orchestrator would answer a different run state.
        current=instance(run, FAILED),
    )

    watched = watch(client, run)

    assert watched.status == 0, watched.err
    shown = json.loads(watched.out)
    assert (shown["instance_id"], shown["status"], shown["outputs"]) == (run, "completed", report)
    assert shown["progress"]["items_done"] == 5000
    assert orchestrator.gets == 0


@pytest.mark.parametrize(
    ("code", "details", "printed"),
    [
        (
            grpc.StatusCode.INTERNAL,
            f"internal error (error id {ERROR_ID}); the service log has it",
            f"error 500 INTERNAL: internal error (error id {ERROR_ID}); the service log has the details",
        ),
        (grpc.StatusCode.FAILED_PRECONDITION, "", "error 409 FAILED_PRECONDITION: failed precondition"),
    ],
    ids=["details", "no-details"],
)
def test_an_error_event_is_an_api_error_that_exits_1(
    client: RestApi, orchestrator: ScriptedOrchestrator, code: grpc.StatusCode, details: str, printed: str
) -> None:
    run = str(uuid.uuid4())
    orchestrator.script = Script(
        stream=[instance(run, RUNNING)], failure=(code, details), current=instance(run, COMPLETED)
    )

    watched = watch(client, run)

    assert watched.status == 1
    assert watched.err.strip() == printed
    assert watched.out == ""


def test_an_unavailable_error_event_is_waited_out_by_polling_the_run(
    client: RestApi, orchestrator: ScriptedOrchestrator
) -> None:
    run = str(uuid.uuid4())
    orchestrator.script = Script(
        stream=[instance(run, RUNNING)],
        failure=(grpc.StatusCode.UNAVAILABLE, "the orchestrator replica is shutting down; watch the run again"),
        current=instance(run, COMPLETED, items_done=5000),
    )

    watched = watch(client, run)

    assert watched.status == 0, watched.err
    assert json.loads(watched.out)["status"] == "completed"
    assert orchestrator.gets == 1


def test_watching_an_unknown_run_is_the_streams_404_without_a_second_request(
    client: RestApi, orchestrator: ScriptedOrchestrator
) -> None:
    run = str(uuid.uuid4())
    orchestrator.script = Script(
        stream=[], failure=(grpc.StatusCode.NOT_FOUND, f"no workflow instance {run}"), current=instance(run, COMPLETED)
    )

    watched = watch(client, run)

    assert watched.status == 1
    assert watched.err.strip() == f"error 404 NOT_FOUND: no workflow instance {run}"
    assert orchestrator.gets == 0
