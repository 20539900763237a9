"""An entry planted under a run's future idempotency key (`<instance>/<step_index>/<attempt>`) makes the run fail
visibly when its step is audited: the audit service answers the planted entry, which is not the record sent.

Each run is held at evaluate_rules by the evaluator's stall hook while the test plants an entry under the key
make_decision will use: as the orchestrator's identity (the one writer AppendEntries admits), or as a superuser
writing into the table behind the audit service's back. Each test has a database and a log of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from audit_service.config import AuditSettings
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from evaluator.config import EvaluatorSettings
from evaluator.server import start as start_evaluator
from orchestrator.citizens import mock_citizen
from orchestrator.config import OrchestratorSettings
from tests.support.audit_records import plant, record
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import SCHEME_RULES, expected_decision
from tests.support.stacks import OwnStack, own_stack

# Citizens whose evaluation the evaluator holds back long enough for the test to plant an entry first.
HELD = ("CIT-0000701", "CIT-0000702")
HOLD_SECONDS = 3.0
SCHEME = "scheme_alpha"
MAKE_DECISION = 3


@pytest.fixture(scope="module")
def holding_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset(HELD),
        evaluator_stall_seconds=HOLD_SECONDS,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start_evaluator(settings), grace=0) as target:
        yield target


@pytest.fixture
def stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    holding_evaluator: str,
) -> Iterator[OwnStack]:
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="civicflow_forged",
        evaluator_target=holding_evaluator,
    ) as stack:
        yield stack


def honest_decision(citizen_id: str) -> str:
    return expected_decision(mock_citizen(citizen_id).to_json(), SCHEME_RULES[SCHEME])


def forged_decision(instance_id: str, citizen_id: str) -> audit_pb2.AuditRecord:
    """The issue's forgery: the decision turned around, by an actor the caller chose, under make_decision's key."""
    turned = "NOT_ELIGIBLE" if honest_decision(citizen_id) != "NOT_ELIGIBLE" else "ELIGIBLE"
    output = {"decision": {"citizen_id": citizen_id, "scheme_name": SCHEME, "decision": turned, "reasons": []}}
    forged = record(
        instance_id,
        MAKE_DECISION,
        step_name="make_decision",
        output_json=json.dumps(output),
        actor="caseworker-17 (supervisor override)",
    )
    forged.idempotency_key = f"{instance_id}/{MAKE_DECISION}/1"
    return forged


def start_held_run(credentials: Credentials, stack: OwnStack, citizen_id: str) -> str:
    with credentials.orchestrator_channel(stack.orchestrator_target) as channel:
        started = (
            orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            .ExecuteWorkflow(
                orchestrator_pb2.ExecuteWorkflowRequest(
                    template_id="eligibility_check",
                    inputs_json=json.dumps({"citizen_id": citizen_id, "scheme_name": SCHEME}),
                    mode=orchestrator_pb2.EXECUTION_MODE_ASYNC,
                ),
                timeout=10,
            )
            .instance
        )
    assert started.status == orchestrator_pb2.RUN_STATUS_RUNNING
    return str(started.instance_id)


def finished(credentials: Credentials, stack: OwnStack, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    with credentials.orchestrator_channel(stack.orchestrator_target) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        request = orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id)
        return list(stub.WatchWorkflow(request, timeout=30))[-1].instance


def audit_stub(credentials: Credentials, stack: OwnStack, *, as_: ServiceIdentity) -> audit_pb2_grpc.AuditServiceStub:
    """The stack's audit service as the orchestrator calls it, or as the gateway calls it for an auditor."""
    token = credentials.token(Role.AUDITOR) if as_ is ServiceIdentity.GATEWAY else None
    channel = credentials.channel(stack.audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=as_, token=token)
    return audit_pb2_grpc.AuditServiceStub(channel)


def assert_failed_on_the_planted_entry(
    run: orchestrator_pb2.WorkflowInstance, *, seq: int, writer_difference: str | None
) -> None:
    assert run.status == orchestrator_pb2.RUN_STATUS_FAILED
    expected = (
        f"audit entry {seq} under key {run.instance_id}/{MAKE_DECISION}/1 is not the record of step 'make_decision'"
        " attempt 1 that was sent: it differs in "
    )
    assert run.error.startswith(expected), run.error
    differences = run.error.removeprefix(expected).split(", ")
    assert {"input_json", "output_json", "actor"} <= set(differences)
    assert (writer_difference in differences) if writer_difference else not any("writer" in d for d in differences)
    assert json.loads(run.outputs_json) == {}


def assert_nothing_planted_was_adopted(
    credentials: Credentials, stack: OwnStack, run: orchestrator_pb2.WorkflowInstance, planted: audit_pb2.AuditRecord
) -> None:
    """The planted entry stays alone under its key, and the orchestrator's own records hold its own decision."""
    entries = audit_stub(credentials, stack, as_=ServiceIdentity.ORCHESTRATOR).ListEntries(
        audit_pb2.ListEntriesRequest(instance_id=run.instance_id), timeout=10
    )
    decisions = [entry for entry in entries.entries if entry.record.step_index == MAKE_DECISION]
    assert [entry.record for entry in decisions] == [planted]
    assert {entry.writer for entry in entries.entries if entry.record.step_index < MAKE_DECISION} == {"orchestrator"}
    journal = journalled(stack, run.instance_id)
    citizen_id = json.loads(planted.output_json)["decision"]["citizen_id"]
    assert [output["decision"]["decision"] for index, output in journal if index == MAKE_DECISION] == [
        honest_decision(citizen_id)
    ]
    assert json.loads(planted.output_json) not in [output for _, output in journal]


def journalled(stack: OwnStack, instance_id: str) -> list[tuple[int, Any]]:
    engine = sa.create_engine(stack.database.admin_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT step_index, output FROM orchestrator.workflow_steps WHERE instance_id = :id"
                    " ORDER BY step_index, attempt"
                ),
                {"id": instance_id},
            ).all()
    finally:
        engine.dispose()
    return [(row.step_index, row.output) for row in rows]


def test_an_entry_the_orchestrators_identity_appended_first_under_a_later_steps_key_fails_the_run(
    credentials: Credentials, stack: OwnStack
) -> None:
    citizen_id = HELD[0]
    instance_id = start_held_run(credentials, stack, citizen_id)
    forged = forged_decision(instance_id, citizen_id)
    (planted,) = (
        audit_stub(credentials, stack, as_=ServiceIdentity.ORCHESTRATOR)
        .AppendEntries(audit_pb2.AppendEntriesRequest(records=[forged]), timeout=10)
        .entries
    )

    run = finished(credentials, stack, instance_id)

    assert planted.writer == "orchestrator"
    assert_failed_on_the_planted_entry(run, seq=planted.seq, writer_difference=None)
    assert_nothing_planted_was_adopted(credentials, stack, run, forged)


def test_an_entry_a_superuser_planted_without_a_writer_under_a_later_steps_key_fails_the_run(
    credentials: Credentials, stack: OwnStack
) -> None:
    citizen_id = HELD[1]
    instance_id = start_held_run(credentials, stack, citizen_id)
    forged = forged_decision(instance_id, citizen_id)
    seq = plant(stack.database.admin_url, forged, writer="")

    run = finished(credentials, stack, instance_id)

    assert_failed_on_the_planted_entry(run, seq=seq, writer_difference="writer '(none)'")
    assert_nothing_planted_was_adopted(credentials, stack, run, forged)
    # Planted behind the service's back, it is outside the tree, and the log's verification says so.
    report = audit_stub(credentials, stack, as_=ServiceIdentity.GATEWAY).VerifyLog(
        audit_pb2.VerifyLogRequest(), timeout=30
    )
    assert [(problem.seq, problem.kind) for problem in report.problems] == [(seq, audit_pb2.PROBLEM_KIND_FORGED)]
