"""Real orchestrator processes killed mid-run: their runs complete elsewhere, equal to uninterrupted ones,
with exactly one success entry per step in the audit trail.

The processes run against a database of their own, so that no orchestrator of the test session
takes their runs over before the process under test does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from audit_service.config import AuditSettings
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.orchestrators import OrchestratorProcess, process_environment

POPULATION = 50_000
IMPACT = {
    "scheme_name": "scheme_beta",
    "population_size": POPULATION,
    "proposed_rules": {"min_age": 25, "max_income": 150000},
}
STEPS = {"impact_analysis": 6, "eligibility_check": 4}
STALLED_CITIZEN = "CIT-0030000"


@pytest.fixture(scope="module")
def crash_database(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    with set_up_database(postgres_server_url, name_prefix="civicflow_crash") as database:
        yield database


@pytest.fixture(scope="module")
def crash_audit(
    background_loop: BackgroundLoop, audit_settings: AuditSettings, crash_database: SetUpDatabase
) -> Iterator[str]:
    from audit_service.server import start

    settings = audit_settings.model_copy(update={"database_url": crash_database.accounts.audit})
    with serve_on_loopback(background_loop, start(settings)) as target:
        yield target


@pytest.fixture(scope="module")
def slow_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    """An evaluator that holds back the batch of one citizen for a second, so that an analysis is surely
    still running when the test kills its orchestrator (uninterrupted, 50,000 citizens take a tenth of that)."""
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({STALLED_CITIZEN}),
        evaluator_stall_seconds=1.0,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start(settings), grace=0) as target:
        yield target


@pytest.fixture(scope="module")
def environment(
    crash_database: SetUpDatabase, crash_audit: str, slow_evaluator: str, credentials: Credentials
) -> dict[str, str]:
    return process_environment(
        credentials,
        database_url=crash_database.accounts.orchestrator,
        evaluator_target=slow_evaluator,
        audit_target=crash_audit,
        PROGRESS_FLUSH_SECONDS="0.05",
        SHUTDOWN_GRACE_SECONDS="20",
    )


@pytest.fixture
def processes() -> Iterator[list[OrchestratorProcess]]:
    started: list[OrchestratorProcess] = []
    yield started
    for process in started:
        process.close()


def _stub(credentials: Credentials, process: OrchestratorProcess) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    """The process as an admin calls it: the tests run both eligibility checks and impact analyses."""
    return orchestrator_pb2_grpc.OrchestratorServiceStub(
        credentials.orchestrator_channel(process.target, role=Role.ADMIN)
    )


def _audit_stub(credentials: Credentials, audit_target: str) -> audit_pb2_grpc.AuditServiceStub:
    """The audit service as the orchestrator reads it."""
    channel = credentials.channel(audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)
    return audit_pb2_grpc.AuditServiceStub(channel)


def _start(stub: Any, template_id: str, inputs: dict[str, Any]) -> str:
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id=template_id, inputs_json=json.dumps(inputs), mode=orchestrator_pb2.EXECUTION_MODE_ASYNC
    )
    return str(stub.ExecuteWorkflow(request, timeout=10).instance.instance_id)


def _checks(stub: Any, first: int, count: int) -> list[str]:
    """Starts `count` eligibility checks at once; answers their ids once every one has been accepted."""
    calls = [
        stub.ExecuteWorkflow.future(
            orchestrator_pb2.ExecuteWorkflowRequest(
                template_id="eligibility_check",
                inputs_json=json.dumps({"citizen_id": f"CIT-{n:07d}", "scheme_name": "scheme_alpha"}),
                mode=orchestrator_pb2.EXECUTION_MODE_ASYNC,
            ),
            timeout=10,
        )
        for n in range(first, first + count)
    ]
    return [str(call.result().instance.instance_id) for call in calls]


def _kill_during_the_fan_out(credentials: Credentials, process: OrchestratorProcess, impact_id: str) -> None:
    """Kills the process once the impact analysis has evaluated some citizens but not all (the stalled
    citizen's batch holds it back for a second)."""
    for reply in _stub(credentials, process).WatchWorkflow(
        orchestrator_pb2.WatchWorkflowRequest(instance_id=impact_id), timeout=60
    ):
        progress = reply.instance.progress
        assert reply.instance.status == orchestrator_pb2.RUN_STATUS_RUNNING, "finished before it could be killed"
        if 0 < progress.items_done < POPULATION:
            break
    process.kill()


def _finished(
    credentials: Credentials, process: OrchestratorProcess, instance_id: str
) -> orchestrator_pb2.WorkflowInstance:
    """The run once it has ended, wherever it ran: the watch stream ends with it."""
    replies = list(
        _stub(credentials, process).WatchWorkflow(
            orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id), timeout=60
        )
    )
    return replies[-1].instance


def _assert_one_success_per_step(
    credentials: Credentials, audit_target: str, instances: list[orchestrator_pb2.WorkflowInstance]
) -> None:
    audit = _audit_stub(credentials, audit_target)
    for instance in instances:
        entries = audit.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance.instance_id)).entries
        successes = Counter(e.record.step_index for e in entries if e.record.status == audit_pb2.STEP_STATUS_SUCCESS)
        assert successes == Counter(range(STEPS[instance.template_id])), (instance.instance_id, successes)


def _report(instance: orchestrator_pb2.WorkflowInstance) -> dict[str, Any]:
    report = dict(json.loads(instance.outputs_json)["impact_report"])
    report.pop("instance_id")
    return report


def _uninterrupted_report(credentials: Credentials, process: OrchestratorProcess) -> dict[str, Any]:
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id="impact_analysis", inputs_json=json.dumps(IMPACT))
    instance = _stub(credentials, process).ExecuteWorkflow(request, timeout=60).instance
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, instance.error
    return _report(instance)


def test_runs_cut_off_by_kill_9_complete_when_the_orchestrator_is_started_again(
    environment: dict[str, str], crash_audit: str, processes: list[OrchestratorProcess], credentials: Credentials
) -> None:
    first = OrchestratorProcess(**environment)
    processes.append(first)
    early = _checks(_stub(credentials, first), 1, 20)
    impact_id = _start(_stub(credentials, first), "impact_analysis", IMPACT)
    late = _checks(_stub(credentials, first), 500, 20)  # running beside the analysis when it is killed
    _kill_during_the_fan_out(credentials, first, impact_id)

    again = OrchestratorProcess(**environment)
    processes.append(again)
    finished = [_finished(credentials, again, instance_id) for instance_id in [impact_id, *early, *late]]

    assert [(i.status, i.error) for i in finished] == [(orchestrator_pb2.RUN_STATUS_COMPLETED, "")] * len(finished)
    assert {line["instance_id"] for line in again.logged("run resumed")} >= {impact_id}
    assert _report(finished[0]) == _uninterrupted_report(credentials, again)
    _assert_one_success_per_step(credentials, crash_audit, finished)


def test_the_runs_of_a_killed_replica_are_taken_over_by_the_other(
    environment: dict[str, str], crash_audit: str, processes: list[OrchestratorProcess], credentials: Credentials
) -> None:
    doomed, survivor = OrchestratorProcess(**environment), OrchestratorProcess(**environment)
    processes += [doomed, survivor]
    checks = _checks(_stub(credentials, doomed), 1000, 10)
    impact_id = _start(_stub(credentials, doomed), "impact_analysis", IMPACT)
    checks += _checks(_stub(credentials, doomed), 2000, 10)
    _kill_during_the_fan_out(credentials, doomed, impact_id)

    finished = [_finished(credentials, survivor, instance_id) for instance_id in [impact_id, *checks]]

    assert {i.status for i in finished} == {orchestrator_pb2.RUN_STATUS_COMPLETED}
    assert impact_id in {line["instance_id"] for line in survivor.logged("run resumed")}
    assert _report(finished[0]) == _uninterrupted_report(credentials, survivor)
    _assert_one_success_per_step(credentials, crash_audit, finished)


def test_sigterm_finishes_the_step_in_flight_and_hands_the_run_over_at_once(
    environment: dict[str, str], crash_audit: str, processes: list[OrchestratorProcess], credentials: Credentials
) -> None:
    # Leases that would take a minute to run out: the other replica resumes the run only because it was released.
    slow_leases = {**environment, "RUN_LEASE_SECONDS": "60", "LEASE_HEARTBEAT_SECONDS": "5"}
    leaving, staying = OrchestratorProcess(**slow_leases), OrchestratorProcess(**slow_leases)
    processes += [leaving, staying]
    impact_id = _start(_stub(credentials, leaving), "impact_analysis", IMPACT)
    for reply in _stub(credentials, leaving).WatchWorkflow(
        orchestrator_pb2.WatchWorkflowRequest(instance_id=impact_id), timeout=60
    ):
        if reply.instance.progress.items_done > 0:
            break

    assert leaving.terminate() == 0
    finished = _finished(credentials, staying, impact_id)

    assert finished.status == orchestrator_pb2.RUN_STATUS_COMPLETED, finished.error
    [stopped] = leaving.logged("stopped driving runs")
    assert stopped["handed_over"] == [impact_id]
    assert impact_id in {line["instance_id"] for line in staying.logged("run resumed")}
    # The step in flight finished before the hand-over: the survivor did not evaluate the population again.
    audit = _audit_stub(credentials, crash_audit)
    entries = audit.ListEntries(audit_pb2.ListEntriesRequest(instance_id=impact_id)).entries
    assert [(e.record.step_name, e.record.attempt) for e in entries if e.record.step_index == 4] == [
        ("evaluate_population", 1)
    ]
    _assert_one_success_per_step(credentials, crash_audit, [finished])
