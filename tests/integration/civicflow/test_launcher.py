"""`python -m civicflow.launch` (what `make run` runs): starts every service, serves a workflow, restarts a
service that dies, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
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

from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow.auth.principals import Role
from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT
from tests.support.databases import launcher_roles
from tests.support.process_tree import descendants, is_alive

STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
SERVICES = ("audit_service", "evaluator", "orchestrator", "gateway")


@dataclass
class RunningLauncher:
    process: subprocess.Popen[bytes]
    gateway_url: str
    log: Path
    # The local token issuer's key, which the launcher makes on its first start as `make run` does.
    issuer_key: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def token(self, role: Role) -> str:
        """A token signed with the launcher's own issuer key, which its services trust."""
        return LocalTokenIssuer(self.issuer_key).issue(f"{role}-1", [role], ttl_seconds=3600)

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@pytest.fixture
def launcher(postgres_server_url: str, tmp_path: Path) -> Iterator[RunningLauncher]:
    """The real launcher with two evaluators, on free ports, setting up a database of its own."""
    with (
        scratch_database(postgres_server_url, prefix="civicflow_launcher") as url,
        launcher_roles(url, tmp_path / "database-passwords.json") as database,
    ):
        yield from _launched(database, tmp_path)


def _launched(database: dict[str, str], tmp_path: Path, **extra: str) -> Iterator[RunningLauncher]:
    ports = free_port_environment(evaluators=2)
    environment = {
        **os.environ,
        **ports,
        **database,
        "EVALUATORS": "2",
        "LOG_LEVEL": "INFO",
        "RESTART_BACKOFF_SECONDS": "0.5",
        # Not the repository's .civicflow, which `make run` keeps its own keys and certificates in.
        "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing-key.pem"),
        "TLS_DIR": str(tmp_path / "tls"),
        "TOKEN_ISSUER_KEY_PATH": str(tmp_path / "token-issuer-key.pem"),
        **extra,
    }
    log = tmp_path / "launcher.log"
    with log.open("wb") as output:
        # A file, not a pipe: nobody reads a pipe while the test waits, and a full one would block the launcher.
        process = subprocess.Popen(
            [sys.executable, "-m", "civicflow.launch"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = RunningLauncher(
        process=process,
        gateway_url=f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        log=log,
        issuer_key=tmp_path / "token-issuer-key.pem",
    )
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
        headers=launcher.headers(Role.CASEWORKER),
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


def service_pid(launcher: RunningLauncher, module: str) -> int:
    (pid,) = [pid for pid, line in descendants(launcher.process.pid).items() if line.endswith(f"-m {module}")]
    return pid


def test_a_service_killed_with_sigkill_is_restarted_and_serves_again(launcher: RunningLauncher) -> None:
    wait_until_healthy(launcher)
    orchestrator = service_pid(launcher, "orchestrator")

    os.kill(orchestrator, signal.SIGKILL)
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(base_url=launcher.gateway_url, timeout=2.0) as client:
        # The gateway stays up; its health reports the orchestrator missing, then back.
        while client.get("/healthz").status_code == 200:
            assert time.monotonic() < deadline, "the gateway never noticed the orchestrator had died"
            time.sleep(0.05)
    wait_until_healthy(launcher)
    restarted = service_pid(launcher, "orchestrator")
    assert restarted != orchestrator

    response = httpx2.post(
        f"{launcher.gateway_url}/workflows/execute",
        json={"template_id": "eligibility_check", "inputs": {"citizen_id": "CIT-1002", "scheme_name": "scheme_beta"}},
        headers=launcher.headers(Role.CASEWORKER),
        timeout=30.0,
    )
    assert response.status_code == 200 and response.json()["status"] == "completed", response.text

    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(timeout=STOP_SECONDS) == 0, launcher.output()
    output = launcher.log.read_text(errors="replace")
    assert f"orchestrator exited (rc={-signal.SIGKILL}); restarting it in 0.5 s" in output
    # The launcher's own log lines are JSON without a process prefix.
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    restarts = [record for record in records if record["message"] == "restarting process"]
    assert [(record["process_name"], record["restart"]) for record in restarts] == [("orchestrator", 1)]
    stops = dict(re.findall(r"\| (\S+) stopped \(rc=(-?\d+)\)", output))
    assert stops == dict.fromkeys(["audit_service", "evaluator.0", "evaluator.1", "orchestrator", "gateway"], "0")
    assert not is_alive(restarted)


def test_a_run_interrupted_by_a_killed_orchestrator_completes_after_its_restart(launcher: RunningLauncher) -> None:
    """What a person sees: `civicflow watch` follows the run through the restart to its end."""
    wait_until_healthy(launcher)
    analyst = launcher.token(Role.ANALYST)
    population = 1_000_000
    started = httpx2.post(
        f"{launcher.gateway_url}/workflows/execute",
        json={
            "template_id": "impact_analysis",
            "inputs": {"scheme_name": "scheme_alpha", "population_size": population},
            "mode": "async",
        },
        headers={"Authorization": f"Bearer {analyst}"},
        timeout=30.0,
    )
    assert started.status_code == 202, started.text
    instance_id = started.json()["instance_id"]
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        run = httpx2.get(
            f"{launcher.gateway_url}/workflows/{instance_id}",
            headers={"Authorization": f"Bearer {analyst}"},
            timeout=10.0,
        ).json()
        assert run["status"] == "running", f"the run ended before it could be interrupted: {run}"
        if run["progress"]["items_done"] > 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)

    os.kill(service_pid(launcher, "orchestrator"), signal.SIGKILL)
    watched = subprocess.run(
        [sys.executable, "-m", "civicflow_cli", "watch", instance_id, "--json"],
        cwd=REPO_ROOT,
        env={**os.environ, "CIVICFLOW_URL": launcher.gateway_url, "CIVICFLOW_TOKEN": analyst},
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert watched.returncode == 0, watched.stderr + launcher.output()
    finished = json.loads(watched.stdout)
    assert finished["status"] == "completed"
    assert finished["outputs"]["impact_report"]["total"] == population
    assert "orchestrator exited (rc=-9); restarting it" in launcher.log.read_text(errors="replace")


@pytest.fixture
def launcher_with_a_broken_template(postgres_server_url: str, tmp_path: Path) -> Iterator[RunningLauncher]:
    """The launcher over a copy of the shipped templates and one file that does not load."""
    templates = tmp_path / "templates"
    templates.mkdir()
    for path in (REPO_ROOT / "templates").glob("*.json"):
        templates.joinpath(path.name).write_bytes(path.read_bytes())
    templates.joinpath("broken.json").write_text('{"template_id": "broken", "steps": []}')
    with (
        scratch_database(postgres_server_url, prefix="civicflow_launcher") as url,
        launcher_roles(url, tmp_path / "database-passwords.json") as database,
    ):
        yield from _launched(database, tmp_path, TEMPLATES_DIR=str(templates), TEMPLATE_RELOAD_SECONDS="0.2")


def test_a_broken_template_stops_nothing_and_a_new_one_is_served_without_a_restart(
    launcher_with_a_broken_template: RunningLauncher,
) -> None:
    launcher = launcher_with_a_broken_template
    wait_until_healthy(launcher)
    refused = [line for line in launcher.output().splitlines() if "template refused" in line]
    assert refused and all("broken.json" in line for line in refused), launcher.output()
    orchestrator = service_pid(launcher, "orchestrator")

    templates = launcher.log.parent / "templates"
    document = json.loads((templates / "eligibility_check.json").read_text())
    templates.joinpath("quick_check.json").write_text(json.dumps({**document, "template_id": "quick_check"}))
    with httpx2.Client(
        base_url=launcher.gateway_url, headers=launcher.headers(Role.CASEWORKER), timeout=30.0
    ) as client:
        deadline = time.monotonic() + 10
        while "quick_check" not in {item["template_id"] for item in client.get("/templates").json()}:
            assert time.monotonic() < deadline, "quick_check was not loaded within 10 s"
            time.sleep(0.2)
        run = client.post(
            "/workflows/execute",
            json={"template_id": "quick_check", "inputs": {"citizen_id": "CIT-1001", "scheme_name": "scheme_alpha"}},
        )
    assert run.status_code == 200 and run.json()["status"] == "completed", run.text
    assert service_pid(launcher, "orchestrator") == orchestrator  # never restarted
