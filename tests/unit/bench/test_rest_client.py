"""The benchmark's HTTP client against a real HTTP/1.1 server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.rest_client import RestClient


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers a POST with its path, body and the number of the connection it came on; a GET with its path and that."""

    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = 422 if body.get("refuse") else 200
        answer = json.dumps({"path": self.path, "body": body, "connection": self.server.connection_number(self)})
        payload = answer.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        payload = json.dumps({"path": self.path, "connection": self.server.connection_number(self)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self._connections: dict[tuple[str, int], int] = {}

    def connection_number(self, handler: BaseHTTPRequestHandler) -> int:
        # A new connection comes from a new ephemeral port.
        return self._connections.setdefault(handler.client_address, len(self._connections) + 1)


@pytest.fixture
def server_url() -> Iterator[str]:
    server = _CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_go_over_one_kept_alive_connection(server_url: str) -> None:
    with RestClient(server_url, timeout=5) as client:
        first = client.post("/workflows/execute", json={"n": 1})
        second = client.post("/workflows/execute", json={"n": 2})

    assert first.status_code == second.status_code == 200
    assert first.json() == {"path": "/workflows/execute", "body": {"n": 1}, "connection": 1}
    assert second.json()["connection"] == 1


def test_a_get_keeps_its_query_string_and_shares_the_connection_with_posts(server_url: str) -> None:
    with RestClient(server_url, timeout=5) as client:
        client.post("/workflows/execute", json={"n": 1})
        reply = client.get("/reviews?status=open&limit=50")

    assert reply.status_code == 200
    assert reply.json() == {"path": "/reviews?status=open&limit=50", "connection": 1}


def test_an_error_status_is_answered_not_raised(server_url: str) -> None:
    with RestClient(server_url, timeout=5) as client:
        reply = client.post("/x", json={"refuse": True})

    assert reply.status_code == 422
    assert '"refuse": true' in reply.text


def test_a_connection_idle_too_long_is_replaced_before_the_next_request(server_url: str) -> None:
    with RestClient(server_url, timeout=5, idle_reopen_seconds=0.1) as client:
        first = client.post("/x", json={})
        time.sleep(0.2)
        second = client.post("/x", json={})

    assert (first.json()["connection"], second.json()["connection"]) == (1, 2)


def test_only_plain_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="plain http"):
        RestClient("https://example.org", timeout=1)
