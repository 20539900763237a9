"""The command line's inputs: KEY=VALUE typed by the template's schema, dotted keys, files; mistakes exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from civicflow.settings import REPO_ROOT
from civicflow_cli.arguments import build_parser
from civicflow_cli.inputs import UsageError, merge_assignments, read_json_object

IMPACT_SCHEMA: dict[str, Any] = json.loads((REPO_ROOT / "templates" / "impact_analysis.json").read_text())[
    "input_schema"
]
CHECK_SCHEMA = {"type": "object", "properties": {"citizen_id": {"type": "string"}, "scheme_name": {"type": "string"}}}


def test_values_are_typed_as_the_schema_says() -> None:
    inputs = merge_assignments(
        {},
        ["scheme_name=scheme_alpha", "population_size=1000", 'proposed_rules={"max_income": 200000}'],
        IMPACT_SCHEMA,
    )
    assert inputs == {"scheme_name": "scheme_alpha", "population_size": 1000, "proposed_rules": {"max_income": 200000}}


def test_a_string_input_stays_text_even_when_it_looks_like_json() -> None:
    assert merge_assignments({}, ["citizen_id=123", "scheme_name=null"], CHECK_SCHEMA) == {
        "citizen_id": "123",
        "scheme_name": "null",
    }


def test_without_a_schema_json_is_parsed_and_anything_else_is_text() -> None:
    assert merge_assignments({}, ["income=240000", "category=sc", "note=a=b"], None) == {
        "income": 240000,
        "category": "sc",
        "note": "a=b",
    }


def test_dotted_keys_set_nested_fields_on_top_of_a_file() -> None:
    base = {"scheme_name": "scheme_beta", "proposed_rules": {"min_age": 21}}
    inputs = merge_assignments(base, ["proposed_rules.max_income=150000", "scheme_name=scheme_alpha"], IMPACT_SCHEMA)

    assert inputs == {"scheme_name": "scheme_alpha", "proposed_rules": {"min_age": 21, "max_income": 150000}}
    assert base == {"scheme_name": "scheme_beta", "proposed_rules": {"min_age": 21}}


@pytest.mark.parametrize("assignment", ["population_size", "=5", "proposed_rules..max_income=1"])
def test_an_assignment_that_is_not_key_value_is_a_usage_error(assignment: str) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        merge_assignments({}, [assignment], IMPACT_SCHEMA)


def test_a_nested_key_under_a_plain_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="proposed_rules is already set"):
        merge_assignments({}, ["proposed_rules=5", "proposed_rules.max_income=1"], IMPACT_SCHEMA)


def test_an_inputs_file_must_hold_a_json_object(tmp_path: Path) -> None:
    good, listed, broken = tmp_path / "good.json", tmp_path / "list.json", tmp_path / "broken.json"
    good.write_text('{"citizen_id": "CIT-1"}')
    listed.write_text("[1, 2]")
    broken.write_text("{citizen_id")

    assert read_json_object(str(good)) == {"citizen_id": "CIT-1"}
    with pytest.raises(UsageError, match="must hold a JSON object, not list"):
        read_json_object(str(listed))
    with pytest.raises(UsageError, match="is not valid JSON"):
        read_json_object(str(broken))
    with pytest.raises(UsageError, match="cannot read"):
        read_json_object(str(tmp_path / "missing.json"))


def test_global_options_may_follow_the_command() -> None:
    before = build_parser().parse_args(["--json", "--url", "http://x:1", "templates"])
    after = build_parser().parse_args(["templates", "--json", "--url", "http://x:1"])
    neither = build_parser().parse_args(["templates"])

    assert (before.json, before.url) == (after.json, after.url) == (True, "http://x:1")
    assert (neither.json, neither.url, neither.timeout) == (False, None, 660.0)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["show", "not-a-uuid"],
        ["results", "6f1c1f7e-3a52-4b0b-9f7e-1d3c2b1a0f00", "--limit", "0"],
        ["run", "eligibility_check", "--sync", "--detach"],
        ["frobnicate"],
    ],
)
def test_a_malformed_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: civicflow" in capsys.readouterr().err
