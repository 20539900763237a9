"""The evaluator's side of the rules: documents from the wire compiled and cached, citizens and columns checked."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from civicflow.rules.document import rule_hash
from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidBatchError, InvalidCitizenError, InvalidDocumentError, InvalidRulesError
from evaluator.evaluation import evaluate_batch, evaluate_one
from evaluator.rules import CompiledDocuments
from tests.support.scheme_documents import rule_document, seed_rule_document
from tests.support.seeded_schemes import seeded_document

ALPHA = seed_rule_document("scheme_alpha")
DELTA = seed_rule_document("scheme_delta")


def citizen(**fields: Any) -> evaluator_pb2.CitizenProfile:
    values: dict[str, Any] = {"citizen_id": "c-1", "age": 40, "income": 100000.0, "category": 1, "household_size": 1}
    return evaluator_pb2.CitizenProfile(**{**values, **fields})


def test_evaluate_answers_the_decision_every_reason_and_the_rule_hash() -> None:
    request = evaluator_pb2.EvaluateRequest(citizen=citizen(income=240000.0), document=ALPHA)

    reply = evaluate_one(request, CompiledDocuments())

    assert reply.decision == evaluator_pb2.DECISION_NEEDS_REVIEW
    assert [(r.criterion, r.kind, r.passed) for r in reply.reasons] == [
        ("age", "exclusion", True),
        ("income_ceiling", "exclusion", True),
        ("review_band", "review", False),
    ]
    assert reply.reasons[2].detail == "failed: income clearly below the ceiling"
    assert reply.reasons[2].values_json == '{"income":240000,"max_income":250000,"review_fraction":0.9}'
    assert reply.rule_hash == rule_hash(seeded_document("scheme_alpha"))


@pytest.mark.parametrize(
    ("fields", "message_part"),
    [
        ({"age": 151}, "age"),
        ({"income": -1.0}, "income"),
        ({"income": math.nan}, "income"),
        ({"household_size": 0}, "household_size"),
        ({"category": 0}, "category"),
    ],
)
def test_a_citizen_no_real_citizen_can_be_is_refused(fields: dict[str, Any], message_part: str) -> None:
    with pytest.raises(InvalidCitizenError, match=message_part):
        evaluate_one(evaluator_pb2.EvaluateRequest(citizen=citizen(**fields), document=DELTA), CompiledDocuments())


def test_attributes_a_document_does_not_read_need_not_be_filled_in() -> None:
    request = evaluator_pb2.EvaluateRequest(citizen=citizen(category=0, household_size=0), document=ALPHA)

    assert evaluate_one(request, CompiledDocuments()).decision == evaluator_pb2.DECISION_ELIGIBLE


def test_a_document_that_does_not_check_is_refused_with_every_problem() -> None:
    content = seeded_document("scheme_alpha")
    content["criteria"][1]["test"] = {"<=": [{"var": "category"}, {"param": "nope"}]}
    request = evaluator_pb2.EvaluateRequest(citizen=citizen(), document=rule_document(content))

    with pytest.raises(InvalidDocumentError) as raised:
        evaluate_one(request, CompiledDocuments())

    assert [problem.field for problem in raised.value.problems] == [
        "document.document_json.criteria[1].test.<=[0]",
        "document.document_json.criteria[1].test.<=[1].param",
    ]


def test_a_document_that_is_not_json_is_refused() -> None:
    bad = evaluator_pb2.RuleDocument(scheme_name="x", document_json="{not json")

    with pytest.raises(InvalidDocumentError, match="not JSON"):
        evaluate_one(evaluator_pb2.EvaluateRequest(citizen=citizen(), document=bad), CompiledDocuments())
    with pytest.raises(InvalidRulesError, match="no rule document"):
        evaluate_one(evaluator_pb2.EvaluateRequest(citizen=citizen()), CompiledDocuments())


def test_compiled_documents_are_kept_by_their_bytes_and_the_least_recent_dropped() -> None:
    cache = CompiledDocuments(capacity=2)
    documents = [rule_document(seeded_document("scheme_alpha", max_income=value)) for value in (1, 2, 3)]

    first = cache.get(documents[0], field="document")
    assert cache.get(documents[0], field="document") is first
    cache.get(documents[1], field="document")
    cache.get(documents[2], field="document")

    assert len(cache) == 2
    assert cache.get(documents[0], field="document") is not first


def batch(size: int, **columns: Any) -> evaluator_pb2.EvaluateStreamRequest:
    return evaluator_pb2.EvaluateStreamRequest(batch_id=4, size=size, **columns)


def test_a_batch_is_decided_under_each_document_with_impossible_citizens_singled_out() -> None:
    request = batch(
        5,
        documents=[ALPHA, DELTA],
        ages=[30, 151, 30, 70, 40],
        incomes=[1.0, 1.0, -1.0, 1.0, 190000.0],
        categories=[1, 1, 1, 0, 4],
        household_sizes=[1, 1, 1, 1, 2],
        disabilities=[False, False, False, True, False],
    )

    reply = evaluate_batch(request, CompiledDocuments())

    assert [item.index for item in reply.errors] == [1, 2, 3]
    assert "age" in reply.errors[0].error and "151" in reply.errors[0].error
    assert "category" in reply.errors[2].error
    unspecified, eligible, review = (
        evaluator_pb2.DECISION_UNSPECIFIED,
        evaluator_pb2.DECISION_ELIGIBLE,
        evaluator_pb2.DECISION_NEEDS_REVIEW,
    )
    assert list(reply.columns[0].decisions) == [eligible, unspecified, unspecified, unspecified, eligible]
    assert list(reply.columns[1].decisions) == [eligible, unspecified, unspecified, unspecified, eligible]
    assert review not in reply.columns[0].decisions


def test_columns_no_document_reads_may_be_empty_and_category_is_then_not_checked() -> None:
    reply = evaluate_batch(batch(2, documents=[ALPHA], ages=[30, 40], incomes=[1.0, 2.0]), CompiledDocuments())

    assert list(reply.columns[0].decisions) == [evaluator_pb2.DECISION_ELIGIBLE] * 2
    assert not reply.errors


@pytest.mark.parametrize(
    ("columns", "message_part"),
    [
        ({"ages": [30, 40], "incomes": [1.0]}, "incomes has 1 values"),
        ({"ages": [30, 40]}, "incomes is empty"),
        ({"ages": [30, 40], "incomes": [1.0, 2.0], "categories": [1]}, "categories has 1 values"),
    ],
)
def test_a_batch_whose_columns_do_not_match_its_size_is_refused(columns: dict[str, Any], message_part: str) -> None:
    with pytest.raises(InvalidBatchError, match=message_part):
        evaluate_batch(batch(2, documents=[ALPHA], **columns), CompiledDocuments())


def test_a_batch_without_documents_is_refused() -> None:
    with pytest.raises(InvalidBatchError, match="at least one rule document"):
        evaluate_batch(batch(1, ages=[30], incomes=[1.0]), CompiledDocuments())


def test_a_batch_agrees_with_single_evaluations() -> None:
    rng = np.random.default_rng(3)
    size = 300
    columns = {
        "ages": rng.integers(0, 100, size).tolist(),
        "incomes": rng.uniform(0, 500000, size).tolist(),
        "categories": rng.integers(1, 5, size).tolist(),
        "household_sizes": rng.integers(1, 9, size).tolist(),
        "disabilities": (rng.random(size) < 0.2).tolist(),
    }
    compiled = CompiledDocuments()

    reply = evaluate_batch(batch(size, documents=[DELTA], **columns), compiled)

    for index in range(size):
        one = citizen(
            age=columns["ages"][index],
            income=columns["incomes"][index],
            category=columns["categories"][index],
            household_size=columns["household_sizes"][index],
            has_disability=columns["disabilities"][index],
        )
        answer = evaluate_one(evaluator_pb2.EvaluateRequest(citizen=one, document=DELTA), compiled)
        assert answer.decision == reply.columns[0].decisions[index]
    assert json.loads(answer.reasons[0].values_json).keys() >= {"age", "has_disability"}
