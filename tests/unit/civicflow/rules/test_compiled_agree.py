"""The two compiled forms agree on random documents and citizens, and both pass the schema served to clients."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from civicflow.rules.compiled import compile_rules
from civicflow.rules.document import parse_document
from civicflow.rules.scalar import divide, maximum, minimum
from civicflow.rules.schema import DOCUMENT_SCHEMA
from tests.unit.civicflow.rules.random_documents import CITIZENS, columns_of, documents

SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(DOCUMENT_SCHEMA)


@SETTINGS
@given(documents(), st.lists(CITIZENS, min_size=1, max_size=20))
def test_explain_and_the_columns_decide_alike(content: dict[str, Any], citizens: list[dict[str, Any]]) -> None:
    # parse_document checks the schema first; this says so directly: what the checker accepts, the schema does.
    assert not list(Draft202012Validator(DOCUMENT_SCHEMA).iter_errors(content))
    rules = compile_rules(parse_document(content))
    columns = columns_of(citizens)

    decisions = rules.decide_columns(columns)
    passed = rules.criterion_columns(columns)

    assert decisions.dtype == np.int8
    for index, citizen in enumerate(citizens):
        verdict = rules.explain(citizen)
        assert verdict.decision == decisions[index]
        assert [reason.passed for reason in verdict.reasons] == [bool(passed[c][index]) for c in rules.criteria]


@given(st.floats(), st.floats())
def test_scalar_arithmetic_is_numpys_bit_for_bit(left: float, right: float) -> None:
    with np.errstate(all="ignore"):
        expected = [np.divide(left, right), np.minimum(left, right), np.maximum(left, right)]
    for ours, theirs in zip([divide(left, right), minimum(left, right), maximum(left, right)], expected, strict=True):
        assert _bits(ours) == _bits(float(theirs))


def test_division_by_zero_is_ieee() -> None:
    assert divide(1.0, 0.0) == math.inf
    assert divide(-1.0, 0.0) == -math.inf
    assert divide(1.0, -0.0) == -math.inf
    assert math.isnan(divide(0.0, 0.0))


def _bits(value: float) -> bytes:
    # All NaNs are one value to the language: compare NaN-ness, and exact bits (sign of zero included) otherwise.
    return b"nan" if math.isnan(value) else np.float64(value).tobytes()


def _agree(test: Any, citizens: list[dict[str, Any]]) -> list[bool]:
    rules = compile_rules(
        parse_document(
            {"description": "x", "parameters": {}, "criteria": [{"id": "c", "kind": "review", "test": test}]}
        )
    )
    passed = rules.criterion_columns(columns_of(citizens))["c"].tolist()
    assert passed == [rules.explain(citizen).reasons[0].passed for citizen in citizens]
    return passed


def test_integer_columns_are_widened_before_arithmetic_so_nothing_wraps_around() -> None:
    citizen = {"age": 150, "income": 0.0, "category": "sc", "household_size": 100, "has_disability": False}
    age = {"var": "age"}

    assert _agree({">": [{"*": [age, age, age, age, age]}, 7e10]}, [citizen]) == [True]


def test_household_sizes_outside_the_tables_are_decided_without_them() -> None:
    sizes = [0, 1, 100, 101, -5, 2**31 - 1]
    citizens = [
        {"age": 30, "income": 0.0, "category": "sc", "household_size": size, "has_disability": False} for size in sizes
    ]
    test = {"<": [{"*": [{"var": "household_size"}, 2]}, {"if": [{"==": [{"var": "category"}, "sc"]}, 150, 0]}]}

    assert _agree(test, citizens) == [True, True, False, False, True, False]


def test_a_category_code_outside_the_four_equals_no_category() -> None:
    rules = compile_rules(
        parse_document(
            {
                "description": "x",
                "parameters": {},
                "criteria": [{"id": "c", "kind": "exclusion", "test": {"in": [{"var": "category"}, ["sc", "x"]]}}],
            }
        )
    )
    codes = np.array([0, 1, 2, 3, 4, 5, 9, -1], dtype=np.int32)

    passed = rules.criterion_columns({"category": codes})["c"].tolist()

    assert passed == [False, False, True, False, False, False, False, False]
