"""Outages heal without a person: an audit service or an evaluator killed with SIGKILL mid-analysis and started
again a second later fails no run, which completes as an uninterrupted one with one success entry per step;
requests that come while the audit service is down are refused and create nothing. And no run is left behind:
an unexpected error ends a run `failed` and audited, a run that cannot be resumed ends `failed` after a bounded
number of takeovers, and a watch of it ends with it.

The audit service and the evaluator are real processes on fixed ports, so that they can be killed and come back
on the same address, as the launcher restarts them; each test has a database of its own.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.orchestrators import replica_settings, serving, wait_until
from tests.support.rest_api import RestApi
from tests.support.seeded_schemes import shipped_template_version
from tests.support.service_processes import ServiceProcess, audit_process, evaluator_process

POPULATION = 200_000
IMPACT = {"scheme_name": "scheme_beta", "population_size": POPULATION, "proposed_rules": {"min_age": 25}}
ELIGIBILITY = {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"}
STEPS = {"impact_analysis": 6, "eligibility_check": 4}
# Its batch is held back for a second, so that the analysis is surely still evaluating when a service is killed.
STALLED_CITIZEN = "CIT-0100000"


@pytest.fixture
def own_database(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    with set_up_database(postgres_server_url, name_prefix="civicflow_outage") as database:
        yield database


@pytest.fixture
def audit(own_database: SetUpDatabase, credentials: Credentials, tmp_path: Path) -> Iterator[ServiceProcess]:
    process = audit_process(credentials, database_url=own_database.accounts.audit, key_path=tmp_path / "audit.pem")
    yield process
    process.close()


@pytest.fixture
def stalling_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({STALLED_CITIZEN}),
        evaluator_stall_seconds=1.0,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start_evaluator(settings), grace=0) as target:
        yield target


def _stub(credentials: Credentials, target: str) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(target, role=Role.ADMIN))


def _start(stub: Any, template_id: str, inputs: dict[str, Any]) -> str:
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id=template_id, inputs_json=json.dumps(inputs), mode=orchestrator_pb2.EXECUTION_MODE_ASYNC
    )
    return str(stub.ExecuteWorkflow(request, timeout=30).instance.instance_id)


def _get(stub: Any, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    return stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id), timeout=10).instance


def _finished(stub: Any, instance_id: str, timeout: float = 120) -> orchestrator_pb2.WorkflowInstance:
    replies = list(stub.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id), timeout=timeout))
    return replies[-1].instance


def _evaluating(stub: Any, instance_id: str) -> None:
    """Returns once the analysis has evaluated some citizens and not all of them."""
    for reply in stub.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id), timeout=60):
        assert reply.instance.status == orchestrator_pb2.RUN_STATUS_RUNNING, reply.instance.error
        if 0 < reply.instance.progress.items_done < POPULATION:
            return
    raise AssertionError("the analysis ended before it was seen evaluating")


def _report(instance: orchestrator_pb2.WorkflowInstance) -> dict[str, Any]:
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, instance.error
    report = dict(json.loads(instance.outputs_json)["impact_report"])
    report.pop("instance_id")
    return report


def _trail(credentials: Credentials, audit_target: str, instance_id: str) -> list[audit_pb2.AuditRecord]:
    channel = credentials.channel(audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)
    with channel:
        entries = audit_pb2_grpc.AuditServiceStub(channel).ListEntries(
            audit_pb2.ListEntriesRequest(instance_id=instance_id), timeout=10
        )
    return [entry.record for entry in entries.entries]


def _assert_one_success_per_step(
    credentials: Credentials, audit_target: str, instances: list[orchestrator_pb2.WorkflowInstance]
) -> None:
    for instance in instances:
        trail = _trail(credentials, audit_target, instance.instance_id)
        successes = Counter(r.step_index for r in trail if r.status == audit_pb2.STEP_STATUS_SUCCESS)
        assert successes == Counter(range(STEPS[instance.template_id])), (instance.instance_id, successes)


def _instances(database: SetUpDatabase) -> int:
    engine = sa.create_engine(database.admin_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one())
    finally:
        engine.dispose()


def test_an_audit_service_killed_mid_analysis_and_started_again_fails_no_run(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    own_database: SetUpDatabase,
    audit: ServiceProcess,
    stalling_evaluator: str,
    credentials: Credentials,
) -> None:
    settings = replica_settings(
        orchestrator_settings,
        database_url=own_database.accounts.orchestrator,
        audit_target=audit.target,
        evaluator_target=stalling_evaluator,
    )
    with serving(background_loop, settings) as target:
        stub = _stub(credentials, target)
        impact_id = _start(stub, "impact_analysis", IMPACT)
        _evaluating(stub, impact_id)
        audit.kill()
        # Held until the analysis has evaluated everyone and waits to record it: the outage is surely in its way.
        wait_until(lambda: _get(stub, impact_id).progress.steps_completed >= 5, timeout=60, what="the evaluation's end")
        time.sleep(1.0)
        before = _instances(own_database)
        with pytest.raises(grpc.RpcError) as refused:
            _start(stub, "eligibility_check", ELIGIBILITY)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert refused.value.details() == "the audit service is unavailable; send the request again"
        assert _instances(own_database) == before, "a refused request created a run"
        assert _get(stub, impact_id).status == orchestrator_pb2.RUN_STATUS_RUNNING
        audit.start()

        finished = _finished(stub, impact_id)
        uninterrupted = _finished(stub, _start(stub, "impact_analysis", IMPACT))
        check = _finished(stub, _start(stub, "eligibility_check", ELIGIBILITY))

    assert _report(finished) == _report(uninterrupted)
    assert check.status == orchestrator_pb2.RUN_STATUS_COMPLETED
    _assert_one_success_per_step(credentials, audit.target, [finished, uninterrupted, check])


def test_an_evaluator_killed_mid_analysis_and_started_again_fails_no_run_and_spends_no_attempt(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    own_database: SetUpDatabase,
    audit: ServiceProcess,
    credentials: Credentials,
) -> None:
    evaluator = evaluator_process(
        credentials, evaluator_stall_citizens=STALLED_CITIZEN, evaluator_stall_seconds=1.0, evaluator_fault_times=1
    )
    settings = replica_settings(
        orchestrator_settings,
        database_url=own_database.accounts.orchestrator,
        audit_target=audit.target,
        evaluator_target=evaluator.target,
    )
    try:
        with serving(background_loop, settings) as target:
            stub = _stub(credentials, target)
            impact_id = _start(stub, "impact_analysis", IMPACT)
            _evaluating(stub, impact_id)
            evaluator.kill()
            # Sent while the evaluator is down: the retries of its step outlast the restart.
            check_id = _start(stub, "eligibility_check", ELIGIBILITY)
            time.sleep(1.0)
            evaluator.start()

            finished = [_finished(stub, impact_id), _finished(stub, check_id)]
            uninterrupted = _finished(stub, _start(stub, "impact_analysis", IMPACT))
    finally:
        evaluator.close()

    assert [(i.status, i.error) for i in finished] == [(orchestrator_pb2.RUN_STATUS_COMPLETED, "")] * 2
    assert _report(finished[0]) == _report(uninterrupted)
    _assert_one_success_per_step(credentials, audit.target, [*finished, uninterrupted])
    # The outage cost no attempt: one of each step, whatever the policy allowed.
    for instance in finished:
        trail = _trail(credentials, audit.target, instance.instance_id)
        assert {r.attempt for r in trail} == {1}, [(r.step_name, r.attempt, r.error) for r in trail]


# Raised for one citizen's last step when its attempts are journalled: a defect nothing expected (SQLSTATE 22000 is
# a data exception, as PostgreSQL raises for text it cannot store), met when the run is being ended.
_PLANTED_DEFECT = """
    CREATE FUNCTION public.planted_defect() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.step_name = 'make_decision' AND NEW.input::text LIKE '%CIT-0000666%' THEN
            RAISE EXCEPTION 'planted defect' USING ERRCODE = '22000';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER planted_defect BEFORE INSERT ON orchestrator.workflow_steps
        FOR EACH ROW EXECUTE FUNCTION public.planted_defect();
"""


def test_a_run_whose_end_raises_unexpectedly_ends_failed_and_audited_with_an_error_id_the_log_holds(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    own_database: SetUpDatabase,
    audit: ServiceProcess,
    credentials: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = sa.create_engine(own_database.admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(_PLANTED_DEFECT))
    engine.dispose()
    settings = replica_settings(
        orchestrator_settings, database_url=own_database.accounts.orchestrator, audit_target=audit.target
    )
    caplog.set_level(logging.ERROR, logger="orchestrator.runs.runner")
    with serving(background_loop, settings) as target:
        stub = _stub(credentials, target)
        request = orchestrator_pb2.ExecuteWorkflowRequest(
            template_id="eligibility_check",
            inputs_json=json.dumps({"citizen_id": "CIT-0000666", "scheme_name": "scheme_alpha"}),
        )
        run = stub.ExecuteWorkflow(request, timeout=30).instance
        stored = _get(stub, run.instance_id)

    assert run.status == stored.status == orchestrator_pb2.RUN_STATUS_FAILED
    [logged] = [r for r in caplog.records if r.getMessage() == "run failed unexpectedly"]
    error_id = str(getattr(logged, "error_id", ""))
    assert (
        run.error == f"step 'make_decision' failed: internal error (error id {error_id}; the orchestrator log has it)"
    )
    assert logged.exc_info is not None and "planted defect" in str(logged.exc_info[1])
    trail = _trail(credentials, audit.target, run.instance_id)
    assert [(r.step_name, r.attempt, r.status) for r in trail][-1] == (
        "make_decision",
        2,
        audit_pb2.STEP_STATUS_FAILED,
    )
    assert trail[-1].error == run.error
    assert "planted" not in trail[-1].error and "psycopg2" not in trail[-1].error


def _plant_a_run_that_cannot_be_resumed(database: SetUpDatabase) -> str:
    """A running eligibility check whose lease ran out, with a journalled success whose output is not a document:
    resuming it raises, every time."""
    instance_id = str(uuid.uuid4())
    engine = sa.create_engine(database.admin_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status,"
                " inputs, created_at, actor, steps_total, owner, lease_expires_at)"
                " VALUES (:id, 'eligibility_check', :version, 'running', CAST(:inputs AS json), now(), 'test', 4,"
                " 'a-replica-long-gone', now() - interval '1 minute')"
            ),
            {
                "id": instance_id,
                "version": shipped_template_version("eligibility_check"),
                "inputs": json.dumps(ELIGIBILITY),
            },
        )
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_steps (instance_id, step_index, attempt, step_name, succeeded,"
                " error_kind, error, input, output, started_at, completed_at)"
                " VALUES (:id, 0, 1, 'fetch_citizen', true, NULL, '', CAST(:input AS json), '42', now(), now())"
            ),
            {"id": instance_id, "input": json.dumps({"citizen_id": ELIGIBILITY["citizen_id"]})},
        )
    engine.dispose()
    return instance_id


def test_a_run_that_cannot_be_resumed_is_failed_after_a_bounded_number_of_takeovers_and_its_events_end(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    own_database: SetUpDatabase,
    audit: ServiceProcess,
    credentials: Credentials,
    gateway_settings: GatewaySettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance_id = _plant_a_run_that_cannot_be_resumed(own_database)
    settings = replica_settings(
        orchestrator_settings,
        database_url=own_database.accounts.orchestrator,
        audit_target=audit.target,
        run_lease_seconds=0.6,
        lease_heartbeat_seconds=0.2,
        max_resume_attempts=3,
    )
    caplog.set_level(logging.INFO, logger="orchestrator.runs.replica")
    with serving(background_loop, settings) as target:
        gateway = gateway_settings.model_copy(update={"orchestrator_target": target})
        with TestClient(create_app(gateway)) as client:
            api = RestApi.acting_as(client, credentials, Role.ADMIN)
            started = time.monotonic()
            # Followed from before it is resumed: the events stream ends with the run, failed.
            with api.stream("GET", f"/workflows/{instance_id}/events") as response:
                lines = list(response.iter_lines())
            waited = time.monotonic() - started
        finished = _finished(_stub(credentials, target), instance_id, timeout=60)

    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert not [line for line in lines if line.startswith("event:")], lines  # no error event: it just ended
    assert events[0]["status"] == "running" and events[-1]["status"] == "failed"
    assert finished.status == orchestrator_pb2.RUN_STATUS_FAILED
    assert finished.error == events[-1]["error"]
    assert finished.error == "the run could not be resumed: it was taken over 3 times without finishing a step"
    resumes = [r for r in caplog.records if r.getMessage() == "run could not be resumed"]
    assert len(resumes) == 3
    assert waited < 30
