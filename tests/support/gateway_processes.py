"""The gateway as a real `python -m gateway` process (uvicorn and all), for the tests of what only a real HTTP
server shows: connections, timeouts, and the memory a request costs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from civicflow.auth.access import ServiceIdentity
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from tests.support.credentials import Credentials

STARTUP_SECONDS = 60.0


def resident_mb(pid: int) -> float:
    """The process's resident set size (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def resident_mb(self) -> float:
        return resident_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gateway_process(
    credentials: Credentials, *, orchestrator_target: str, evaluator_target: str, audit_target: str, **settings: str
) -> GatewayProcess:
    """`python -m gateway` on a free loopback port, with its certificate and the issuer's key; answering when this
    returns. `settings`: more environment variables (SSE_MAX_PER_SUBJECT="3", ...)."""
    [port] = free_ports(1)
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "ORCHESTRATOR_TARGET": orchestrator_target,
        "EVALUATOR_TARGET": evaluator_target,
        "AUDIT_TARGET": audit_target,
        **credentials.environment(ServiceIdentity.GATEWAY),
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    gateway = GatewayProcess(process, port)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{gateway.url}/healthz", timeout=2):
                return gateway
        except urllib.error.HTTPError:
            return gateway  # answering, if not every service behind it is SERVING yet
        except OSError:
            time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway process never answered (exit status {process.poll()})")
