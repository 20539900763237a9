"""Services as real processes on fixed loopback ports, for the outage tests that kill one with SIGKILL and start it
again on the same address, as the launcher does; and an embedded PostgreSQL they can kill and start again too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.launch.embedded_postgres import embedded_database_url, start_embedded_postgres
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from tests.support.credentials import Credentials
from tests.support.process_tree import PROC, descendants

STARTUP_SECONDS = 60.0
# The module each service runs as, and the variable that sets its port.
_SERVICES = {
    ServiceIdentity.AUDIT_SERVICE: ("audit_service", "AUDIT_PORT"),
    ServiceIdentity.EVALUATOR: ("evaluator", "EVALUATOR_PORT"),
}


class ServiceProcess:
    """`python -m <service>` on one loopback port for its whole life, however often it is killed and started again."""

    def __init__(self, identity: ServiceIdentity, credentials: Credentials, environment: Mapping[str, str]) -> None:
        self.identity = identity
        self._credentials = credentials
        self._module, port_variable = _SERVICES[identity]
        [self.port] = free_ports(1)
        self.target = f"127.0.0.1:{self.port}"
        self._environment = {
            **os.environ,
            "HOST": "127.0.0.1",
            port_variable: str(self.port),
            "LOG_LEVEL": "WARNING",
            **credentials.environment(identity),
            **environment,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Starts the process and returns once it answers its health check SERVING."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", self._module],
            cwd=REPO_ROOT,
            env=self._environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        channel = self._credentials.channel(self.target, server=self.identity, as_=ServiceIdentity.ORCHESTRATOR)
        deadline = time.monotonic() + STARTUP_SECONDS
        with channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if (
                        health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return
                except grpc.RpcError:
                    time.sleep(0.05)
        raise AssertionError(f"{self._module} never became SERVING (exit status {self.process.poll()})")

    def kill(self) -> None:
        """kill -9: nothing flushed, no goodbye to its clients."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def audit_process(credentials: Credentials, *, database_url: str, key_path: Path) -> ServiceProcess:
    return ServiceProcess(
        ServiceIdentity.AUDIT_SERVICE,
        credentials,
        {
            "DATABASE_URL": database_url,
            "AUDIT_SIGNING_KEY_PATH": str(key_path),
            "AUDIT_SIGNING_KEY_CREATE": "true",
        },
    )


def evaluator_process(credentials: Credentials, **settings: Any) -> ServiceProcess:
    return ServiceProcess(
        ServiceIdentity.EVALUATOR, credentials, {name.upper(): str(value) for name, value in settings.items()}
    )


_START_POSTGRES = "import sys, pathlib, pgserver; pgserver.get_server(pathlib.Path(sys.argv[1]), cleanup_mode=None)"


class KillablePostgres:
    """An embedded PostgreSQL of a test's own, killed as a crash kills it (SIGKILL to the postmaster and every
    backend) and started again on the same data directory and socket: the same URL reaches it afterwards."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server = start_embedded_postgres(data_dir)
        self.url = embedded_database_url(self._server)

    def kill(self) -> None:
        postmaster = int(self._server.get_pid())
        doomed = [postmaster, *descendants(postmaster)]
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        # A backend still attached to the old shared memory would keep the new postmaster from starting.
        while any(_running(pid) for pid in doomed) and time.monotonic() < deadline:
            time.sleep(0.02)

    def start(self) -> None:
        """Starts it again after kill(): PostgreSQL recovers from its write-ahead log, as after a power cut.

        The killed postmaster may linger as a zombie that nobody reaps (its parent, pg_ctl, is gone): its lock
        files would name a process that still seems to exist, so they go first.
        """
        for lock in ("postmaster.pid", ".s.PGSQL.5432.lock"):
            (self._data_dir / lock).unlink(missing_ok=True)
        # pgserver forks pg_ctl as another user, which a process whose threads are calling into gRPC cannot
        # do safely (gRPC's fork handlers abort the child): a fresh interpreter without gRPC starts it instead.
        subprocess.run([sys.executable, "-c", _START_POSTGRES, str(self._data_dir)], check=True, timeout=60)
        self._server.ensure_postgres_running()  # finds it running: no fork here
        assert embedded_database_url(self._server) == self.url, "the server came back on another socket"

    def close(self) -> None:
        self._server.cleanup()


def _running(pid: int) -> bool:
    """Alive and not a zombie: a killed process nobody has reaped yet holds no shared memory any more."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
