"""Templates are checked when loaded: a bad one is refused with its file and its problem named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from civicflow.settings import REPO_ROOT
from orchestrator.errors import InputValidationError, TemplateError, TemplateNotFoundError
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry

SHIPPED = REPO_ROOT / "templates"


def _shipped(name: str) -> dict[str, Any]:
    return json.loads((SHIPPED / f"{name}.json").read_text())


def _load(tmp_path: Path, *documents: dict[str, Any] | str) -> TemplateRegistry:
    for index, document in enumerate(documents):
        text = document if isinstance(document, str) else json.dumps(document)
        (tmp_path / f"t{index}.json").write_text(text)
    return TemplateRegistry.load_directory(tmp_path, TASK_CONTRACTS)


def _refusal(tmp_path: Path, *documents: dict[str, Any] | str) -> str:
    with pytest.raises(TemplateError) as refused:
        _load(tmp_path, *documents)
    return str(refused.value)


def test_shipped_templates_load() -> None:
    registry = TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS)
    assert [t.template_id for t in registry] == [
        "appeal_processing",
        "benefit_application",
        "eligibility_check",
        "impact_analysis",
    ]
    assert [s.spec.name for s in registry.get("eligibility_check").steps] == [
        "fetch_citizen",
        "fetch_scheme_rules",
        "evaluate_rules",
        "make_decision",
    ]
    assert [s.spec.name for s in registry.get("impact_analysis").steps] == [
        "load_beneficiaries",
        "fetch_scheme_rules",
        "fetch_proposed_version",
        "apply_proposed_rules",
        "evaluate_population",
        "build_impact_report",
    ]
    fetches = [s for s in registry.get("impact_analysis").steps if s.spec.task_type == "fetch_scheme_rules"]
    # Only the proposal may be a draft; the baseline is always a published version.
    assert [s.config.model_dump() for s in fetches] == [
        {"drafts": False, "named_only": False},
        {"drafts": True, "named_only": True},
    ]


def test_a_new_workflow_is_a_new_file(tmp_path: Path) -> None:
    document = _shipped("eligibility_check")
    document.update(template_id="quick_check", appeal_template=None)
    document["steps"] = document["steps"][:3]
    document["decision_output"] = "evaluation.decision"
    registry = _load(tmp_path, document)
    assert registry.get("quick_check").model.description


def test_unknown_template_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(TemplateNotFoundError):
        TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS).get("nope")


def test_duplicate_template_id_is_refused_naming_both_files(tmp_path: Path) -> None:
    document = _shipped("impact_analysis")
    message = _refusal(tmp_path, document, document)
    assert "t1.json" in message and "t0.json" in message and "already defined" in message


def test_unknown_task_type_is_refused_naming_file_and_step(tmp_path: Path) -> None:
    document = _shipped("impact_analysis")
    document["steps"][1]["task_type"] = "teleport"
    message = _refusal(tmp_path, document)
    assert "t0.json" in message and "steps[1]" in message and "unknown task_type 'teleport'" in message


def test_reference_to_output_no_earlier_step_produces_is_refused(tmp_path: Path) -> None:
    document = _shipped("impact_analysis")
    document["steps"][4]["input_mapping"]["rules"] = "rules_from_nowhere"
    assert "'rules_from_nowhere' is not produced by an earlier step" in _refusal(tmp_path, document)


def test_reference_to_undeclared_input_is_refused(tmp_path: Path) -> None:
    document = _shipped("impact_analysis")
    document["steps"][0]["input_mapping"]["population_size"] = "inputs.headcount"
    assert "'inputs.headcount' is not in input_schema.properties" in _refusal(tmp_path, document)


def test_missing_task_input_is_refused(tmp_path: Path) -> None:
    document = _shipped("eligibility_check")
    del document["steps"][2]["input_mapping"]["rules"]
    assert "steps[2].input_mapping: step 'evaluate_rules': lacks ['rules']" in _refusal(tmp_path, document)


def test_bad_step_config_is_refused(tmp_path: Path) -> None:
    document = _shipped("impact_analysis")
    document["steps"][4]["config"]["batch_size"] = 0
    assert "steps[4].config.batch_size: step 'evaluate_population':" in _refusal(tmp_path, document)


def test_structural_problems_are_named(tmp_path: Path) -> None:
    broken = copy.deepcopy(_shipped("eligibility_check"))
    del broken["steps"]
    broken["input_schema"] = {"type": "array"}
    message = _refusal(tmp_path, broken)
    assert "steps: Field required" in message and 'input_schema: Value error, must have "type": "object"' in message


def test_unreadable_json_is_refused(tmp_path: Path) -> None:
    assert "t0.json: line 1 column 2: not JSON" in _refusal(tmp_path, "{not json")


def test_inputs_get_defaults_and_every_problem_is_reported() -> None:
    template = TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS).get("impact_analysis")
    assert template.prepare_inputs({"scheme_name": "scheme_alpha"})["population_size"] == 500
    with pytest.raises(InputValidationError) as refused:
        template.prepare_inputs({"scheme_name": 7, "population_size": 1_000_001, "extra": True})
    assert len(refused.value.problems) == 3
    assert "inputs.population_size" in {p.field for p in refused.value.problems}
