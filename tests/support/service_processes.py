"""Services as real processes on fixed loopback ports, for the outage tests that kill one with SIGKILL and start it
again on the same address, as the launcher does; and an embedded PostgreSQL they can kill and start again too."""

from __future__ import annotations

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
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from tests.support.credentials import Credentials

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
