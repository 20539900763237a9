"""A step's failure policy is checked when its template is loaded; a policy that cannot apply is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from civicflow.launch.restart_policy import RestartPolicy
from civicflow.settings import REPO_ROOT
from orchestrator.errors import TemplateError
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry
from orchestrator.templates.step_policy import ErrorKind

SHIPPED = REPO_ROOT / "templates"
# Where impact_analysis's fan-out step sits among its steps.
FAN_OUT = 4


def _impact_with(tmp_path: Path, step_index: int, **policy: Any) -> TemplateRegistry:
    document = json.loads((SHIPPED / "impact_analysis.json").read_text())
    document["steps"][step_index].update(policy)
    (tmp_path / "impact_analysis.json").write_text(json.dumps(document))
    return TemplateRegistry.load_directory(tmp_path, TASK_CONTRACTS)


def _refusal(tmp_path: Path, step_index: int, **policy: Any) -> str:
    with pytest.raises(TemplateError) as refused:
        _impact_with(tmp_path, step_index, **policy)
    return str(refused.value)


def test_the_fan_out_step_is_where_these_tests_look_for_it() -> None:
    document = json.loads((SHIPPED / "impact_analysis.json").read_text())
    assert document["steps"][FAN_OUT]["task_type"] == "evaluate_population"


def test_shipped_templates_retry_transient_evaluator_failures_within_a_timeout() -> None:
    registry = TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS)
    for template_id, step_name in (("eligibility_check", "evaluate_rules"), ("impact_analysis", "evaluate_population")):
        step = next(s for s in registry.get(template_id).steps if s.spec.name == step_name)
        assert step.spec.retry.max_attempts > 1
        assert step.spec.retry.retryable == {ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE}
        assert step.spec.timeout_seconds is not None


# What a service takes from its launch to answering its first call, on the development machine (about 1 s for
# the evaluator), with room to spare: the shipped retries must outlast the launcher's restart delay plus this.
SERVICE_START_SECONDS = 2.0


def test_the_shipped_retries_outlast_a_restart_of_the_evaluator_by_the_launcher() -> None:
    registry = TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS)
    restart = RestartPolicy().backoff_seconds + SERVICE_START_SECONDS
    retrying = [
        step.spec
        for template in registry
        for step in template.steps
        if ErrorKind.UNAVAILABLE in step.spec.retry.retryable and step.spec.retry.max_attempts > 1
    ]
    assert {spec.name for spec in retrying} == {"evaluate_rules", "evaluate_population"}
    for spec in retrying:
        waited = sum(spec.retry.backoff_after(attempt) for attempt in range(1, spec.retry.max_attempts))
        assert waited >= restart, (spec.name, waited)


@pytest.mark.parametrize(
    ("declared", "allowed_of_500"), [(0, 0), (12, 12), (0.05, 25), (1.0, 500)], ids=["none", "count", "5%", "all"]
)
def test_a_fan_out_step_may_tolerate_a_count_or_a_fraction(
    tmp_path: Path, declared: float, allowed_of_500: int
) -> None:
    registry = _impact_with(tmp_path, FAN_OUT, tolerated_failures=declared)
    tolerance = registry.get("impact_analysis").steps[FAN_OUT].tolerance
    assert tolerance.allowed(500) == allowed_of_500


def test_tolerated_failures_on_a_step_that_does_not_fan_out_is_refused_naming_file_and_step(tmp_path: Path) -> None:
    message = _refusal(tmp_path, 1, tolerated_failures=3)
    assert "impact_analysis.json: " in message
    assert "steps[1].tolerated_failures: step 'fetch_scheme_rules'" in message
    assert "task 'fetch_scheme_rules' does not" in message


def test_retries_that_no_failure_could_trigger_are_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, FAN_OUT, retry={"max_attempts": 3, "retryable": []})
    assert f"steps[{FAN_OUT}].retry: step 'evaluate_population': max_attempts is 3 but retryable is empty" in message


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
        ({"retry": {"initial_backoff_seconds": -1}}, "retry.initial_backoff_seconds"),
        ({"retry": {"initial_backoff_seconds": 5, "max_backoff_seconds": 1}}, "max_backoff_seconds must not be less"),
        ({"retry": {"retryable": ["sometimes"]}}, "retry.retryable"),
        ({"retry": {"max_attempts": 2, "jitter": True}}, "retry.jitter"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"tolerated_failures": -1}, "tolerated_failures"),
        ({"tolerated_failures": 1.5}, "a fraction of items must be between 0 and 1"),
    ],
    ids=[
        "no-attempts",
        "negative-backoff",
        "backoff-bounds",
        "unknown-kind",
        "unknown-field",
        "zero-timeout",
        "negative-tolerance",
        "fraction-above-one",
    ],
)
def test_bad_policy_values_are_refused_naming_the_field(tmp_path: Path, policy: dict[str, Any], problem: str) -> None:
    message = _refusal(tmp_path, 3, **policy)
    assert "impact_analysis.json: " in message
    assert problem in message
