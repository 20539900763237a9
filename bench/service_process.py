"""One service of the benchmark as a process of its own, with its certificate, SERVING when the block starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.credentials import BenchCredentials
from bench.system import UNTHROTTLED
from civicflow.auth.access import ServiceIdentity
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT

STARTUP_SECONDS = 60.0


@contextmanager
def service_process(
    argv: list[str],
    log: TextIO,
    environment: dict[str, str],
    credentials: BenchCredentials,
    identity: ServiceIdentity,
) -> Iterator[int]:
    """Runs `python -m <argv>` on a free loopback port ("{port}" in argv or environment) with the certificate of
    `identity`, until the block ends."""
    [port] = free_ports(1)
    argv = [part.replace("{port}", str(port)) for part in argv]
    environment = {name: value.replace("{port}", str(port)) for name, value in environment.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", *argv],
        env={
            **os.environ,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            # One subject sends the load, as in the benchmark's whole systems (bench/system.py).
            **UNTHROTTLED,
            **credentials.environment(identity),
            **environment,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not is_serving(credentials, f"127.0.0.1:{port}", identity):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start serving; see {log.name}")
            time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def is_serving(credentials: BenchCredentials, target: str, identity: ServiceIdentity) -> bool:
    """Asked as the orchestrator asks, on a channel of its own (a channel refused once waits before it tries again):
    the evaluator and the audit service admit no client without a certificate."""
    with credentials.channel(target, server=identity, as_=ServiceIdentity.ORCHESTRATOR) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
