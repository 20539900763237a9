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
