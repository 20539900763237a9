"""Benefit applications through the orchestrator's gRPC API, as the review tests submit and work them."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials

JUSTIFICATION = "Income evidence checked against the payslips on file."


def orchestrator_as(credentials: Credentials, target: str, subject: str, *roles: Role) -> Any:
    """A stub of the orchestrator called with a fresh token of `subject`."""
    token = credentials.issue(subject, *roles)
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(target, token=token))


def apply(stub: Any, citizen_id: str, scheme_name: str = "scheme_alpha") -> orchestrator_pb2.WorkflowInstance:
    """A benefit application, answered when it ends or starts waiting."""
    inputs = json.dumps({"citizen_id": citizen_id, "scheme_name": scheme_name})
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id="benefit_application", inputs_json=inputs)
    return stub.ExecuteWorkflow(request).instance


def refusal(call: Any, request: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call(request)
    return refused.value.code()


def finished(stub: Any, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    """The run once it has ended, watched to its end."""
    last = None
    for update in stub.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id), timeout=60):
        last = update.instance
    assert last is not None
    return last


def review_events(stub: Any, instance_id: str) -> list[tuple[str, str]]:
    """(step name, actor) of the run's review transitions, in the order the audit log has them."""
    trail = stub.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=instance_id)).entries
    return [(entry.record.step_name, entry.record.actor) for entry in trail if ":" in entry.record.step_name]
