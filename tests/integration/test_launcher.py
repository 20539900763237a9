"""`python -m civicflow.launcher` (what `make run` runs): starts every service, serves a workflow, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from civicflow.launch_settings import free_port_environment
from tests.integration.process_tree import descendants, is_alive

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
SERVICES = ("audit_service", "evaluator", "orchestrator", "gateway")


@dataclass
class RunningLauncher:
    process: subprocess.Popen[bytes]
    gateway_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@pytest.fixture
def launcher(database_url: str, tmp_path: Path) -> Iterator[RunningLauncher]:
    """The real launcher with two evaluators, on free ports, using the session's database."""
    ports = free_port_environment(evaluators=2)
    environment = {**os.environ, **ports, "DATABASE_URL": database_url, "EVALUATORS": "2", "LOG_LEVEL": "INFO"}
    log = tmp_path / "launcher.log"
    with log.open("wb") as output:
        # A file, not a pipe: nobody reads a pipe while the test waits, and a full one would block the launcher.
        process = subprocess.Popen(
            [sys.executable, "-m", "civicflow.launcher"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = RunningLauncher(process=process, gateway_url=f"http://127.0.0.1:{ports['GATEWAY_PORT']}", log=log)
    started = descendants(process.pid)
    try:
        yield running
    finally:
        if process.poll() is None:
            started |= descendants(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in started:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def wait_until_healthy(launcher: RunningLauncher) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(base_url=launcher.gateway_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if launcher.process.poll() is not None:
                pytest.fail(f"the launcher exited with {launcher.process.returncode}:\n{launcher.output()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.25)
    pytest.fail(f"/healthz did not answer 200 within {STARTUP_SECONDS} s:\n{launcher.output()}")


def test_launcher_serves_a_workflow_then_stops_every_process_cleanly_on_sigint(launcher: RunningLauncher) -> None:
    wait_until_healthy(launcher)
    processes = descendants(launcher.process.pid)
    services = {pid: line for pid, line in processes.items() if any(f"-m {name}" in line for name in SERVICES)}
    assert sorted(line.rsplit(" ", 1)[-1] for line in services.values()) == sorted([*SERVICES, "evaluator"])

    response = httpx2.post(
        f"{launcher.gateway_url}/workflows/execute",
        json={"template_id": "eligibility_check", "inputs": {"citizen_id": "CIT-1001", "scheme_name": "scheme_alpha"}},
        timeout=30.0,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["outputs"]["decision"]["decision"] in {"ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW"}

    launcher.process.send_signal(signal.SIGINT)
    try:
        returncode = launcher.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the launcher did not stop within {STOP_SECONDS} s of SIGINT:\n{launcher.output()}")
    assert returncode == 0, launcher.output()
    survivors = {pid: line for pid, line in processes.items() if is_alive(pid)}
    assert not survivors, f"processes outlived the launcher: {survivors}"
    stops = dict(re.findall(r"\| (\S+) stopped \(rc=(-?\d+)\)", launcher.output()))
    assert stops == dict.fromkeys(["audit_service", "evaluator.0", "evaluator.1", "orchestrator", "gateway"], "0")
