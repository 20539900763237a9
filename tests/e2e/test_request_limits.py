"""Hostile clients against the real gateway process (uvicorn and all) and a real orchestrator process: oversized
bodies answer 413 and oversized gRPC requests RESOURCE_EXHAUSTED without costing either process memory, half-sent
headers and trickled bodies are cut off, and one subject's event streams are capped, each slot given back when its
stream ends or its client goes away."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import httpx2
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials, authorization
from tests.support.gateway_processes import GatewayProcess, resident_mb, start_gateway_process
from tests.support.orchestrators import OrchestratorProcess

MiB = 1024 * 1024
# Within this many MB of what it held before, at the peak of handling the body and after it.
MEMORY_BUDGET_MB = 20
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SSE_MAX = 3
# Its evaluation is held back this long: its run stays `running` while the test holds streams on it.
STALLED_CITIZEN = "CIT-0000777"
STALL_SECONDS = 4.0


@pytest.fixture(scope="module")
def stalling_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({STALLED_CITIZEN}),
        evaluator_stall_seconds=STALL_SECONDS,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start_evaluator(settings)) as target:
        yield target


@pytest.fixture(scope="module")
def orchestrator_process(
    orchestrator_settings: OrchestratorSettings, stalling_evaluator: str, credentials: Credentials
) -> Iterator[OrchestratorProcess]:
    process = OrchestratorProcess(
        **credentials.environment(ServiceIdentity.ORCHESTRATOR),
        DATABASE_URL=orchestrator_settings.database_url,
        EVALUATOR_TARGET=stalling_evaluator,
        AUDIT_TARGET=orchestrator_settings.audit_target,
    )
    yield process
    process.close()


@pytest.fixture(scope="module")
def gateway(
    orchestrator_process: OrchestratorProcess, stalling_evaluator: str, audit_target: str, credentials: Credentials
) -> Iterator[GatewayProcess]:
    process = start_gateway_process(
        credentials,
        orchestrator_target=orchestrator_process.target,
        evaluator_target=stalling_evaluator,
        audit_target=audit_target,
        HEADER_READ_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        BODY_READ_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        SSE_MAX_PER_SUBJECT=str(SSE_MAX),
    )
    yield process
    process.stop()


def caseworker_token(credentials: Credentials) -> str:
    """A caseworker of this test's own: no other test's requests or streams count against it."""
    return credentials.issue(f"limits-{uuid.uuid4().hex[:8]}", Role.CASEWORKER)


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def reset_peak(pid: int) -> None:
    """Sets the process's peak RSS (VmHWM) to what it holds now, so that the next peak is this request's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def post_body(gateway: GatewayProcess, *, size: int, chunked: bool) -> tuple[int, dict[str, str], bytes]:
    """POSTs `size` bytes to /workflows/execute, with a Content-Length or chunked, and reads the answer."""
    block = b" " * (64 * 1024)
    chunks = (block for _ in range(size // len(block)))
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"}
        if not chunked:
            headers["Content-Length"] = str(size)
        connection.request("POST", "/workflows/execute", body=chunks, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(("megabytes", "chunked"), [(30, False), (70, True)])
def test_a_body_of_tens_of_megabytes_answers_413_and_grows_neither_the_gateway_nor_the_orchestrator(
    gateway: GatewayProcess, orchestrator_process: OrchestratorProcess, megabytes: int, chunked: bool
) -> None:
    processes = {"gateway": gateway.process.pid, "orchestrator": orchestrator_process.process.pid}
    before = {name: resident_mb(pid) for name, pid in processes.items()}
    for pid in processes.values():
        reset_peak(pid)

    status, headers, body = post_body(gateway, size=megabytes * MiB, chunked=chunked)

    after = {name: resident_mb(pid) for name, pid in processes.items()}
    peaks = {name: peak_mb(pid) for name, pid in processes.items()}
    growth = {name: round(max(after[name], peaks[name]) - before[name], 1) for name in processes}
    print(f"{megabytes} MB body ({'chunked' if chunked else 'Content-Length'}): before {before} MB, growth {growth} MB")
    assert status == 413, body[:500]
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (413, "RESOURCE_EXHAUSTED")
    assert str(MiB) in error["message"]
    assert headers["content-type"] == "application/json"
    assert all(mb < MEMORY_BUDGET_MB for mb in growth.values()), growth


def test_a_30_mb_grpc_request_to_the_orchestrator_is_refused_resource_exhausted_and_grows_it_by_little(
    orchestrator_process: OrchestratorProcess, credentials: Credentials
) -> None:
    pid = orchestrator_process.process.pid
    before = resident_mb(pid)
    reset_peak(pid)
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=" " * (30 * MiB))

    with credentials.orchestrator_channel(orchestrator_process.target) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ExecuteWorkflow(request, timeout=60)

    growth = round(max(resident_mb(pid), peak_mb(pid)) - before, 1)
    print(f"30 MB gRPC request: orchestrator before {before:.1f} MB, growth {growth} MB")
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert growth < MEMORY_BUDGET_MB


def test_a_body_just_under_the_limit_is_read_and_relayed_whatever_its_characters(
    gateway: GatewayProcess, credentials: Credentials
) -> None:
    """The gateway re-encodes inputs on their way to the orchestrator, up to 4 times as long ("1e15," becomes
    "1000000000000000.0, "; a 4-byte character a 12-byte escape): the orchestrator's receive limit must let any body
    the gateway admits through, so that the answer is the template's verdict (422), not a refused message."""
    numbers = ",".join(["1e15"] * ((MiB - 200) // len("1e15,")))
    characters = "\U0001f600" * ((MiB - 200) // 4)
    for remarks in (f"[{numbers}]", json.dumps(characters, ensure_ascii=False)):
        body = (
            '{"template_id": "eligibility_check", '
            f'"inputs": {{"citizen_id": "CIT-0000001", "scheme_name": "scheme_alpha", "remarks": {remarks}}}}}'
        ).encode()
        assert len(body) <= MiB

        response = httpx2.post(
            f"{gateway.url}/workflows/execute",
            content=body,
            headers={**authorization(caseworker_token(credentials)), "Content-Type": "application/json"},
            timeout=60,
        )

        assert response.status_code == 422, response.text[:500]
        assert "remarks" in response.json()["error"]["message"]


def wait_closed(sock: socket.socket, *, timeout: float) -> float | None:
    """Seconds until the server closes `sock`, or None if it is still open after `timeout`."""
    started = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_twenty_connections_with_half_sent_headers_are_closed_after_the_header_deadline(
    gateway: GatewayProcess,
) -> None:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.create_connection(("127.0.0.1", gateway.port))) for _ in range(20)]
        started = time.monotonic()
        for sock in sockets:
            sock.sendall(b"POST /workflows/execute HTTP/1.1\r\nHost: civicflow\r\nContent-Type: app")
        for sock in sockets:
            assert wait_closed(sock, timeout=HEADER_TIMEOUT + 5) is not None
        elapsed = time.monotonic() - started

    assert HEADER_TIMEOUT - 0.5 <= elapsed <= HEADER_TIMEOUT + 3, elapsed


def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        elapsed = wait_closed(sock, timeout=HEADER_TIMEOUT + 5)

    assert elapsed is not None and elapsed >= HEADER_TIMEOUT - 0.5


def test_a_kept_alive_connection_sending_blank_lines_instead_of_its_next_request_is_closed_after_the_deadline(
    gateway: GatewayProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: civicflow\r\n\r\n")
        answer = b""
        while b"}" not in answer:  # the whole JSON body of the answer
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        # Each blank line cancels uvicorn's keep-alive timer; the header deadline still runs.
        started = time.monotonic()
        sock.settimeout(0.3)
        while time.monotonic() - started < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(b"\r\n")
                if not sock.recv(65536):
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        elapsed = time.monotonic() - started

    assert HEADER_TIMEOUT - 0.5 <= elapsed <= HEADER_TIMEOUT + 3, elapsed


def test_after_a_413_the_rest_of_the_body_is_dropped_and_the_connection_serves_the_next_request(
    gateway: GatewayProcess,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request(
            "POST", "/workflows/execute", body=b" " * (2 * MiB), headers={"Content-Type": "application/json"}
        )
        refused = connection.getresponse()
        refused.read()
        connection.request("GET", "/healthz")
        answered = connection.getresponse()
        answered.read()
    finally:
        connection.close()

    assert refused.status == 413
    assert answered.status == 200


def test_a_body_trickled_a_byte_at_a_time_answers_408_and_the_connection_is_closed(
    gateway: GatewayProcess, credentials: Credentials
) -> None:
    token = caseworker_token(credentials)
    head = (
        "POST /workflows/execute HTTP/1.1\r\nHost: civicflow\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        sock.settimeout(0.25)
        answer = b""
        while time.monotonic() - started < BODY_TIMEOUT + 5:
            try:
                sock.sendall(b" ")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started

    assert BODY_TIMEOUT - 0.5 <= elapsed <= BODY_TIMEOUT + 3, elapsed
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"REQUEST_TIMEOUT"' in answer


def start_stalled_check(gateway: GatewayProcess, token: str) -> str:
    response = httpx2.post(
        f"{gateway.url}/workflows/execute",
        json={
            "template_id": "eligibility_check",
            "inputs": {"citizen_id": STALLED_CITIZEN, "scheme_name": "scheme_alpha"},
            "mode": "async",
        },
        headers=authorization(token),
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["instance_id"])


def open_stream(stack: ExitStack, gateway: GatewayProcess, token: str, instance_id: str) -> httpx2.Response:
    """An event stream held open until `stack` closes; when admitted, its first event has been read."""
    client = stack.enter_context(httpx2.Client(base_url=gateway.url, timeout=30))
    response = stack.enter_context(
        client.stream("GET", f"/workflows/{instance_id}/events", headers=authorization(token))
    )
    if response.status_code == 200:
        # Kept: an iterator dropped half-read closes the connection, as a client going away would.
        lines = response.extensions["lines"] = response.iter_lines()
        first = next(lines)
        assert first.startswith("data: "), first
        response.extensions["first_event"] = json.loads(first.removeprefix("data: "))
    else:
        response.read()
    return response


def test_a_subject_holds_at_most_sse_max_streams_and_a_slot_comes_back_when_its_client_goes_away(
    gateway: GatewayProcess, credentials: Credentials
) -> None:
    token = caseworker_token(credentials)
    instance_id = start_stalled_check(gateway, token)
    clients = [ExitStack() for _ in range(SSE_MAX)]
    try:
        streams = [open_stream(client, gateway, token, instance_id) for client in clients]
        assert [stream.status_code for stream in streams] == [200] * SSE_MAX

        with ExitStack() as refused:
            over = open_stream(refused, gateway, token, instance_id)
        assert over.status_code == 429, over.text
        assert int(over.headers["Retry-After"]) >= 1
        assert over.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
        with ExitStack() as other:  # another subject is not held back by this one's streams
            assert open_stream(other, gateway, caseworker_token(credentials), instance_id).status_code == 200

        clients[0].close()  # the first stream's client goes away, its run still running
        deadline = time.monotonic() + STALL_SECONDS / 2
        while (reopened := open_stream(again := ExitStack(), gateway, token, instance_id)).status_code != 200:
            again.close()
            assert time.monotonic() < deadline, "no slot came back after a client disconnected"
            time.sleep(0.1)
        clients.append(again)
        assert reopened.extensions["first_event"]["status"] == "running"
    finally:
        for client in clients:
            client.close()


def test_the_slots_of_streams_that_end_with_their_run_come_back(
    gateway: GatewayProcess, credentials: Credentials
) -> None:
    token = caseworker_token(credentials)
    instance_id = start_stalled_check(gateway, token)
    with ExitStack() as stack:
        streams = [open_stream(stack, gateway, token, instance_id) for _ in range(SSE_MAX)]
        for stream in streams:
            last = [line for line in stream.extensions["lines"] if line.startswith("data: ")][-1]
            assert json.loads(last.removeprefix("data: "))["status"] == "completed"

        # The streams ended when the run did; their clients still hold the connections open.
        fresh = start_stalled_check(gateway, token)
        more = [open_stream(stack, gateway, token, fresh) for _ in range(SSE_MAX)]
        assert [stream.status_code for stream in more] == [200] * SSE_MAX
