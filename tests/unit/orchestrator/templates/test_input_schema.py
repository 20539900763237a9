"""Inputs checked against a template's schema: ECMA-262 anchors, and problems that name the field, never the value."""

from __future__ import annotations

from typing import Any

import pytest

from civicflow.grpc_errors import FieldProblem
from orchestrator.templates.input_schema import ecma_pattern, input_problems, input_validator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "citizen_id": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
        "category": {"enum": ["general", "sc"]},
        "income": {"type": "number", "minimum": 0, "maximum": 1000},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
    "required": ["citizen_id"],
    "additionalProperties": False,
}


def problems(inputs: dict[str, Any]) -> list[FieldProblem]:
    return input_problems(input_validator(SCHEMA), inputs)


@pytest.mark.parametrize("citizen_id", ["CIT-0000042\n", "CIT-0000042\n\n", "\nCIT-0000042", "CIT 42"])
def test_a_pattern_matches_the_whole_text_so_a_final_newline_is_refused(citizen_id: str) -> None:
    assert problems({"citizen_id": citizen_id}) == [
        FieldProblem("inputs.citizen_id", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ]


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a\n", False),
        ("^a$", "a", True),
        ("a[$]", "a$", True),
        (r"a\$", "a$", True),
        ("^(a|b)$", "b\n", False),
        ("abc", "xxabcxx", True),  # unanchored patterns still search, as JSON Schema says
    ],
)
def test_ecma_pattern_gives_dollar_its_end_of_text_meaning_only(pattern: str, text: str, matches: bool) -> None:
    assert bool(ecma_pattern(pattern).search(text)) is matches


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"citizen_id": "C" * 20_000}, FieldProblem("inputs.citizen_id", "must be at most 64 characters")),
        ({"citizen_id": ["x" * 20_000]}, FieldProblem("inputs.citizen_id", "must be of type string")),
        ({"citizen_id": "C", "category": "y" * 5_000}, FieldProblem("inputs.category", "must be one of general, sc")),
        ({"citizen_id": "C", "tags": ["ok", ""]}, FieldProblem("inputs.tags.1", "must not be empty")),
        (
            {"citizen_id": "C", "income": 2000},
            FieldProblem("inputs.income", "2000 is greater than the maximum of 1000"),
        ),
        ({}, FieldProblem("inputs", "'citizen_id' is a required property")),
    ],
)
def test_each_problem_names_its_field_without_quoting_the_value(inputs: dict[str, Any], expected: FieldProblem) -> None:
    assert problems(inputs) == [expected]


def test_unexpected_fields_are_named_in_64_characters_each() -> None:
    [problem] = problems({"citizen_id": "C", "k" * 10_000: 1, "colour": 2})

    assert problem.field == "inputs"
    assert "'colour'" in problem.problem
    assert "k" * 64 in problem.problem and "k" * 65 not in problem.problem


DATED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "as_of": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email"},
        "proposed_rules": {"type": "object"},
        "proposed_version": {"type": "integer"},
    },
    "not": {"required": ["proposed_rules", "proposed_version"]},
}


def dated_problems(inputs: dict[str, Any]) -> list[FieldProblem]:
    return input_problems(input_validator(DATED), inputs)


@pytest.mark.parametrize("as_of", ["2000-01-01", "2024-02-29", "1999-12-31", "9999-12-31"])
def test_a_real_date_written_yyyy_mm_dd_is_accepted(as_of: str) -> None:
    assert dated_problems({"as_of": as_of}) == []


@pytest.mark.parametrize(
    "as_of",
    ["2026-02-30", "2025-02-29", "2026-13-01", "0000-01-01", "20260101", "2026-W01-1", "2026-01-01\n", "2026-1-1",
     "2026-01-01T00:00:00", "٢٠٢٦-٠١-٠١", "x" * 10_000],
)  # fmt: skip
def test_a_date_that_is_not_a_real_yyyy_mm_dd_day_is_refused_without_quoting_it(as_of: str) -> None:
    assert dated_problems({"as_of": as_of}) == [FieldProblem("inputs.as_of", "must be a date, YYYY-MM-DD")]


def test_formats_other_than_date_stay_annotations() -> None:
    assert dated_problems({"contact": "not an address"}) == []


def test_a_date_of_the_wrong_type_is_the_type_keywords_problem() -> None:
    assert dated_problems({"as_of": 20260101}) == [FieldProblem("inputs.as_of", "20260101 is not of type 'string'")]


def test_inputs_that_may_not_come_together_are_named() -> None:
    assert dated_problems({"proposed_rules": {}, "proposed_version": 2}) == [
        FieldProblem("inputs", "must not give proposed_rules and proposed_version together")
    ]
    assert dated_problems({"proposed_version": 2}) == []
