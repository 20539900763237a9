"""What `make run` prints: readable lines from the launcher and every service when asked (a terminal asks), and no
access line for the health probes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx2
import pytest

from bench.launcher_process import launcher_process
from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT
from tests.support.databases import launcher_roles

STARTUP_SECONDS = 60.0


def test_the_launcher_and_its_services_log_readable_lines_without_health_probes(
    postgres_server_url: str, tmp_path: Path
) -> None:
    ports = free_port_environment(evaluators=1)
    log = tmp_path / "launcher.log"
    with (
        scratch_database(postgres_server_url, prefix="civicflow_output") as url,
        launcher_roles(url, tmp_path / "database-passwords.json") as database,
    ):
        environment = {
            **os.environ,
            **ports,
            **database,
            # What auto chooses on a terminal (tests/unit/civicflow/test_logs.py); the log file here is not one.
            "LOG_FORMAT": "human",
            "LOG_LEVEL": "INFO",
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing-key.pem"),
            "TLS_DIR": str(tmp_path / "tls"),
            "TOKEN_ISSUER_KEY_PATH": str(tmp_path / "token-issuer-key.pem"),
        }
        with launcher_process(REPO_ROOT, environment, log):
            gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
            with httpx2.Client(base_url=gateway, timeout=2.0) as client:
                _wait_until_healthy(client, log)
                for _ in range(5):
                    assert client.get("/healthz").status_code == 200
                assert client.get("/audit/public-key").status_code == 200
                time.sleep(0.5)  # the gateway's line travels through the launcher's pipe

    output = log.read_text(errors="replace")
    lines = output.splitlines()
    assert not [line for line in lines if "/healthz" in line], output[-3000:]
    assert any('"GET /audit/public-key HTTP/1.1" 200' in line for line in lines), output[-3000:]
    for service in ("audit_service", "evaluator", "orchestrator", "gateway"):
        # honcho's prefix, then the service's own readable line: `HH:MM:SS gateway | INFO    logger: message`
        assert any(f" {service}" in line and "| INFO " in line for line in lines), (service, output[-3000:])
    assert not [line for line in lines if _is_json_object(line.partition("| ")[2] or line)], output[-3000:]
    assert any("INFO    civicflow.launch: stopped  clean=True" in line for line in lines), output[-3000:]


def _wait_until_healthy(client: httpx2.Client, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"/healthz did not answer 200 within {STARTUP_SECONDS} s:\n{log.read_text(errors='replace')[-3000:]}")


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
