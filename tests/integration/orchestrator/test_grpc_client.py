"""A direct gRPC client built from the committed stubs runs a workflow without the gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import grpc
import pytest

from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, evaluator_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials


@pytest.fixture(scope="module")
def orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    """A direct client as docs/api.md shows it: TLS trusting the CA, no certificate, a caseworker's bearer token."""
    with credentials.orchestrator_channel(orchestrator_target, role=Role.CASEWORKER) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


def test_execute_workflow_runs_eligibility_check_and_stores_its_audit_trail(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
) -> None:
    inputs = {"citizen_id": "CIT-0000009", "scheme_name": "scheme_beta"}

    reply = orchestrator.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=json.dumps(inputs)),
        timeout=30,
    )

    instance = reply.instance
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED
    assert json.loads(instance.inputs_json) == inputs
    assert json.loads(instance.outputs_json)["decision"]["decision"] in {"ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW"}
    assert instance.HasField("completed_at")

    stored = orchestrator.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance.instance_id), timeout=10)
    assert json.loads(stored.instance.outputs_json) == json.loads(instance.outputs_json)
    assert (stored.instance.status, stored.instance.completed_at) == (instance.status, instance.completed_at)

    trail = orchestrator.GetAuditTrail(
        orchestrator_pb2.GetAuditTrailRequest(instance_id=instance.instance_id), timeout=10
    )
    assert [entry.record.step_name for entry in trail.entries] == [
        "fetch_citizen",
        "fetch_scheme_rules",
        "evaluate_rules",
        "make_decision",
    ]
    assert {entry.record.status for entry in trail.entries} == {audit_pb2.STEP_STATUS_SUCCESS}
    assert {entry.record.instance_id for entry in trail.entries} == {instance.instance_id}
    assert json.loads(trail.entries[0].record.input_json) == {"citizen_id": "CIT-0000009"}


def test_unknown_instance_is_not_found_over_grpc(orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        orchestrator.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=str(uuid.uuid4())), timeout=10)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_appeal_over_grpc_reports_both_decisions(orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub) -> None:
    original = orchestrator.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(
            template_id="eligibility_check",
            inputs_json=json.dumps({"citizen_id": "CIT-0000010", "scheme_name": "scheme_alpha"}),
        ),
        timeout=30,
    ).instance

    reply = orchestrator.SubmitAppeal(
        orchestrator_pb2.SubmitAppealRequest(
            original_instance_id=original.instance_id, new_data_json=json.dumps({"age": 30, "income": 60000})
        ),
        timeout=30,
    )

    assert reply.new_decision == evaluator_pb2.DECISION_ELIGIBLE
    assert reply.new_instance.appealed_instance_id == original.instance_id
    assert reply.new_instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED
