"""The limits every client value is held to: depth, text, numbers, and messages that never quote a value whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicflow.canonical_json import canonical_json
from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import (
    ECHO_LIMIT,
    MAX_JSON_DEPTH,
    MAX_PROBLEMS,
    MAX_SAFE_INTEGER,
    InvalidInputError,
    check_integer,
    json_problems,
    parse_json,
    shown,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_json_32_levels_deep_is_accepted_and_33_is_refused_at_the_level_too_deep() -> None:
    assert json_problems(nested(MAX_JSON_DEPTH), "inputs") == []
    assert json_problems(nested(MAX_JSON_DEPTH + 1), "inputs") == [
        FieldProblem("inputs" + ".a" * MAX_JSON_DEPTH, "must not be nested deeper than 32 levels")
    ]


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_json_text_of_any_depth_is_refused_without_recursion_error(depth: int) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_json("inputs_json", "[" * depth + "]" * depth)

    assert refused.value.problems[0].problem == "must not be nested deeper than 32 levels"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "must not contain NUL characters"),
        ("\ud800", "must not contain lone surrogates (not UTF-8)"),
        ("x" * 4097, "must be at most 4096 characters (got 4097)"),
        (float("inf"), "must be a finite number"),
        (float("nan"), "must be a finite number"),
        (1e308, f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"),
        (2**63, f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"),
        (-(2**53), f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"),
    ],
)
def test_a_value_past_a_limit_is_named_by_its_path(value: Any, problem: str) -> None:
    assert json_problems({"rules": [0, {"max": value}]}, "inputs") == [FieldProblem("inputs.rules[1].max", problem)]


def test_a_long_key_is_quoted_in_64_characters_and_its_length() -> None:
    [problem] = json_problems({"k" * 10_000: 1}, "inputs")

    assert problem.field == "inputs"
    assert "k" * ECHO_LIMIT in problem.problem and "k" * (ECHO_LIMIT + 1) not in problem.problem
    assert "(10000 characters)" in problem.problem


def test_a_million_problems_are_reported_as_the_first_few() -> None:
    assert len(json_problems(["\x00"] * 1_000_000, "inputs")) == MAX_PROBLEMS


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("NaN", "is not valid JSON (a number out of range)"),
        ("[Infinity]", "is not valid JSON (a number out of range)"),
        ("9" * 5_000, "is not valid JSON (a number out of range)"),
        ("{", "is not valid JSON (at line 1, column 2)"),
        ("1e400", "must be a finite number"),
        ('"\\u0000"', "must not contain NUL characters"),
    ],
)
def test_json_text_that_is_not_json_of_ours_names_the_field_in_our_words(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_json("inputs_json", text)

    assert refused.value.problems == [FieldProblem("inputs_json", problem)]


def test_shown_quotes_at_most_64_characters() -> None:
    assert shown("short") == "'short'"
    assert shown("x" * 20_000) == "'" + "x" * ECHO_LIMIT + "'… (20000 characters)"


def test_an_integer_outside_its_bounds_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_integer("offset", -1, minimum=0, maximum=10)

    assert str(refused.value) == "offset: must be between 0 and 10 (got -1)"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_what_passes_the_limits_has_a_canonical_json(value: Any) -> None:
    """The orchestrator hashes and stores what the edge let in: nothing that passes may break canonical JSON."""
    if not json_problems(value, "inputs"):
        assert json.loads(canonical_json(value)) == value
