"""Extra orchestrator replicas for the durability tests: in-process ones, and `python -m orchestrator` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from civicflow.auth.access import ServiceIdentity
from civicflow.settings import REPO_ROOT
from orchestrator.config import OrchestratorSettings
from orchestrator.server import start
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials

STARTUP_SECONDS = 60.0


def replica_settings(base: OrchestratorSettings, **overrides: Any) -> OrchestratorSettings:
    """A copy of the session's orchestrator settings as another replica: its own id, short leases."""
    fast = {
        "replica_id": f"test-replica-{uuid.uuid4().hex[:8]}",
        "run_lease_seconds": 2.0,
        "lease_heartbeat_seconds": 0.5,
        "resume_scan_seconds": 0.2,
        "watch_poll_seconds": 0.05,
        "progress_flush_seconds": 0.1,
    }
    return base.model_copy(update={**fast, **overrides})


def process_environment(
    credentials: Credentials, *, database_url: str, evaluator_target: str, audit_target: str, **extra: str
) -> dict[str, str]:
    """The environment of `python -m orchestrator` processes on one system, with short leases and fast scans."""
    return {
        **credentials.environment(ServiceIdentity.ORCHESTRATOR),
        "DATABASE_URL": database_url,
        "EVALUATOR_TARGET": evaluator_target,
        "AUDIT_TARGET": audit_target,
        "RUN_LEASE_SECONDS": "1.5",
        "LEASE_HEARTBEAT_SECONDS": "0.3",
        "RESUME_SCAN_SECONDS": "0.2",
        "WATCH_POLL_SECONDS": "0.05",
        **extra,
    }


@contextmanager
def serving(background_loop: BackgroundLoop, settings: OrchestratorSettings) -> Iterator[str]:
    with serve_on_loopback(background_loop, start(settings)) as target:
        yield target


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class OrchestratorProcess:
    """`python -m orchestrator` with the given settings as environment variables; its JSON log lines kept."""

    def __init__(self, **environment: str) -> None:
        env = {**os.environ, "HOST": "127.0.0.1", "ORCHESTRATOR_PORT": "0", **environment}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(
            lambda: self._port() is not None or self.process.poll() is not None,
            timeout=STARTUP_SECONDS,
            what="the orchestrator to listen",
        )
        port = self._port()
        if port is None:
            raise AssertionError(f"orchestrator exited {self.process.returncode}: {self.lines[-5:]}")
        self.target = f"127.0.0.1:{port}"

    def logged(self, message: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("message") == message]

    def kill(self) -> None:
        """kill -9: no shutdown, no lease released, nothing flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _port(self) -> int | None:
        return next((line["port"] for line in self.logged("listening")), None)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                self.lines.append(json.loads(raw))
            except json.JSONDecodeError:
                self.lines.append({"message": raw.rstrip()})
