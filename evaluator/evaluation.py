"""Proto requests to decisions: one citizen with its reasons, or a batch in columns with per-citizen errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.canonical_json import canonical_json
from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidBatchError, InvalidCitizenError, InvalidRulesError
from evaluator.rules import CompiledDocuments, citizen_attributes, impossible_rows

FAILED = evaluator_pb2.DECISION_UNSPECIFIED

# Each column of a batch: the attribute it holds, its field in EvaluateStreamRequest, and its dtype.
COLUMNS: tuple[tuple[str, str, type[np.generic]], ...] = (
    ("age", "ages", np.int32),
    ("income", "incomes", np.float64),
    ("category", "categories", np.int32),
    ("household_size", "household_sizes", np.int32),
    ("has_disability", "disabilities", np.bool_),
)


def evaluate_one(request: evaluator_pb2.EvaluateRequest, compiled: CompiledDocuments) -> evaluator_pb2.EvaluateResponse:
    if not request.HasField("citizen"):
        raise InvalidCitizenError("the request has no citizen")
    if not request.HasField("document"):
        raise InvalidRulesError("the request has no rule document to evaluate the citizen under")
    rules = compiled.get(request.document, field="document")
    verdict = rules.explain(citizen_attributes(request.citizen, rules.attributes))
    return evaluator_pb2.EvaluateResponse(
        decision=verdict.decision,  # type: ignore[arg-type]
        reasons=[
            evaluator_pb2.CriterionResult(
                criterion=reason.criterion,
                passed=reason.passed,
                detail=reason.detail,
                kind=reason.kind,
                values_json=canonical_json(reason.values),
            )
            for reason in verdict.reasons
        ],
        rule_hash=rules.rule_hash,
    )


def evaluate_batch(
    request: evaluator_pb2.EvaluateStreamRequest, compiled: CompiledDocuments
) -> evaluator_pb2.EvaluateStreamResponse:
    """Decides every citizen of the batch it can; the others get an ItemError and DECISION_UNSPECIFIED."""
    if not request.documents:
        raise InvalidBatchError("a batch needs at least one rule document")
    documents = [
        compiled.get(document, field=f"documents[{index}]") for index, document in enumerate(request.documents)
    ]
    read = frozenset().union(*(rules.attributes for rules in documents))
    columns = _columns(request, read)
    # A category no document reads may be anything, even unspecified: only the others are checked.
    checked = {name: column for name, column in columns.items() if name != "category" or name in read}
    errors = impossible_rows(checked)
    failed = np.array(list(errors), dtype=np.int64)
    decision_columns = []
    for rules in documents:
        decisions = rules.decide_columns(columns, size=request.size)
        decisions[failed] = FAILED
        decision_columns.append(evaluator_pb2.DecisionColumn(decisions=decisions.tolist()))
    return evaluator_pb2.EvaluateStreamResponse(
        batch_id=request.batch_id,
        columns=decision_columns,
        errors=[evaluator_pb2.ItemError(index=index, error=why) for index, why in errors.items()],
    )


def _columns(request: evaluator_pb2.EvaluateStreamRequest, read: frozenset[str]) -> dict[str, npt.NDArray[Any]]:
    """The batch's columns read or given; InvalidBatchError for one neither empty nor `size` long, or missing."""
    columns = {}
    for attribute, field, dtype in COLUMNS:
        values = getattr(request, field)
        if len(values) not in (0, request.size):
            raise InvalidBatchError(
                f"column {field} has {len(values)} values; a batch of size {request.size} needs {request.size} or none"
            )
        if attribute in read and len(values) != request.size:
            raise InvalidBatchError(
                f"column {field} is empty, and a document of the batch reads {attribute}: "
                f"it needs {request.size} values"
            )
        if len(values) or attribute in read:
            columns[attribute] = np.array(values, dtype=dtype)
    return columns
