"""The gateway's access log, as `python -m gateway` serves it with uvicorn: requests are logged without their query
values, health probes not at all."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from gateway.access_log import AccessLogFilter, filter_access_log
from gateway.app import create_app
from gateway.config import GatewaySettings


@pytest.fixture
def gateway_url(gateway_settings: GatewaySettings) -> Iterator[str]:
    """The real app under uvicorn on a loopback port, its access log quietened as the gateway's entry point does."""
    filter_access_log()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(gateway_settings), log_config=None, loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    listening.close()
    access = logging.getLogger("uvicorn.access")
    for installed in [each for each in access.filters if isinstance(each, AccessLogFilter)]:
        access.removeFilter(installed)


def test_health_probes_leave_no_access_line_and_other_requests_do(
    gateway_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.access"), httpx2.Client(base_url=gateway_url) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code in (200, 503)
            assert client.get("/healthz?verbose=1").status_code in (200, 503)
        assert client.get("/audit/public-key").status_code == 200
        assert client.get("/templates").status_code == 401

    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert not [line for line in lines if "/healthz" in line]
    assert any('"GET /audit/public-key HTTP/1.1" 200' in line for line in lines)
    assert any('"GET /templates HTTP/1.1" 401' in line for line in lines)


def test_query_values_never_reach_the_access_log(gateway_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.access"), httpx2.Client(base_url=gateway_url) as client:
        assert client.get("/workflows", params={"citizen_id": "CIT-0000042", "actor": "alice"}).status_code == 401

    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any('"GET /workflows?citizen_id=…&actor=… HTTP/1.1" 401' in line for line in lines), lines
    assert not [line for line in lines if "CIT-0000042" in line or "alice" in line]
