"""Switch steps: the steps a run takes depend on a value in its context; every mistake is named at load time."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from civicflow.settings import REPO_ROOT
from orchestrator.errors import TemplateError
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.tasks.contract import TaskContext
from orchestrator.tasks.switch import choose_branch
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry

SHIPPED = REPO_ROOT / "templates"


def _application() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SHIPPED / "benefit_application.json").read_text())
    document["appeal_template"] = None
    return document


def _load(tmp_path: Path, document: dict[str, Any] | str) -> LoadedTemplate:
    text = document if isinstance(document, str) else json.dumps(document)
    (tmp_path / "t0.json").write_text(text)
    return next(iter(TemplateRegistry.load_directory(tmp_path, TASK_CONTRACTS)))


def _refusal(tmp_path: Path, document: dict[str, Any] | str) -> str:
    with pytest.raises(TemplateError) as refused:
        _load(tmp_path, document)
    return str(refused.value)


def _switch(document: dict[str, Any]) -> dict[str, Any]:
    return next(step for step in document["steps"] if step.get("kind") == "switch")


def test_steps_are_numbered_in_document_order_and_each_knows_what_follows(tmp_path: Path) -> None:
    template = _load(tmp_path, _application())
    names = [(step.index, step.spec.name, step.location) for step in template.steps]
    assert names[4:] == [
        (4, "route_by_recommendation", "steps[4]"),
        (5, "caseworker_review", "steps[4].cases.NEEDS_REVIEW[0]"),
        (6, "record_final_decision", "steps[5]"),
    ]
    switch, review, final = template.steps[4:]
    assert template.step_after(switch, {"branch": "cases.NEEDS_REVIEW"}) is review
    assert template.step_after(switch, {"branch": "default"}) is final
    assert template.step_after(review, {}) is final and template.step_after(final, {}) is None
    # The longest path: the review's; once the switch has chosen the default, one step is left.
    assert (template.steps_left(template.steps[0]), template.steps_left(final), template.steps_left(None)) == (7, 1, 0)


def test_a_switch_chooses_its_case_by_the_value_and_the_default_otherwise(tmp_path: Path) -> None:
    switch = _load(tmp_path, _application()).steps[4]
    context = TaskContext(instance_id=uuid.uuid4(), call_timeout=1)

    def chosen(value: Any) -> dict[str, Any]:
        return asyncio.run(choose_branch({"value": value}, switch.config, context))

    assert chosen("NEEDS_REVIEW") == {
        "on": "recommendation.decision",
        "value": "NEEDS_REVIEW",
        "branch": "cases.NEEDS_REVIEW",
    }
    assert chosen("ELIGIBLE")["branch"] == chosen(None)["branch"] == "default"


def test_a_case_no_value_can_select_is_refused(tmp_path: Path) -> None:
    document = _application()
    cases = _switch(document)["cases"]
    cases["NEEDS_REVEIW"] = cases.pop("NEEDS_REVIEW")
    message = _refusal(tmp_path, document)
    assert "t0.json: steps[4].cases.NEEDS_REVEIW: step 'route_by_recommendation': can never be chosen" in message
    assert "recommendation.decision is one of ELIGIBLE, NEEDS_REVIEW, NOT_ELIGIBLE" in message


def test_a_default_no_value_can_reach_is_refused(tmp_path: Path) -> None:
    document = _application()
    switch = _switch(document)
    switch["cases"].update(ELIGIBLE=[], NOT_ELIGIBLE=[])
    switch["default"] = copy.deepcopy(switch["cases"]["NEEDS_REVIEW"])
    switch["default"][0]["name"] = "never_reviewed"
    assert (
        "steps[4].default: step 'route_by_recommendation': can never be chosen: the cases cover every value"
        in _refusal(tmp_path, document)
    )


def test_a_switch_on_a_path_nothing_produced_is_refused(tmp_path: Path) -> None:
    document = _application()
    _switch(document)["on"] = "verdict.decision"
    assert "steps[4].on: step 'route_by_recommendation': 'verdict.decision' is not produced" in _refusal(
        tmp_path, document
    )


def test_a_step_name_used_twice_anywhere_is_refused_naming_both_places(tmp_path: Path) -> None:
    document = _application()
    _switch(document)["cases"]["NEEDS_REVIEW"][0]["name"] = "make_decision"
    message = _refusal(tmp_path, document)
    assert "steps[4].cases.NEEDS_REVIEW[0].name: step 'make_decision': the name is used by steps[3] too" in message


def test_a_case_given_twice_is_refused(tmp_path: Path) -> None:
    text = json.dumps(_application()).replace('"cases": {', '"cases": {"NEEDS_REVIEW": [], ', 1)
    assert "key 'NEEDS_REVIEW' appears twice in one object" in _refusal(tmp_path, text)


def test_a_required_input_only_one_branch_produces_is_refused(tmp_path: Path) -> None:
    document = _application()
    final = document["steps"][-1]
    final["input_mapping"]["recommendation"] = "review"
    assert "steps[5].input_mapping.recommendation: step 'record_final_decision': 'review' is not produced on every" in (
        _refusal(tmp_path, document)
    )


def test_an_output_produced_in_a_branch_and_again_after_it_is_refused(tmp_path: Path) -> None:
    document = _application()
    document["steps"][-1]["output_mapping"]["decision"] = "review"
    assert "output_mapping.decision: step 'record_final_decision': 'review' is already produced" in _refusal(
        tmp_path, document
    )


def test_a_task_step_cannot_name_the_switch_task(tmp_path: Path) -> None:
    document = _application()
    document["steps"][-1]["task_type"] = "switch"
    assert "unknown task_type 'switch'" in _refusal(tmp_path, document)
