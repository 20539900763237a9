"""Retrying runs on a real replica: after a step failed for good, the retry reuses the steps that succeeded (each an
audit entry naming the run it came from), runs the rest, and the two runs name each other; an ended or already
retried run is refused.

The replica's evaluator fails one citizen once (evaluator/faults.py): the first check of that citizen fails at
evaluate_rules (an internal error, which the template does not retry), its retry passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from audit_service.config import AuditSettings
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, orchestrator_pb2
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.fault_evaluators import evaluator_with_faults
from tests.support.review_runs import finished, orchestrator_as, refusal
from tests.support.stacks import OwnStack, own_stack

FAILING_CITIZEN = "CIT-0000777"
CHECK_STEPS = ["fetch_citizen", "fetch_scheme_rules", "evaluate_rules", "make_decision"]


@pytest.fixture(scope="module")
def failing_once_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    fail = {"evaluator_fail_citizens": frozenset({FAILING_CITIZEN}), "evaluator_fault_times": 1}
    with evaluator_with_faults(background_loop, credentials, **fail) as target:
        yield target


@pytest.fixture(scope="module")
def stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    failing_once_evaluator: str,
) -> Iterator[OwnStack]:
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="retry",
        evaluator_target=failing_once_evaluator,
    ) as stack:
        yield stack


def _check(stub: Any, citizen_id: str) -> orchestrator_pb2.WorkflowInstance:
    inputs = json.dumps({"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=inputs)
    return stub.ExecuteWorkflow(request, timeout=30).instance


def _get(stub: Any, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
    return stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id), timeout=10).instance


def _trail(stub: Any, instance_id: str) -> list[audit_pb2.AuditRecord]:
    entries = stub.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=instance_id), timeout=10).entries
    return [entry.record for entry in entries]


def test_a_retry_after_a_step_failed_for_good_reuses_the_steps_that_succeeded_and_completes(
    credentials: Credentials, stack: OwnStack
) -> None:
    submitter = orchestrator_as(credentials, stack.orchestrator_target, "cw-first", Role.CASEWORKER)
    retrier = orchestrator_as(credentials, stack.orchestrator_target, "cw-retrier", Role.CASEWORKER)
    failed = _check(submitter, FAILING_CITIZEN)
    assert failed.status == orchestrator_pb2.RUN_STATUS_FAILED
    assert "evaluate_rules" in failed.error

    answer = retrier.RetryWorkflow(orchestrator_pb2.RetryWorkflowRequest(instance_id=failed.instance_id)).instance
    retry = finished(retrier, answer.instance_id)

    assert retry.status == orchestrator_pb2.RUN_STATUS_COMPLETED, retry.error
    assert (retry.retry_of, retry.template_version, retry.actor) == (
        failed.instance_id,
        failed.template_version,
        "cw-retrier",
    )
    assert json.loads(retry.inputs_json) == json.loads(failed.inputs_json)
    assert json.loads(retry.outputs_json)["decision"]["citizen_id"] == FAILING_CITIZEN
    assert _get(submitter, failed.instance_id).retried_by == retry.instance_id
    assert _get(retrier, retry.instance_id).retried_by == ""
    records = _trail(retrier, retry.instance_id)
    assert [(record.step_name, record.attempt, record.status) for record in records] == [
        (name, 1, audit_pb2.STEP_STATUS_SUCCESS) for name in CHECK_STEPS
    ]
    reused_from = [json.loads(record.output_json).get("reused_from") for record in records]
    assert reused_from == [failed.instance_id, failed.instance_id, None, None]
    originals = {record.step_name: record for record in _trail(submitter, failed.instance_id)}
    for record in records[:2]:
        assert record.input_json == originals[record.step_name].input_json
        output = json.loads(record.output_json)
        del output["reused_from"]
        assert output == json.loads(originals[record.step_name].output_json)
        assert record.actor == "cw-retrier"


def test_a_completed_run_and_a_run_retried_already_are_not_retried(credentials: Credentials, stack: OwnStack) -> None:
    caseworker = orchestrator_as(credentials, stack.orchestrator_target, "cw-again", Role.CASEWORKER)
    completed = _check(caseworker, "CIT-0000042")
    assert completed.status == orchestrator_pb2.RUN_STATUS_COMPLETED
    unknown_scheme = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="eligibility_check",
        inputs_json=json.dumps({"citizen_id": "CIT-0000001", "scheme_name": "scheme_nowhere"}),
    )
    failed = caseworker.ExecuteWorkflow(unknown_scheme, timeout=30).instance
    assert failed.status == orchestrator_pb2.RUN_STATUS_FAILED
    retry = orchestrator_pb2.RetryWorkflowRequest(instance_id=failed.instance_id)
    first = caseworker.RetryWorkflow(retry).instance

    with pytest.raises(grpc.RpcError) as again:
        caseworker.RetryWorkflow(retry)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"retried already, by run {first.instance_id}" in again.value.details()
    with pytest.raises(grpc.RpcError) as of_completed:
        caseworker.RetryWorkflow(orchestrator_pb2.RetryWorkflowRequest(instance_id=completed.instance_id))
    assert of_completed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "only a failed or cancelled run can be retried" in of_completed.value.details()
    analyst = orchestrator_as(credentials, stack.orchestrator_target, "an-retrier", Role.ANALYST)
    assert refusal(analyst.RetryWorkflow, retry) == grpc.StatusCode.PERMISSION_DENIED
