"""Recovery never adopts a forged output: a run resumed with a forged audit success for a step it has still to
run re-runs that step under a new attempt number, completes with the right result, and logs the problem.

The forged success is planted by a superuser without a writer (AppendEntries admits the orchestrator alone), or
appended as the orchestrator's identity with an input the run never produced. A run is left either as the
durable-run tests leave one (a dead replica's records, its lease then run out) or by a real `kill -9`. Each test
has a database and a log of its own.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from audit_service.config import AuditSettings
from civicflow.auth.access import ServiceIdentity
from civicflow.database import create_engine
from civicflow.rules.document import rule_hash
from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from orchestrator.citizens import mock_citizen
from orchestrator.config import OrchestratorSettings
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal
from tests.support.audit_records import plant
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.eligibility_oracle import SCHEME_RULES, expected_decision
from tests.support.orchestrators import OrchestratorProcess, wait_until
from tests.support.stacks import OwnStack, audit_service_on, own_stack

SCHEME = "scheme_alpha"
_SEED = json.loads((REPO_ROOT / "schemes" / f"{SCHEME}.json").read_text())
# fetch_scheme_rules' output for the seeded version 1 (the pinned shape of `rules`).
RULES = {
    "scheme_name": SCHEME,
    "version": 1,
    "status": "published",
    "effective_from": _SEED["effective_from"],
    "rule_hash": rule_hash(_SEED["document"]),
    "document": _SEED["document"],
}
EVALUATE_RULES = 2
ACTOR = "clerk-3"
DEAD_REPLICA = "dead-replica"
# A citizen whose evaluation the evaluator holds back once, long enough to kill the orchestrator meanwhile.
HELD = "CIT-0000733"

# How a forger gets a success in: planted without a writer, or appended as the orchestrator (which the
# audit service admits) with the evaluation of someone else. Either is handed the record to forge.
Forger = Callable[[Credentials, SetUpDatabase, str, audit_pb2.AuditRecord], None]


def _plant_without_a_writer(
    credentials: Credentials, database: SetUpDatabase, audit_target: str, forged: audit_pb2.AuditRecord
) -> None:
    plant(database.admin_url, forged, writer="")


def _append_as_the_orchestrator_for_someone_else(
    credentials: Credentials, database: SetUpDatabase, audit_target: str, forged: audit_pb2.AuditRecord
) -> None:
    forged.input_json = json.dumps({"citizen": mock_citizen("CIT-0000999").to_json(), "rules": RULES})
    _audit_stub(credentials, audit_target).AppendEntries(audit_pb2.AppendEntriesRequest(records=[forged]), timeout=10)


FORGERS = {
    "planted without a writer": (
        _plant_without_a_writer,
        "was appended by an unidentified writer, not the orchestrator",
    ),
    "the orchestrator's identity with another input": (
        _append_as_the_orchestrator_for_someone_else,
        "consumed another input than the run's earlier steps produced",
    ),
}


def honest_decision(citizen_id: str) -> str:
    return expected_decision(mock_citizen(citizen_id).to_json(), SCHEME_RULES[SCHEME])


def attempt(step_index: int, name: str, step_input: Any, output: Any, *, number: int = 1) -> StepAttempt:
    moment = datetime.now(UTC)
    return StepAttempt(step_index, name, number, moment, moment, step_input, output)


def done_before_evaluation(citizen_id: str) -> list[StepAttempt]:
    """What a run has recorded when it stops before evaluate_rules: the citizen and the rules fetched."""
    return [
        attempt(0, "fetch_citizen", {"citizen_id": citizen_id}, {"citizen": mock_citizen(citizen_id).to_json()}),
        attempt(1, "fetch_scheme_rules", {"scheme_name": SCHEME}, {"rules": RULES}),
    ]


def forged_evaluation(instance_id: str, citizen_id: str, *, step_index: int = EVALUATE_RULES) -> audit_pb2.AuditRecord:
    """A success of evaluate_rules, attempt 1, for this run's own citizen and rules, with the verdict turned."""
    turned = "NOT_ELIGIBLE" if honest_decision(citizen_id) != "NOT_ELIGIBLE" else "ELIGIBLE"
    evaluation = {"decision": turned, "reasons": [{"criterion": "override", "passed": True, "detail": "supervisor"}]}
    forged = attempt(
        step_index,
        "evaluate_rules",
        {"citizen": mock_citizen(citizen_id).to_json(), "rules": RULES},
        {"evaluation": evaluation},
    )
    return forged.audit_record(uuid.UUID(instance_id), actor=ACTOR)


def _audit_stub(credentials: Credentials, audit_target: str) -> audit_pb2_grpc.AuditServiceStub:
    server, orchestrator = ServiceIdentity.AUDIT_SERVICE, ServiceIdentity.ORCHESTRATOR
    return audit_pb2_grpc.AuditServiceStub(credentials.channel(audit_target, server=server, as_=orchestrator))


def _finished(credentials: Credentials, target: str, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    with credentials.orchestrator_channel(target) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        request = orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id)
        return list(stub.WatchWorkflow(request, timeout=60))[-1].instance


def assert_completed_honestly(
    credentials: Credentials, audit_target: str, run: orchestrator_pb2.WorkflowInstance, forged: audit_pb2.AuditRecord
) -> None:
    """The run's own evaluation, as attempt 2, decided it; the forged entry stays, alone, as attempt 1."""
    assert run.status == orchestrator_pb2.RUN_STATUS_COMPLETED, run.error
    citizen_id = json.loads(run.inputs_json)["citizen_id"]
    assert json.loads(run.outputs_json)["decision"]["decision"] == honest_decision(citizen_id)
    entries = (
        _audit_stub(credentials, audit_target)
        .ListEntries(audit_pb2.ListEntriesRequest(instance_id=run.instance_id), timeout=10)
        .entries
    )
    evaluations = {entry.record.attempt: entry for entry in entries if entry.record.step_index == EVALUATE_RULES}
    assert sorted(evaluations) == [1, 2]
    assert evaluations[1].record == forged
    assert (evaluations[2].record.status, evaluations[2].writer) == (audit_pb2.STEP_STATUS_SUCCESS, "orchestrator")
    successes = [e.record.step_index for e in entries if e.record.status == audit_pb2.STEP_STATUS_SUCCESS]
    assert sorted(successes) == [0, 1, 2, 2, 3]


def journalled_attempts(database: SetUpDatabase, instance_id: str) -> list[tuple[int, int]]:
    engine = sa.create_engine(database.admin_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT step_index, attempt FROM orchestrator.workflow_steps WHERE instance_id = :id"
                    " ORDER BY step_index, attempt"
                ),
                {"id": instance_id},
            ).all()
    finally:
        engine.dispose()
    return [(row.step_index, row.attempt) for row in rows]


@pytest.fixture
def stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
) -> Iterator[OwnStack]:
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="civicflow_forged_recovery",
    ) as stack:
        yield stack


def left_by_a_dead_replica(credentials: Credentials, stack: OwnStack, citizen_id: str, recorded: int) -> str:
    """A run a replica died in: its first `recorded` steps journalled and audited, its lease still running."""
    engine = create_engine(stack.database.accounts.orchestrator, application_name="dead-replica", autocommit=True)
    try:
        instance, _ = InstanceStore(engine).create(
            NewRun(
                template_id="eligibility_check",
                template_version="1.0.0",
                inputs={"citizen_id": citizen_id, "scheme_name": SCHEME},
                steps_total=4,
                actor=ACTOR,
            ),
            owner=DEAD_REPLICA,
            lease_seconds=3600,
        )
        attempts = done_before_evaluation(citizen_id)[:recorded]
        StepJournal(engine).record(
            instance.instance_id,
            owner=DEAD_REPLICA,
            attempts=attempts,
            progress=RunProgress(steps_completed=recorded, steps_total=4),
            lease_seconds=3600,
        )
    finally:
        engine.dispose()
    if attempts:
        records = [step.audit_record(instance.instance_id, actor=ACTOR) for step in attempts]
        _audit_stub(credentials, stack.audit_target).AppendEntries(
            audit_pb2.AppendEntriesRequest(records=records), timeout=10
        )
    return str(instance.instance_id)


def run_out_the_lease(stack: OwnStack, instance_id: str) -> None:
    engine = sa.create_engine(stack.database.admin_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE orchestrator.workflow_instances SET lease_expires_at = now() WHERE instance_id = :id"),
                {"id": instance_id},
            )
    finally:
        engine.dispose()


def untrusted_entries_logged(caplog: pytest.LogCaptureFixture, instance_id: str) -> list[str]:
    return [
        str(getattr(line, "problem", ""))
        for line in caplog.records
        if line.getMessage() == "untrusted audit entry not adopted" and getattr(line, "instance_id", "") == instance_id
    ]


@pytest.mark.parametrize("forger", FORGERS, ids=list(FORGERS))
def test_a_resumed_run_does_not_adopt_a_forged_success_of_its_next_step(
    forger: str, credentials: Credentials, stack: OwnStack, caplog: pytest.LogCaptureFixture
) -> None:
    forge, problem = FORGERS[forger]
    citizen_id = "CIT-0000711"
    instance_id = left_by_a_dead_replica(credentials, stack, citizen_id, recorded=2)
    forged = forged_evaluation(instance_id, citizen_id)
    forge(credentials, stack.database, stack.audit_target, forged)

    with caplog.at_level(logging.WARNING, logger="orchestrator.runs.recovery"):
        run_out_the_lease(stack, instance_id)
        run = _finished(credentials, stack.orchestrator_target, instance_id)

    assert_completed_honestly(credentials, stack.audit_target, run, forged)
    assert journalled_attempts(stack.database, instance_id) == [(0, 1), (1, 1), (2, 2), (3, 1)]
    [logged] = untrusted_entries_logged(caplog, instance_id)
    assert problem in logged and "'evaluate_rules'" in logged


def test_a_resumed_run_numbers_a_later_step_after_a_forged_entry_of_that_step(
    credentials: Credentials, stack: OwnStack, caplog: pytest.LogCaptureFixture
) -> None:
    """The run resumes at fetch_scheme_rules; the forged evaluation already holds evaluate_rules' first key."""
    citizen_id = "CIT-0000712"
    instance_id = left_by_a_dead_replica(credentials, stack, citizen_id, recorded=1)
    forged = forged_evaluation(instance_id, citizen_id)
    plant(stack.database.admin_url, forged, writer="")

    with caplog.at_level(logging.WARNING, logger="orchestrator.runs.recovery"):
        run_out_the_lease(stack, instance_id)
        run = _finished(credentials, stack.orchestrator_target, instance_id)

    assert_completed_honestly(credentials, stack.audit_target, run, forged)
    assert journalled_attempts(stack.database, instance_id) == [(0, 1), (1, 1), (2, 2), (3, 1)]
    assert len(untrusted_entries_logged(caplog, instance_id)) == 1


@pytest.fixture
def killing_ground(
    postgres_server_url: str, background_loop: BackgroundLoop, audit_settings: AuditSettings, credentials: Credentials
) -> Iterator[tuple[SetUpDatabase, str, dict[str, str]]]:
    """A database and log of their own, an evaluator holding back HELD's first evaluation for 4 s, and the
    environment of `python -m orchestrator` processes using them."""
    evaluator_settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({HELD}),
        evaluator_stall_seconds=4.0,
        evaluator_fault_times=1,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with (
        set_up_database(postgres_server_url, name_prefix="civicflow_forged_kill") as database,
        audit_service_on(background_loop, audit_settings, database) as audit_target,
        serve_on_loopback(background_loop, start_evaluator(evaluator_settings), grace=0) as evaluator_target,
    ):
        yield (
            database,
            audit_target,
            {
                **credentials.environment(ServiceIdentity.ORCHESTRATOR),
                "DATABASE_URL": database.accounts.orchestrator,
                "EVALUATOR_TARGET": evaluator_target,
                "AUDIT_TARGET": audit_target,
                "RUN_LEASE_SECONDS": "1.5",
                "LEASE_HEARTBEAT_SECONDS": "0.3",
                "RESUME_SCAN_SECONDS": "0.2",
                "WATCH_POLL_SECONDS": "0.05",
            },
        )


@pytest.mark.parametrize("forger", FORGERS, ids=list(FORGERS))
def test_an_orchestrator_killed_mid_step_resumes_past_a_forged_success_under_that_steps_key(
    forger: str, credentials: Credentials, killing_ground: tuple[SetUpDatabase, str, dict[str, str]]
) -> None:
    """Killed while evaluate_rules' first attempt waits on the evaluator: that attempt left no record, and a
    forger takes its key before the orchestrator is started again."""
    forge, problem = FORGERS[forger]
    database, audit_target, environment = killing_ground
    processes: list[OrchestratorProcess] = []
    try:
        processes.append(first := OrchestratorProcess(**environment))
        with credentials.orchestrator_channel(first.target) as channel:
            instance_id = str(
                orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
                .ExecuteWorkflow(
                    orchestrator_pb2.ExecuteWorkflowRequest(
                        template_id="eligibility_check",
                        inputs_json=json.dumps({"citizen_id": HELD, "scheme_name": SCHEME}),
                        mode=orchestrator_pb2.EXECUTION_MODE_ASYNC,
                    ),
                    timeout=10,
                )
                .instance.instance_id
            )
        wait_until(
            lambda: journalled_attempts(database, instance_id) == [(0, 1), (1, 1)],
            timeout=3,
            what="the citizen and the rules to be journalled while the evaluation is held back",
        )
        first.kill()
        forged = forged_evaluation(instance_id, HELD)
        forge(credentials, database, audit_target, forged)

        processes.append(again := OrchestratorProcess(**environment))
        run = _finished(credentials, again.target, instance_id)
    finally:
        for process in processes:
            process.close()

    assert_completed_honestly(credentials, audit_target, run, forged)
    assert journalled_attempts(database, instance_id) == [(0, 1), (1, 1), (2, 2), (3, 1)]
    [logged] = [
        line for line in again.logged("untrusted audit entry not adopted") if line["instance_id"] == instance_id
    ]
    assert problem in logged["problem"]
    [resumed] = [line for line in again.logged("run resumed") if line["instance_id"] == instance_id]
    assert (resumed["next_step"], resumed["untrusted_entries"], resumed["adopted_from_audit"]) == (2, 1, 0)
