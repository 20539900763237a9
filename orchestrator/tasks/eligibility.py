"""Tasks of a single eligibility decision: fetch the citizen, evaluate, decide (the rules: scheme_rules.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import grpc

from civicflow.decisions import DECISION_NAMES, DECISION_VALUES
from civicflow.grpc_errors import CallFailure, classify_rpc_error
from civicflow.rules.attributes import CATEGORY_CODES
from civicflow.v1 import evaluator_pb2, evaluator_pb2_grpc
from orchestrator.citizens import mock_citizen
from orchestrator.errors import StepFailedError
from orchestrator.runs.outages import EVALUATOR
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.tasks.contract import NoConfig, Task, TaskContext, TaskContract

EvaluatorStub = evaluator_pb2_grpc.EvaluatorServiceStub


async def fetch_citizen(inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext) -> dict[str, Any]:
    """The registry's record of the citizen; an appeal's new data, when given, overrides its fields."""
    citizen = mock_citizen(inputs["citizen_id"]).to_json()
    new_data = inputs.get("new_data") or {}
    output: dict[str, Any] = {"citizen": {**citizen, **new_data}}
    if new_data:
        output["registry_record"] = citizen
    return output


async def evaluate_rules(
    inputs: Mapping[str, Any],
    _config: NoConfig,
    context: TaskContext,
    *,
    evaluator: EvaluatorStub,
    documents: SchemeDocuments,
) -> dict[str, Any]:
    """The evaluator's verdict on the citizen under the rules' document, with every criterion's reason."""
    rules = inputs["rules"]
    document = evaluator_pb2.RuleDocument(
        scheme_name=rules["scheme_name"], version=rules["version"], document_json=await documents.document_json(rules)
    )
    request = evaluator_pb2.EvaluateRequest(citizen=citizen_profile(inputs["citizen"]), document=document)
    try:
        reply = await evaluator.Evaluate(request, timeout=context.call_timeout)
    except grpc.aio.AioRpcError as error:
        failure = classify_rpc_error(error)
        if failure.failure is CallFailure.UNAVAILABLE:  # down or restarting: the runner waits for it
            raise StepFailedError("the evaluator is unavailable", dependency=EVALUATOR) from error
        # Its kind (a retry policy's business) is read from the cause: runs/attempt_failures.py.
        raise StepFailedError(f"evaluator failed: {failure}") from error
    if reply.rule_hash != inputs["rules"]["rule_hash"]:
        # The decision of record names the version's hash: it must be the document the evaluator decided under.
        raise StepFailedError(
            f"the evaluator decided under rule_hash {reply.rule_hash}, not the rules' {inputs['rules']['rule_hash']}"
        )
    return {
        "evaluation": {
            "decision": DECISION_NAMES[reply.decision],
            "rule_hash": reply.rule_hash,
            "reasons": [
                {
                    "criterion": reason.criterion,
                    "kind": reason.kind,
                    "passed": reason.passed,
                    "detail": reason.detail,
                    "values": json.loads(reason.values_json) if reason.values_json else {},
                }
                for reason in reply.reasons
            ],
        }
    }


def citizen_profile(citizen: Mapping[str, Any]) -> evaluator_pb2.CitizenProfile:
    """The citizen as the evaluator reads it: the registry's record, with an appeal's corrections merged in."""
    return evaluator_pb2.CitizenProfile(
        citizen_id=citizen["citizen_id"],
        name=citizen["name"],
        age=citizen["age"],
        income=citizen["income"],
        category=CATEGORY_CODES[citizen["category"]],  # type: ignore[arg-type]
        household_size=citizen["household_size"],
        has_disability=citizen["has_disability"],
    )


async def make_decision(inputs: Mapping[str, Any], _config: NoConfig, _context: TaskContext) -> dict[str, Any]:
    """The decision of record: the evaluation's verdict, for whom, under which version of the rules, and why."""
    evaluation = inputs["evaluation"]
    rules = inputs["rules"]
    return {
        "decision": {
            "decision": evaluation["decision"],
            "citizen_id": inputs["citizen"]["citizen_id"],
            "scheme_name": rules["scheme_name"],
            "scheme_version": rules["version"],
            "rule_hash": evaluation["rule_hash"],
            "reasons": evaluation["reasons"],
        }
    }


FETCH_CITIZEN = TaskContract(
    task_type="fetch_citizen",
    required_inputs=frozenset({"citizen_id"}),
    optional_inputs=frozenset({"new_data"}),
    outputs=frozenset({"citizen", "registry_record"}),
    pure=True,
)

EVALUATE_RULES = TaskContract(
    task_type="evaluate_rules",
    required_inputs=frozenset({"citizen", "rules"}),
    outputs=frozenset({"evaluation"}),
    pure=True,
)

MAKE_DECISION = TaskContract(
    task_type="make_decision",
    required_inputs=frozenset({"citizen", "rules", "evaluation"}),
    outputs=frozenset({"decision"}),
    pure=True,
    output_values={"decision.decision": frozenset(DECISION_VALUES)},
)

CONTRACTS = (FETCH_CITIZEN, EVALUATE_RULES, MAKE_DECISION)


def tasks(*, evaluator: EvaluatorStub, documents: SchemeDocuments) -> tuple[Task, ...]:
    return (
        Task(FETCH_CITIZEN, fetch_citizen),
        Task(EVALUATE_RULES, functools.partial(evaluate_rules, evaluator=evaluator, documents=documents)),
        Task(MAKE_DECISION, make_decision),
    )
