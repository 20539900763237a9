"""Shared by the fan-out tests: a migrated orchestrator schema, running instances, evaluator processes, a reference."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from civicflow.database import run_migrations
from civicflow.launch_settings import free_ports
from civicflow.settings import REPO_ROOT
from orchestrator.citizens import population_columns
from orchestrator.server import MIGRATIONS
from orchestrator.storage.tables import SCHEMA

DECISIONS = ("ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW")


def migrate(engine: sa.Engine) -> None:
    run_migrations(engine, script_location=MIGRATIONS, schema=SCHEMA)


def instance_for_results(engine: sa.Engine) -> uuid.UUID:
    """A workflow instance for results to belong to.

    Stored as already ended, so that no orchestrator sharing the database takes it for a run
    to resume; results only need their instance to exist.
    """
    instance_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances"
                " (instance_id, template_id, template_version, status, inputs, error, created_at, completed_at)"
                " VALUES (:id, 'impact_analysis', 'test', 'failed', '{}', 'fan-out test fixture', now(), now())"
            ),
            {"id": instance_id},
        )
    return instance_id


def stored_rows(engine: sa.Engine, instance_id: uuid.UUID | str) -> tuple[int, int, int]:
    """(rows, lowest position, highest position) of an instance's results."""
    with engine.connect() as connection:
        count, low, high = connection.execute(
            sa.text(
                "SELECT count(*), min(position), max(position) FROM orchestrator.impact_results"
                " WHERE instance_id = :id"
            ),
            {"id": instance_id},
        ).one()
    return int(count), int(low or 0), int(high or 0)


def exported_results(engine: sa.Engine, instance_id: uuid.UUID | str) -> bytes:
    """An instance's results as COPY prints them in position order: what results_digest is the SHA-256 of."""
    connection = engine.raw_connection()
    export = io.BytesIO()
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(
                "COPY (SELECT position, citizen_id, decision, baseline_decision FROM orchestrator.impact_results"
                f" WHERE instance_id = '{instance_id}' ORDER BY position) TO STDOUT",
                export,
            )
    finally:
        connection.close()
    return export.getvalue()


def reference_decisions(ages: np.ndarray, incomes: np.ndarray, rules: dict[str, Any]) -> np.ndarray:
    """The pinned rule written out independently of the evaluator: 0 ELIGIBLE, 1 NOT_ELIGIBLE, 2 NEEDS_REVIEW."""
    excluded = (ages < rules["min_age"]) | (ages > rules["max_age"]) | (incomes > rules["max_income"])
    return np.where(excluded, 1, np.where(incomes >= 0.9 * rules["max_income"], 2, 0))


def reference_transitions(
    size: int, current: dict[str, Any], proposed: dict[str, Any], *, skip: list[int] | None = None
) -> dict[tuple[str, str], int]:
    """(from, to) -> count over citizens 1..size but those at `skip`, as a direct evaluation gives them."""
    ages, incomes = population_columns(1, size)
    kept = np.ones(size, dtype=np.bool_)
    kept[[position - 1 for position in skip or []]] = False
    before = reference_decisions(ages[kept], incomes[kept], current)
    after = reference_decisions(ages[kept], incomes[kept], proposed)
    pairs = Counter(zip(before.tolist(), after.tolist(), strict=True))
    return {(DECISIONS[a], DECISIONS[b]): pairs[(a, b)] for a in range(3) for b in range(3)}


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


def start_evaluator_process(extra_env: dict[str, str] | None = None) -> EvaluatorProcess:
    """`python -m evaluator` on a free loopback port, SERVING when this returns."""
    [port] = free_ports(1)
    env = {**os.environ, "EVALUATOR_PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "evaluator"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    evaluator = EvaluatorProcess(process, port)
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
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
