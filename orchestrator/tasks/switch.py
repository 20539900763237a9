"""The task behind a template's `switch` step: which branch the value at its `on` path chooses.

A switch is a step like any other in the journal and the audit trail (pure, so never held up by
the run's INSERT): its output names the branch taken, and what the run does next follows from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from civicflow.canonical_json import canonical_json
from orchestrator.tasks.contract import Task, TaskContext, TaskContract
from orchestrator.templates.model import StepSpec, SwitchSpec

SWITCH = "switch"
# The switch's output: the branch it chose, "cases.<value>" or "default".
BRANCH_OUTPUT = "branch"
DEFAULT_BRANCH = "default"
VALUE_INPUT = "value"


class SwitchConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    on: str
    cases: tuple[str, ...]


def case_branch(value: str) -> str:
    return f"cases.{value}"


def case_label(value: Any) -> str:
    """The case a value selects: a string is its own label, any other value its JSON text (true, 3, null)."""
    return value if isinstance(value, str) else canonical_json(value)


def switch_step_spec(spec: SwitchSpec) -> StepSpec:
    """The switch as the runner sees every step: a task reading one value, here the one at its `on` path."""
    return StepSpec(
        name=spec.name,
        task_type=SWITCH,
        input_mapping={VALUE_INPUT: spec.on},
        output_mapping={},
        config={"on": spec.on, "cases": tuple(spec.cases)},
    )


async def choose_branch(inputs: Mapping[str, Any], config: SwitchConfig, _context: TaskContext) -> dict[str, Any]:
    value = inputs.get(VALUE_INPUT)
    label = case_label(value)
    return {
        "on": config.on,
        VALUE_INPUT: value,
        BRANCH_OUTPUT: case_branch(label) if label in config.cases else DEFAULT_BRANCH,
    }


SWITCH_TASK = TaskContract(
    task_type=SWITCH,
    required_inputs=frozenset(),
    optional_inputs=frozenset({VALUE_INPUT}),
    outputs=frozenset(),
    config_model=SwitchConfig,
    pure=True,
)
CONTRACTS = (SWITCH_TASK,)


def tasks() -> tuple[Task, ...]:
    return (Task(SWITCH_TASK, choose_branch),)
