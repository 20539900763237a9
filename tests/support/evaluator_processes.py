"""Evaluators as real `python -m evaluator` processes, for the tests that kill, stall or time one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from tests.support.credentials import Credentials


@dataclass
class EvaluatorProcess:
    process: subprocess.Popen[bytes]
    port: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_evaluator_process(credentials: Credentials, extra_env: dict[str, str] | None = None) -> EvaluatorProcess:
    """`python -m evaluator` on a free loopback port with the evaluator's certificate, SERVING when this returns."""
    [port] = free_ports(1)
    env = {
        **os.environ,
        "EVALUATOR_PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        **credentials.environment(ServiceIdentity.EVALUATOR),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "evaluator"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    evaluator = EvaluatorProcess(process, port)
    deadline = time.monotonic() + 30
    # Asked as the orchestrator asks it: the evaluator lets in no client without a certificate.
    channel = credentials.channel(
        f"127.0.0.1:{port}", server=ServiceIdentity.EVALUATOR, as_=ServiceIdentity.ORCHESTRATOR
    )
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return evaluator
            except grpc.RpcError:
                time.sleep(0.1)
    evaluator.stop()
    raise RuntimeError("evaluator process never became SERVING")
