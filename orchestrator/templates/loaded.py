"""A template compiled against the task types: its steps numbered and linked, ready to run."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from pydantic import BaseModel

from civicflow.auth.principals import Role
from civicflow.grpc_errors import FieldProblem
from orchestrator.errors import InputValidationError
from orchestrator.tasks.contract import TaskContract
from orchestrator.tasks.switch import BRANCH_OUTPUT, DEFAULT_BRANCH
from orchestrator.templates.input_schema import input_problems
from orchestrator.templates.model import StepSpec, WorkflowTemplate
from orchestrator.templates.step_policy import FailureTolerance


@dataclass(frozen=True)
class CompiledStep:
    """A step checked against its task type, with its place in the template's tree of steps.

    Steps are numbered in document order, nested ones included (a switch, then its cases, then its
    default): that number is the step's index in the journal and the audit trail.
    """

    index: int
    spec: StepSpec
    contract: TaskContract
    config: BaseModel
    tolerance: FailureTolerance
    # Where the step is in the file ("steps[4].cases.NEEDS_REVIEW[0]"), for messages.
    location: str = ""
    # The step that follows once this one is done: the next one in its list, or after the enclosing switch.
    next_index: int | None = None
    # A switch's branches ("cases.<value>", "default"): the first step of each, None for an empty one.
    branches: Mapping[str, int | None] = field(default_factory=dict)

    def store_outputs(self, result: dict[str, Any], context: MutableMapping[str, Any]) -> None:
        """Puts the task's mapped outputs into the run's context, under the keys the template chose."""
        for output_name, key in self.spec.output_mapping.items():
            if output_name in result:
                context[key] = result[output_name]


@dataclass(frozen=True)
class LoadedTemplate:
    """A template version checked against the task types, ready to run."""

    source: Path
    model: WorkflowTemplate
    # Every step, nested ones included, by index.
    steps: tuple[CompiledStep, ...]
    validator: Validator
    # The file's JSON as read, and SHA-256 (hex) of its canonical JSON: what a version is recorded as.
    document: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def template_id(self) -> str:
        return self.model.template_id

    @property
    def allowed_roles(self) -> frozenset[Role]:
        return self.model.allowed_roles

    def step_after(self, step: CompiledStep, output: Mapping[str, Any]) -> CompiledStep | None:
        """The step to run once `step` has succeeded with `output`; None when the run is done."""
        following = step.next_index
        if step.branches:
            chosen = step.branches.get(output.get(BRANCH_OUTPUT, DEFAULT_BRANCH))
            following = chosen if chosen is not None else step.next_index
        return self.steps[following] if following is not None else None

    def steps_left(self, step: CompiledStep | None) -> int:
        """The most steps a run can still take from `step` on (it included): its progress's remaining total."""
        return _longest_from(self.steps, step.index if step is not None else None)

    def prepare_inputs(self, raw: Any) -> dict[str, Any]:
        """The run's inputs with schema defaults filled in; every schema violation is reported at once."""
        if not isinstance(raw, dict):
            raise InputValidationError([FieldProblem("inputs", "must be a JSON object")])
        defaults = {
            name: prop["default"]
            for name, prop in self.model.input_schema.get("properties", {}).items()
            if isinstance(prop, dict) and "default" in prop
        }
        inputs = {**defaults, **raw}
        if problems := input_problems(self.validator, inputs):
            raise InputValidationError(problems)
        return inputs


def _longest_from(steps: tuple[CompiledStep, ...], index: int | None) -> int:
    count = 0
    while index is not None:
        step = steps[index]
        count += 1
        if step.branches:
            return count + max(
                _longest_from(steps, first if first is not None else step.next_index)
                for first in step.branches.values()
            )
        index = step.next_index
    return count
