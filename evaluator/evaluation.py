"""Proto requests to decisions: one citizen with its reasons, or a batch in columns with per-citizen errors."""

from __future__ import annotations

import numpy as np

from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidBatchError, InvalidCitizenError
from evaluator.rules import Rules, check_citizen, check_columns, decide, decide_batch, impossible_citizens

FAILED = evaluator_pb2.DECISION_UNSPECIFIED


def evaluate_one(request: evaluator_pb2.EvaluateRequest) -> evaluator_pb2.EvaluateResponse:
    if not request.HasField("citizen"):
        raise InvalidCitizenError("the request has no citizen")
    if not request.HasField("rules"):
        raise InvalidCitizenError("the request has no rules to evaluate the citizen under")
    check_citizen(request.citizen.age, request.citizen.income)
    rules = Rules.from_proto(request.rules)
    verdict = decide(request.citizen.age, request.citizen.income, rules)
    return evaluator_pb2.EvaluateResponse(
        decision=verdict.decision,  # type: ignore[arg-type]
        reasons=[
            evaluator_pb2.CriterionResult(criterion=reason.criterion, passed=reason.passed, detail=reason.detail)
            for reason in verdict.reasons
        ],
    )


def evaluate_batch(request: evaluator_pb2.EvaluateStreamRequest) -> evaluator_pb2.EvaluateStreamResponse:
    """Decides every citizen of the batch it can; the others get an ItemError and DECISION_UNSPECIFIED."""
    if not request.rule_sets:
        raise InvalidBatchError("a batch needs at least one rule set")
    rule_sets = [Rules.from_proto(message) for message in request.rule_sets]
    ages = np.array(request.ages, dtype=np.int32)
    incomes = np.array(request.incomes, dtype=np.float64)
    check_columns(ages, incomes)
    impossible = np.flatnonzero(impossible_citizens(ages, incomes)).tolist()
    errors = {index: _impossible(ages[index], incomes[index]) for index in impossible}
    failed = np.array(sorted(errors), dtype=np.int64)
    columns = []
    for rules in rule_sets:
        decisions = decide_batch(ages, incomes, rules)
        decisions[failed] = FAILED
        columns.append(evaluator_pb2.DecisionColumn(decisions=decisions.tolist()))
    return evaluator_pb2.EvaluateStreamResponse(
        batch_id=request.batch_id,
        columns=columns,
        errors=[evaluator_pb2.ItemError(index=index, error=errors[index]) for index in failed.tolist()],
    )


def _impossible(age: int, income: float) -> str:
    try:
        check_citizen(int(age), float(income))
    except InvalidCitizenError as error:
        return str(error)
    raise AssertionError("impossible_citizens and check_citizen disagree")  # pragma: no cover
