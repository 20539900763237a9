"""Chaos: each component killed in turn with SIGKILL (the audit service, the evaluator, the orchestrator, PostgreSQL)
and started again, as the launcher restarts them, during a 1,000,000-citizen analysis and 40 eligibility checks.
Every run completes, the analysis with the digest of an uninterrupted one, each with exactly one success entry per
step in the audit trail.

Every component is a real process of its own, on a PostgreSQL of the test's own that it can kill too. A client
sends its requests again after an UNAVAILABLE, as a REST client does after a 503 and its Retry-After.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.orchestrators import OrchestratorProcess
from tests.support.service_processes import KillablePostgres, audit_process, evaluator_process

pytestmark = pytest.mark.chaos

POPULATION = 1_000_000
IMPACT = {"scheme_name": "scheme_beta", "population_size": POPULATION, "proposed_rules": {"min_age": 25}}
STEPS = {"impact_analysis": 6, "eligibility_check": 4}
CHECKS_PER_KILL = 10  # 40 in all, sent at once as each of the four components is killed
# Their batches are held back, every time they are sent: the analysis is surely still running at each kill.
STALLED_CITIZENS = "CIT-0250000,CIT-0500000,CIT-0750000"
RESTART_DELAY_SECONDS = 1.0  # the launcher's first restart delay (civicflow/launch/restart_policy.py)
Answer = TypeVar("Answer")


class System:
    """The four components as processes, each to be killed and started again; the orchestrator as one replica."""

    def __init__(self, credentials: Credentials, postgres: KillablePostgres, database: SetUpDatabase, key: Path):
        self.credentials = credentials
        self.postgres = postgres
        self.audit = audit_process(credentials, database_url=database.accounts.audit, key_path=key)
        self.evaluator = evaluator_process(
            credentials, evaluator_stall_citizens=STALLED_CITIZENS, evaluator_stall_seconds=1.0
        )
        self._orchestrator_environment = {
            **credentials.environment(ServiceIdentity.ORCHESTRATOR),
            "DATABASE_URL": database.accounts.orchestrator,
            "EVALUATOR_TARGET": self.evaluator.target,
            "AUDIT_TARGET": self.audit.target,
            # A stable id: the replica started after the kill takes its runs back at once.
            "REPLICA_ID": "chaos-replica",
            "RUN_LEASE_SECONDS": "3",
            "LEASE_HEARTBEAT_SECONDS": "0.5",
            "RESUME_SCAN_SECONDS": "0.2",
            "WATCH_POLL_SECONDS": "0.1",
            "PROGRESS_FLUSH_SECONDS": "0.2",
        }
        self.orchestrators = [OrchestratorProcess(**self._orchestrator_environment)]

    @property
    def orchestrator(self) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
        channel = self.credentials.orchestrator_channel(self.orchestrators[-1].target, role=Role.ADMIN)
        return orchestrator_pb2_grpc.OrchestratorServiceStub(channel)

    def restart_orchestrator(self) -> None:
        self.orchestrators[-1].kill()
        self.orchestrators.append(OrchestratorProcess(**self._orchestrator_environment))

    def close(self) -> None:
        for process in self.orchestrators:
            process.close()
        self.evaluator.close()
        self.audit.close()


@pytest.fixture
def system(credentials: Credentials, tmp_path: Path) -> Iterator[System]:
    postgres = KillablePostgres(tmp_path / "pgdata")
    try:
        with set_up_database(postgres.url, name_prefix="civicflow_chaos") as database:
            running = System(credentials, postgres, database, tmp_path / "audit-key.pem")
            try:
                yield running
            finally:
                running.close()
    finally:
        postgres.close()


def _until_answered(call: Callable[[], Answer], *, timeout: float = 120) -> Answer:
    """The call's answer, sent again while the system answers UNAVAILABLE (a component is restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _start(system: System, template_id: str, inputs: dict[str, Any]) -> str:
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id=template_id, inputs_json=json.dumps(inputs), mode=orchestrator_pb2.EXECUTION_MODE_ASYNC
    )
    return _until_answered(lambda: str(system.orchestrator.ExecuteWorkflow(request, timeout=30).instance.instance_id))


def _analysis(system: System, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    request = orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id)
    return _until_answered(lambda: system.orchestrator.GetWorkflow(request, timeout=10).instance)


def _while_evaluating(system: System, instance_id: str) -> None:
    """Returns once the analysis has evaluated some citizens and not all of them (since it last started over)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        instance = _analysis(system, instance_id)
        assert instance.status == orchestrator_pb2.RUN_STATUS_RUNNING, instance.error
        if 0 < instance.progress.items_done < POPULATION:
            return
        time.sleep(0.05)
    raise AssertionError("the analysis was never seen evaluating")


def _finished(system: System, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    request = orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id)
    return _until_answered(lambda: list(system.orchestrator.WatchWorkflow(request, timeout=300))[-1].instance)


def _report(instance: orchestrator_pb2.WorkflowInstance) -> dict[str, Any]:
    report = dict(json.loads(instance.outputs_json)["impact_report"])
    report.pop("instance_id")
    return report


def _successes_per_step(system: System, instance_id: str) -> Counter[int]:
    channel = system.credentials.channel(
        system.audit.target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR
    )
    with channel:
        entries = audit_pb2_grpc.AuditServiceStub(channel).ListEntries(
            audit_pb2.ListEntriesRequest(instance_id=instance_id), timeout=30
        )
    return Counter(e.record.step_index for e in entries.entries if e.record.status == audit_pb2.STEP_STATUS_SUCCESS)


def _restart(kill: Callable[[], None], start: Callable[[], None]) -> Callable[[], None]:
    def outage() -> None:
        kill()
        time.sleep(RESTART_DELAY_SECONDS)
        start()

    return outage


def _checks_during(system: System, first: int, outage: Callable[[], None]) -> list[str]:
    """Eligibility checks sent all at once while `outage` happens; their ids once every one has been accepted."""
    with ThreadPoolExecutor(max_workers=CHECKS_PER_KILL) as senders:
        sent = [
            senders.submit(
                _start, system, "eligibility_check", {"citizen_id": f"CIT-{n:07d}", "scheme_name": "scheme_alpha"}
            )
            for n in range(first, first + CHECKS_PER_KILL)
        ]
        outage()
        return [instance_id.result() for instance_id in sent]


def _waited_for(process: OrchestratorProcess) -> set[str]:
    return {str(line.get("dependency")) for line in process.logged("dependency unreachable; waiting for it")}


def test_every_component_killed_in_turn_fails_no_run(system: System) -> None:
    impact_id = _start(system, "impact_analysis", IMPACT)
    checks: list[str] = []

    _while_evaluating(system, impact_id)
    checks += _checks_during(system, 1, _restart(system.audit.kill, system.audit.start))

    _while_evaluating(system, impact_id)
    checks += _checks_during(system, 101, _restart(system.evaluator.kill, system.evaluator.start))
    first = system.orchestrators[0]

    _while_evaluating(system, impact_id)
    checks += _checks_during(system, 201, system.restart_orchestrator)

    _while_evaluating(system, impact_id)  # resumed by the new process, evaluating again
    checks += _checks_during(system, 301, _restart(system.postgres.kill, system.postgres.start))

    finished = {instance_id: _finished(system, instance_id) for instance_id in [impact_id, *checks]}
    uninterrupted = _finished(system, _start(system, "impact_analysis", IMPACT))

    assert {(i.status, i.error) for i in finished.values()} == {(orchestrator_pb2.RUN_STATUS_COMPLETED, "")}
    assert len(finished) == 1 + 4 * CHECKS_PER_KILL
    assert _report(finished[impact_id]) == _report(uninterrupted)
    for instance_id, instance in finished.items():
        assert _successes_per_step(system, instance_id) == Counter(range(STEPS[instance.template_id])), instance_id
    # Each kill was felt, and waited out: the outages by the replica driving the runs, the kill by the next one.
    last = system.orchestrators[-1]
    assert {"audit service", "evaluator"} <= _waited_for(first)
    assert "database" in _waited_for(last)
    assert impact_id in {line["instance_id"] for line in last.logged("run resumed")}
