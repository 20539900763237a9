"""docker-compose.yml run without Docker: its jobs and its four services as processes of this machine, each given the
command and environment compose gives it, with its volumes as directories, its host names and ports moved to free
loopback ports and `postgres` to a database of the test server. The system it makes is healthy by its own
healthchecks, and runs an eligibility check for a token minted by its token tool, as its own role in the database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civicflow.database_setup import DEFAULT_PREFIX, drop_roles
from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from tests.support.compose import Volumes, load_compose
from tests.support.databases import role_prefix
from tests.support.service_settings import PORT_FIELDS, SETTINGS

# In the order their depends_on conditions start them.
SERVICES = ("audit_service", "evaluator", "orchestrator", "gateway")
HEALTHY_WITHIN_SECONDS = 60.0
# The image's working directory holds the repository's templates/ and schemes/ (deploy/Dockerfile).
IMAGE_WORKDIR = "/app"
_ADDRESS = re.compile(r"\b(dns:///)?([a-z_]+):(\d+)\b")


class ComposeOnLoopback:
    """The compose file's containers as processes here: what each would be given, moved onto this machine."""

    def __init__(self, root: Path, admin_url: str, prefix: str) -> None:
        self.compose = load_compose()
        self.volumes = Volumes(self.compose, root / "volumes")
        self.logs = root / "logs"
        self.logs.mkdir()
        self.admin_url = admin_url
        self.prefix = prefix
        # Each service's ports in its container (its own, its health and its metrics port) -> a free loopback port.
        wanted = [
            (service, int(port))
            for service in SERVICES
            for name, port in self.compose["services"][service]["environment"].items()
            if name in {PORT_FIELDS[service].upper(), "HEALTH_PORT", "METRICS_PORT"}
        ]
        self.ports = dict(zip(wanted, free_ports(len(wanted)), strict=True))

    def address(self, found: re.Match[str]) -> str:
        scheme, host, port = found.groups()
        return f"{scheme or ''}127.0.0.1:{self.ports[(host, int(port))]}"

    def database_url(self, url: str) -> str:
        """A compose URL on the test server: the services' roles under this test's prefix, the superuser its own."""
        compose_url, server = make_url(url), make_url(self.admin_url)
        user = str(compose_url.username)
        role = self.prefix + user.removeprefix(DEFAULT_PREFIX) if user.startswith(f"{DEFAULT_PREFIX}_") else None
        return server.set(username=role or server.username, password=None).render_as_string(hide_password=False)

    def environment(self, service: str) -> dict[str, str]:
        environment = self.volumes.environment(service)
        for name, value in environment.items():
            if name in {PORT_FIELDS.get(service, "").upper(), "HEALTH_PORT", "METRICS_PORT"}:
                environment[name] = str(self.ports[(service, int(value))])
            elif name.endswith("_TARGET"):
                environment[name] = _ADDRESS.sub(self.address, value)
            elif "://" in value and value.startswith("postgresql"):
                environment[name] = self.database_url(value)
            elif value.startswith(f"{IMAGE_WORKDIR}/"):
                environment[name] = str(REPO_ROOT / value.removeprefix(f"{IMAGE_WORKDIR}/"))
        if service in SETTINGS:
            # Containers bind every interface of their own network; here that would be this machine's.
            environment["HOST"] = "127.0.0.1"
        return {**os.environ, **environment}

    def command(self, service: str, argv: list[str]) -> list[str]:
        programs = {"python": [sys.executable], "civicflow": [sys.executable, "-m", "civicflow_cli"]}
        return [*programs.get(argv[0], [argv[0]]), *argv[1:]]

    def healthy(self, service: str) -> bool:
        """The service's own compose healthcheck, run here."""
        test = self.compose["services"][service]["healthcheck"]["test"]
        assert test[0] == "CMD"
        argv = [re.sub(r"localhost:(\d+)", lambda found: self.local(service, found), part) for part in test[1:]]
        return subprocess.run(self.command(service, argv), capture_output=True, timeout=10).returncode == 0

    def local(self, service: str, found: re.Match[str]) -> str:
        return f"127.0.0.1:{self.ports[(service, int(found.group(1)))]}"

    def run_job(self, job: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(job, self.volumes.command(job)),
            env={**self.environment(job), **extra},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    @contextmanager
    def started(self, service: str) -> Iterator[subprocess.Popen[bytes]]:
        """The service's process, yielded once its healthcheck passes (service_healthy); stopped with SIGTERM."""
        log = self.logs / f"{service}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                self.command(service, self.compose["services"][service]["command"]),
                env=self.environment(service),
                cwd=REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
            while not self.healthy(service):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{service} did not become healthy:\n{log.read_text()[-4000:]}")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def system(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeOnLoopback]:
    """`docker compose up`, here: the credentials job, the database setup job, then the services in order."""
    with scratch_database(postgres_server_url, prefix="civicflow_compose") as admin_url:
        compose = ComposeOnLoopback(tmp_path_factory.mktemp("compose"), admin_url, role_prefix())
        try:
            compose.volumes.run_credentials_job()
            server_password = make_url(admin_url).password
            if server_password:  # what PostgreSQL's superuser was initialised with, as compose's is from this file
                Path(compose.environment("postgres")["POSTGRES_PASSWORD_FILE"]).write_text(server_password)
            setup = compose.run_job("database-setup", DATABASE_ROLE_PREFIX=compose.prefix)
            assert setup.returncode == 0, setup.stdout + setup.stderr
            with ExitStack() as services:
                for service in SERVICES:
                    services.enter_context(compose.started(service))
                yield compose
        finally:
            drop_roles(admin_url, prefix=compose.prefix)


def test_the_services_come_up_healthy_on_their_health_ports(system: ComposeOnLoopback) -> None:
    assert all(system.healthy(service) for service in SERVICES)


def test_a_token_of_the_token_tool_runs_an_eligibility_check_recorded_as_its_subject(system: ComposeOnLoopback) -> None:
    tool = system.compose["services"]["token"]
    minted = subprocess.run(
        system.command("token", [*tool["entrypoint"], "--subject", "alice", "--role", "caseworker"]),
        env=system.environment("token"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert minted.returncode == 0, minted.stderr
    gateway = f"http://127.0.0.1:{system.ports[('gateway', 8000)]}"
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}

    with httpx2.Client(base_url=gateway, headers=headers, timeout=30) as client:
        run = client.post(
            "/workflows/execute",
            json={
                "template_id": "eligibility_check",
                "inputs": {"citizen_id": "CIT-0000011", "scheme_name": "scheme_alpha"},
            },
        )
        assert run.status_code == 200, run.text
        instance: dict[str, Any] = client.get(f"/workflows/{run.json()['instance_id']}").json()
        trail = client.get(f"/workflows/{instance['instance_id']}/audit").json()
        anonymous = httpx2.post(f"{gateway}/workflows/execute", json={}, timeout=10)

    assert (instance["status"], instance["actor"]) == ("completed", "alice")
    assert [entry["actor"] for entry in trail] == ["alice"] * len(trail) and trail
    assert anonymous.status_code == 401


def test_each_service_is_connected_as_its_own_role(system: ComposeOnLoopback) -> None:
    engine = sa.create_engine(system.admin_url)
    try:
        with engine.connect() as connection:
            logged_in = connection.execute(
                sa.text(
                    """SELECT DISTINCT application_name, usename FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name LIKE ANY(:services)"""
                ),
                {"services": ["%orchestrator%", "audit_service"]},
            ).all()
    finally:
        engine.dispose()

    assert sorted(logged_in) == [
        ("audit_service", f"{system.prefix}_audit"),
        ("civicflow-orchestrator", f"{system.prefix}_orchestrator"),
    ]
