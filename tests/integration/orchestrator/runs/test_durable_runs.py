"""Durable runs on real servers: async runs watched to their end, every attempt journalled and audited once,
a run left by a dead replica resumed after its last recorded step, retries and timeouts per step policy."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.citizens import mock_citizen
from orchestrator.config import OrchestratorSettings
from orchestrator.runs.step_attempts import StepAttempt
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.orchestrators import replica_settings, serving, wait_until
from tests.support.seeded_schemes import seeded_rules, shipped_template_version

ELIGIBILITY = {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"}


def _stub(
    credentials: Credentials, target: str, token: str | None = None
) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    """The orchestrator as a caseworker calls it: the tests' usual one, or the one whose `token` is given."""
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(target, token=token))


def _execute(stub: Any, template_id: str, inputs: dict[str, Any], **fields: Any) -> orchestrator_pb2.WorkflowInstance:
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id=template_id, inputs_json=json.dumps(inputs), **fields)
    return stub.ExecuteWorkflow(request).instance


def _audit_stub(credentials: Credentials, audit_target: str) -> audit_pb2_grpc.AuditServiceStub:
    """The audit service as the orchestrator calls it, with the orchestrator's certificate."""
    channel = credentials.channel(audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)
    return audit_pb2_grpc.AuditServiceStub(channel)


def _audit(credentials: Credentials, audit_target: str, instance_id: str) -> list[audit_pb2.AuditRecord]:
    stub = _audit_stub(credentials, audit_target)
    return [entry.record for entry in stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance_id)).entries]


def _successes_per_step(records: list[audit_pb2.AuditRecord]) -> Counter[int]:
    return Counter(record.step_index for record in records if record.status == audit_pb2.STEP_STATUS_SUCCESS)


@pytest.fixture(scope="module")
def fast_replica(background_loop: BackgroundLoop, orchestrator_settings: OrchestratorSettings) -> Iterator[str]:
    """A second replica on the session's database that resumes expired runs within a fifth of a second."""
    with serving(background_loop, replica_settings(orchestrator_settings)) as target:
        yield target


def test_an_async_run_answers_running_at_once_and_its_watch_ends_with_the_finished_run(
    credentials: Credentials, orchestrator_target: str
) -> None:
    stub = _stub(credentials, orchestrator_target)
    started = _execute(stub, "eligibility_check", ELIGIBILITY, mode=orchestrator_pb2.EXECUTION_MODE_ASYNC)
    assert started.status == orchestrator_pb2.RUN_STATUS_RUNNING
    assert started.outputs_json == "{}"

    snapshots = [
        r.instance for r in stub.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=started.instance_id))
    ]

    assert snapshots[-1].status == orchestrator_pb2.RUN_STATUS_COMPLETED
    assert all(s.status == orchestrator_pb2.RUN_STATUS_RUNNING for s in snapshots[:-1])
    steps = [s.progress.steps_completed for s in snapshots]
    assert steps == sorted(steps) and steps[-1] == snapshots[-1].progress.steps_total == 4
    assert json.loads(snapshots[-1].outputs_json)["decision"]["citizen_id"] == "CIT-0000042"


def test_watching_an_unknown_instance_is_not_found(credentials: Credentials, orchestrator_target: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        list(
            _stub(credentials, orchestrator_target).WatchWorkflow(
                orchestrator_pb2.WatchWorkflowRequest(instance_id=str(uuid.uuid4()))
            )
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_every_attempt_is_journalled_as_audited_with_the_actor(
    credentials: Credentials, orchestrator_target: str, audit_target: str, owner: sa.Engine
) -> None:
    clerk = credentials.issue("clerk-17", Role.CASEWORKER)
    run = _execute(_stub(credentials, orchestrator_target, clerk), "eligibility_check", ELIGIBILITY)
    assert run.status == orchestrator_pb2.RUN_STATUS_COMPLETED

    audited = _audit(credentials, audit_target, run.instance_id)
    with owner.connect() as connection:
        journalled = connection.execute(
            sa.text("SELECT * FROM orchestrator.workflow_steps WHERE instance_id = :id ORDER BY step_index, attempt"),
            {"id": run.instance_id},
        ).all()
        row = connection.execute(
            sa.text(
                "SELECT owner, lease_expires_at, steps_completed FROM orchestrator.workflow_instances"
                " WHERE instance_id = :id"
            ),
            {"id": run.instance_id},
        ).one()
        keys = connection.execute(
            sa.text("SELECT idempotency_key FROM audit.audit_trail WHERE instance_id = :id"), {"id": run.instance_id}
        ).scalars()

    assert [StepAttempt.from_audit(record) for record in audited] == [StepAttempt.from_journal(r) for r in journalled]
    assert _successes_per_step(audited) == {0: 1, 1: 1, 2: 1, 3: 1}
    # The actor is the subject of the token the run was started with.
    assert run.actor == "clerk-17"
    assert {record.actor for record in audited} == {"clerk-17"}
    assert set(keys) == {f"{run.instance_id}/{i}/1" for i in range(4)}
    assert (row.owner, row.lease_expires_at, row.steps_completed) == (None, None, 4)


def test_a_run_left_by_a_dead_replica_resumes_after_the_last_step_either_record_holds(
    credentials: Credentials, fast_replica: str, audit_target: str, owner: sa.Engine
) -> None:
    """The dead replica journalled step 0 but never audited it, audited step 1 but never journalled it,
    and saw attempt 1 of step 2 fail. The run must go on at step 2, attempt 2, re-running nothing."""
    instance_id = str(uuid.uuid4())
    citizen = mock_citizen("CIT-0000042").to_json()
    rules = seeded_rules("scheme_alpha")
    with owner.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances (instance_id, template_id, template_version, status,"
                " inputs, created_at, actor, steps_completed, steps_total, owner, lease_expires_at) VALUES (:id,"
                " 'eligibility_check', :version, 'running', :inputs, now(), 'clerk-3', 1, 4, 'dead-replica',"
                " now() + interval '1 hour')"
            ),
            {
                "id": instance_id,
                "version": shipped_template_version("eligibility_check"),
                "inputs": json.dumps(ELIGIBILITY),
            },
        )
        for step_index, name, attempt, succeeded, kind, output in (
            (0, "fetch_citizen", 1, True, None, {"citizen": citizen}),
            (2, "evaluate_rules", 1, False, "unavailable", {"error_kind": "unavailable"}),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO orchestrator.workflow_steps VALUES (:id, :index, :attempt, :name, :succeeded, :kind,"
                    " :error, '{}', :output, now(), now())"
                ),
                {
                    "id": instance_id,
                    "index": step_index,
                    "attempt": attempt,
                    "name": name,
                    "succeeded": succeeded,
                    "kind": kind,
                    "error": "" if succeeded else "evaluator failed: UNAVAILABLE",
                    "output": json.dumps(output),
                },
            )
    # What the dead replica, an orchestrator, had audited.
    audit = _audit_stub(credentials, audit_target)
    moment = Timestamp()
    moment.GetCurrentTime()
    audit.AppendEntries(
        audit_pb2.AppendEntriesRequest(
            records=[
                audit_pb2.AuditRecord(
                    instance_id=instance_id,
                    step_name="fetch_scheme_rules",
                    step_index=1,
                    attempt=1,
                    status=audit_pb2.STEP_STATUS_SUCCESS,
                    started_at=moment,
                    completed_at=moment,
                    input_json='{"scheme_name":"scheme_alpha"}',
                    output_json=json.dumps({"rules": rules}),
                    actor="clerk-3",
                    idempotency_key=f"{instance_id}/1/1",
                ),
                audit_pb2.AuditRecord(
                    instance_id=instance_id,
                    step_name="evaluate_rules",
                    step_index=2,
                    attempt=1,
                    status=audit_pb2.STEP_STATUS_FAILED,
                    started_at=moment,
                    completed_at=moment,
                    input_json="{}",
                    output_json='{"error_kind":"unavailable"}',
                    error="evaluator failed: UNAVAILABLE",
                    actor="clerk-3",
                    idempotency_key=f"{instance_id}/2/1",
                ),
            ]
        )
    )
    with owner.begin() as connection:  # the dead replica's lease runs out
        connection.execute(
            sa.text("UPDATE orchestrator.workflow_instances SET lease_expires_at = now() WHERE instance_id = :id"),
            {"id": instance_id},
        )
    stub = _stub(credentials, fast_replica)

    def finished() -> bool:
        instance = stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id)).instance
        return instance.status != orchestrator_pb2.RUN_STATUS_RUNNING

    wait_until(finished, timeout=15, what="the run to be resumed and finished")
    instance = stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id)).instance
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, instance.error
    assert json.loads(instance.outputs_json)["decision"]["citizen_id"] == "CIT-0000042"

    records = _audit(credentials, audit_target, instance_id)
    assert _successes_per_step(records) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert [(r.step_index, r.attempt, r.status) for r in records if r.step_index == 2] == [
        (2, 1, audit_pb2.STEP_STATUS_FAILED),
        (2, 2, audit_pb2.STEP_STATUS_SUCCESS),
    ]
    assert {record.actor for record in records} == {"clerk-3"}
    with owner.connect() as connection:
        journalled = connection.execute(
            sa.text(
                "SELECT step_index, attempt FROM orchestrator.workflow_steps WHERE instance_id = :id"
                " ORDER BY step_index, attempt"
            ),
            {"id": instance_id},
        ).all()
    assert [tuple(row) for row in journalled] == [(0, 1), (1, 1), (2, 1), (2, 2), (3, 1)]


def test_an_unreachable_evaluator_is_waited_for_without_spending_attempts_then_fails_the_run_naming_it(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    credentials: Credentials,
    audit_target: str,
) -> None:
    settings = replica_settings(orchestrator_settings, evaluator_target="127.0.0.1:1", dependency_outage_seconds=2)
    with serving(background_loop, settings) as target:
        started = time.monotonic()
        run = _execute(_stub(credentials, target), "eligibility_check", ELIGIBILITY)
        waited = time.monotonic() - started

    assert run.status == orchestrator_pb2.RUN_STATUS_FAILED
    assert run.error == (
        "step 'evaluate_rules' failed: the evaluator could not be reached for 2 s (DEPENDENCY_OUTAGE_SECONDS)"
    )
    assert 1.5 <= waited < 10
    # One attempt, however often it was tried while the evaluator was down: the policy's six were not spent.
    attempts = [r for r in _audit(credentials, audit_target, run.instance_id) if r.step_name == "evaluate_rules"]
    assert [(r.attempt, r.status) for r in attempts] == [(1, audit_pb2.STEP_STATUS_FAILED)]
    assert json.loads(attempts[0].output_json)["error_kind"] == "unavailable"


@pytest.fixture(scope="module")
def impatient_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped templates, with evaluate_rules timing out after 0.3 s; a copy of eligibility_check tries twice."""
    directory = tmp_path_factory.mktemp("templates")
    for path in (REPO_ROOT / "templates").glob("*.json"):
        shutil.copy(path, directory)
    document = json.loads((directory / "eligibility_check.json").read_text())
    document["steps"][2]["timeout_seconds"] = 0.3
    # Other content is another version: the session's database has the shipped one under the shipped number.
    document["version"] += "-impatient"
    (directory / "eligibility_check.json").write_text(json.dumps(document))
    document["template_id"] = "eligibility_check_twice"
    document["steps"][2]["retry"]["max_attempts"] = 2
    (directory / "eligibility_check_twice.json").write_text(json.dumps(document))
    return directory


@pytest.fixture(scope="module")
def stalling_stack(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    credentials: Credentials,
    impatient_templates: Path,
) -> Iterator[str]:
    """An evaluator that holds back its answer about two citizens for 5 s, twice each; an orchestrator using it."""
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    evaluator = background_loop.run(
        start(
            EvaluatorSettings(
                host="127.0.0.1",
                evaluator_port=0,
                evaluator_stall_citizens=frozenset({"CIT-STALL-1", "CIT-STALL-2"}),
                evaluator_stall_seconds=5.0,
                evaluator_fault_times=2,
                **credentials.tls_settings(ServiceIdentity.EVALUATOR),
            )
        )
    )
    settings = replica_settings(
        orchestrator_settings, evaluator_target=f"127.0.0.1:{evaluator.port}", templates_dir=impatient_templates
    )
    try:
        with serving(background_loop, settings) as target:
            yield target
    finally:
        background_loop.run(evaluator.stop(grace=0))


def test_a_stalled_evaluator_call_times_out_and_is_retried_until_it_answers(
    credentials: Credentials, stalling_stack: str, audit_target: str
) -> None:
    run = _execute(
        _stub(credentials, stalling_stack),
        "eligibility_check",
        {"citizen_id": "CIT-STALL-1", "scheme_name": "scheme_alpha"},
    )

    assert run.status == orchestrator_pb2.RUN_STATUS_COMPLETED, run.error
    attempts = [r for r in _audit(credentials, audit_target, run.instance_id) if r.step_name == "evaluate_rules"]
    assert [(r.attempt, r.status) for r in attempts] == [
        (1, audit_pb2.STEP_STATUS_FAILED),
        (2, audit_pb2.STEP_STATUS_FAILED),
        (3, audit_pb2.STEP_STATUS_SUCCESS),
    ]
    assert {r.error for r in attempts[:2]} == {"no result within the step's timeout of 0.3 s"}
    assert {json.loads(r.output_json)["error_kind"] for r in attempts[:2]} == {"timeout"}


def test_a_call_that_stalls_past_every_attempt_fails_the_run_saying_so(
    credentials: Credentials, stalling_stack: str, audit_target: str
) -> None:
    run = _execute(
        _stub(credentials, stalling_stack),
        "eligibility_check_twice",
        {"citizen_id": "CIT-STALL-2", "scheme_name": "scheme_alpha"},
    )

    assert run.status == orchestrator_pb2.RUN_STATUS_FAILED
    assert run.error == (
        "step 'evaluate_rules' failed: no result within the step's timeout of 0.3 s"
        " (after 2 attempts; no attempts left)"
    )
    attempts = [r for r in _audit(credentials, audit_target, run.instance_id) if r.step_name == "evaluate_rules"]
    assert [(r.attempt, r.status) for r in attempts] == [
        (1, audit_pb2.STEP_STATUS_FAILED),
        (2, audit_pb2.STEP_STATUS_FAILED),
    ]


def test_a_run_started_before_its_insert_records_nothing_if_the_insert_is_refused(
    credentials: Credentials, orchestrator_target: str, owner: sa.Engine
) -> None:
    """A sync eligibility check runs its pure steps while its instance row commits; no record may precede the row."""
    actor = f"refused-{uuid.uuid4()}"
    refused_token = credentials.issue(actor, Role.CASEWORKER)
    allowed_token = credentials.issue("clerk-after", Role.CASEWORKER)
    with owner.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE FUNCTION orchestrator.refuse_test_actor() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF NEW.actor = '{actor}' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
                " RETURN NEW; END $$"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TRIGGER refuse_test_actor BEFORE INSERT ON orchestrator.workflow_instances"
                " FOR EACH ROW EXECUTE FUNCTION orchestrator.refuse_test_actor()"
            )
        )
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _execute(_stub(credentials, orchestrator_target, refused_token), "eligibility_check", ELIGIBILITY)
        allowed = _execute(_stub(credentials, orchestrator_target, allowed_token), "eligibility_check", ELIGIBILITY)
    finally:
        with owner.begin() as connection:
            connection.execute(sa.text("DROP TRIGGER refuse_test_actor ON orchestrator.workflow_instances"))
            connection.execute(sa.text("DROP FUNCTION orchestrator.refuse_test_actor()"))

    # The caller learns that it failed, and an error id to look up; not the database's words.
    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert "error id" in (refused.value.details() or "")
    assert "refused by the test" not in (refused.value.details() or "")
    with owner.connect() as connection:
        audited = connection.execute(
            sa.text("SELECT count(*) FROM audit.audit_trail WHERE actor = :actor"), {"actor": actor}
        ).scalar_one()
        journalled = connection.execute(
            sa.text(
                "SELECT count(*) FROM orchestrator.workflow_steps s JOIN orchestrator.workflow_instances i"
                " USING (instance_id) WHERE i.actor = :actor"
            ),
            {"actor": actor},
        ).scalar_one()
    assert (audited, journalled) == (0, 0)
    assert allowed.status == orchestrator_pb2.RUN_STATUS_COMPLETED
