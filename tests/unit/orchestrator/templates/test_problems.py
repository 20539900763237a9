"""Every problem of a template file at once, each at its location: the stages of the checks do not stop at one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from civicflow.settings import REPO_ROOT
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.compiler import compile_document, compile_file

SHIPPED = REPO_ROOT / "templates"


def _application() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SHIPPED / "benefit_application.json").read_text())
    return document


def _locations(document: Any) -> list[tuple[str, str]]:
    result = compile_document(document, file="f.json", contracts=TASK_CONTRACTS)
    assert result.template is None
    return [(problem.location, problem.message) for problem in result.problems]


def test_every_step_problem_and_every_data_flow_problem_is_reported_in_one_answer() -> None:
    document = _application()
    document["steps"][0]["task_type"] = "consult_oracle"  # its outputs count as produced: no knock-on problems
    del document["steps"][2]["input_mapping"]["rules"]
    document["steps"][3]["input_mapping"]["citizen"] = "inputs.citizen"
    review = document["steps"][4]["cases"]["NEEDS_REVIEW"][0]
    review["config"] = {"candidate_role": "nobody", "sla_seconds": -1}
    document["steps"][5]["retry"] = {"max_attempts": 3, "retryable": []}

    problems = _locations(document)

    assert [location for location, _ in problems] == [
        "steps[0].task_type",
        "steps[2].input_mapping",
        "steps[4].cases.NEEDS_REVIEW[0].config.candidate_role",
        "steps[4].cases.NEEDS_REVIEW[0].config.sla_seconds",
        "steps[5].retry",
        "steps[3].input_mapping.citizen",
    ]
    assert "step 'fetch_citizen': unknown task_type 'consult_oracle'" in problems[0][1]
    assert problems[1][1] == "step 'evaluate_rules': lacks ['rules']"
    assert problems[-1][1] == "step 'make_decision': 'inputs.citizen' is not in input_schema.properties"


def test_shape_problems_come_with_the_task_problems_of_the_steps_that_have_their_shape() -> None:
    document = _application()
    del document["description"]
    document["steps"][1]["timeout_seconds"] = 0
    document["steps"][3]["task_type"] = "guess"

    assert [location for location, _ in _locations(document)] == [
        "description",
        "steps[1].timeout_seconds",
        "steps[3].task_type",
    ]


def test_a_file_that_is_not_json_is_one_problem_at_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{\n  "template_id": "x",\n  "version" "1"\n}')
    result = compile_file(path, contracts=TASK_CONTRACTS, name="t.json")
    assert [str(problem) for problem in result.problems] == [
        "t.json: line 3 column 13: not JSON: Expecting ':' delimiter"
    ]


def test_a_template_that_loads_has_the_digest_of_its_canonical_json() -> None:
    document = _application()
    reordered = dict(reversed(list(document.items())))
    first = compile_document(document, file="a.json", contracts=TASK_CONTRACTS).template
    second = compile_document(reordered, file="b.json", contracts=TASK_CONTRACTS).template
    assert first is not None and second is not None
    assert first.digest == second.digest and len(first.digest) == 64
    document["description"] += "."
    changed = compile_document(document, file="a.json", contracts=TASK_CONTRACTS).template
    assert changed is not None and changed.digest != first.digest
