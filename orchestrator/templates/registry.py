"""Loads every template file of a directory, checks it against the task types, and serves it by id."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from pydantic import BaseModel, ValidationError

from civicflow.auth.principals import Role
from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from orchestrator.errors import InputValidationError, TemplateError, TemplateNotFoundError
from orchestrator.tasks.contract import TaskContract
from orchestrator.tasks.switch import BRANCH_OUTPUT, DEFAULT_BRANCH, SWITCH_TASK, case_branch, switch_step_spec
from orchestrator.templates.data_flow import check_data_flow
from orchestrator.templates.input_schema import input_problems, input_validator
from orchestrator.templates.model import AnyStep, StepSpec, SwitchSpec, WorkflowTemplate
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
    """A template checked against the task types, ready to run."""

    source: Path
    model: WorkflowTemplate
    # Every step, nested ones included, by index.
    steps: tuple[CompiledStep, ...]
    validator: Validator

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


class TemplateRegistry:
    def __init__(self, templates: dict[str, LoadedTemplate]) -> None:
        self._templates = templates

    @classmethod
    def load_directory(cls, directory: Path, tasks: Mapping[str, TaskContract]) -> TemplateRegistry:
        """Loads every *.json file; refuses the whole directory if any file is wrong, naming each problem."""
        problems: list[str] = []
        templates: dict[str, LoadedTemplate] = {}
        paths = sorted(directory.glob("*.json"))
        if not paths:
            raise TemplateError(f"{directory}: no template files (*.json)")
        for path in paths:
            try:
                template = _load_file(path, tasks)
            except TemplateError as error:
                problems.append(str(error))
                continue
            if (other := templates.get(template.template_id)) is not None:
                problems.append(f"{path}: template_id '{template.template_id}' is already defined in {other.source}")
                continue
            templates[template.template_id] = template
        for template in templates.values():
            appeal = template.model.appeal_template
            if appeal is not None and appeal not in templates:
                problems.append(f"{template.source}: appeal_template: no template '{appeal}'")
        if problems:
            raise TemplateError("invalid templates:\n  " + "\n  ".join(problems))
        return cls(templates)

    def get(self, template_id: str) -> LoadedTemplate:
        try:
            return self._templates[template_id]
        except KeyError:
            raise TemplateNotFoundError(f"no template {shown(template_id)}") from None

    def version(self, template_id: str, version: str) -> LoadedTemplate:
        """The template a run started with: the one it finishes under, whatever is current now."""
        template = self._templates.get(template_id)
        if template is None or template.model.version != version:
            raise TemplateNotFoundError(f"no template {shown(template_id)} version {shown(version)}")
        return template

    def roles_of(self, template_id: str) -> frozenset[Role]:
        """The roles of a template's runs; none for a template no longer loaded (admins and auditors still read)."""
        template = self._templates.get(template_id)
        return template.allowed_roles if template is not None else frozenset()

    def __iter__(self) -> Iterator[LoadedTemplate]:
        return iter(sorted(self._templates.values(), key=lambda t: t.template_id))


def _load_file(path: Path, tasks: Mapping[str, TaskContract]) -> LoadedTemplate:
    try:
        document = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_without_duplicate_keys)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, DuplicateKeyError) as error:
        raise TemplateError(f"{path}: not readable JSON: {error}") from error
    try:
        model = WorkflowTemplate.model_validate(document)
    except ValidationError as error:
        raise TemplateError(f"{path}: {_describe(error)}") from error
    steps = _StepCompiler(path, tasks).compile(model.steps)
    check_data_flow(path, model, {step.spec.name: step.contract for step in steps})
    return LoadedTemplate(source=path, model=model, steps=steps, validator=input_validator(model.input_schema))


class DuplicateKeyError(ValueError):
    pass


def _without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice: json.loads would keep the last one silently (a switch's case)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKeyError(f"key '{key}' appears twice in one object")
        document[key] = value
    return document


class _StepCompiler:
    """Numbers the template's steps in document order and links each to the step that follows it."""

    def __init__(self, path: Path, tasks: Mapping[str, TaskContract]) -> None:
        self._path = path
        self._tasks = tasks
        # Document order: a switch, then its cases' steps, then its default's, then what follows it.
        self._order: dict[int, int] = {}
        self._where: dict[str, str] = {}
        self._compiled: list[CompiledStep] = []

    def compile(self, steps: list[AnyStep]) -> tuple[CompiledStep, ...]:
        self._number(steps, "steps")
        self._sequence(steps, "steps", then=None)
        return tuple(sorted(self._compiled, key=lambda step: step.index))

    def _number(self, steps: list[AnyStep], where: str) -> None:
        for position, spec in enumerate(steps):
            location = f"{where}[{position}]"
            if (other := self._where.get(spec.name)) is not None:
                raise TemplateError(f"{self._path}: {location}: step name '{spec.name}' is used by {other} too")
            self._where[spec.name] = location
            self._order[id(spec)] = len(self._order)
            if isinstance(spec, SwitchSpec):
                for value, branch in spec.cases.items():
                    self._number(branch, f"{location}.cases.{value}")
                self._number(spec.default, f"{location}.default")

    def _sequence(self, steps: list[AnyStep], where: str, *, then: int | None) -> int | None:
        """Compiles a list of steps that continues at `then`; the index of its first step (`then` if empty)."""
        indices = [self._order[id(spec)] for spec in steps]
        for position, spec in enumerate(steps):
            following = indices[position + 1] if position + 1 < len(indices) else then
            location = f"{where}[{position}]"
            if isinstance(spec, SwitchSpec):
                self._switch(spec, indices[position], location, following)
            else:
                self._compiled.append(self._task(spec, indices[position], location, following))
        return indices[0] if indices else then

    def _switch(self, spec: SwitchSpec, index: int, location: str, following: int | None) -> None:
        branches = {
            case_branch(value): self._sequence(branch, f"{location}.cases.{value}", then=following)
            for value, branch in spec.cases.items()
        }
        branches[DEFAULT_BRANCH] = self._sequence(spec.default, f"{location}.default", then=following)
        # An empty branch goes straight on: None, like a branch whose steps end where the switch's list goes on.
        branches = {name: (first if first != following else None) for name, first in branches.items()}
        step_spec = switch_step_spec(spec)
        contract = SWITCH_TASK
        self._compiled.append(
            CompiledStep(
                index=index,
                spec=step_spec,
                contract=contract,
                config=contract.config_model.model_validate(step_spec.config),
                tolerance=FailureTolerance.parse(0),
                location=location,
                next_index=following,
                branches=branches,
            )
        )

    def _task(self, spec: StepSpec, index: int, location: str, following: int | None) -> CompiledStep:
        where = f"{self._path}: {location} ('{spec.name}')"
        task = self._tasks.get(spec.task_type)
        if task is None or task is SWITCH_TASK:
            known = ", ".join(sorted(name for name, contract in self._tasks.items() if contract is not SWITCH_TASK))
            raise TemplateError(f"{where}: unknown task_type '{spec.task_type}' (known: {known})")
        given = set(spec.input_mapping)
        if missing := task.required_inputs - given:
            raise TemplateError(f"{where}: input_mapping lacks {sorted(missing)}")
        if unknown := given - task.required_inputs - task.optional_inputs:
            raise TemplateError(f"{where}: input_mapping names inputs the task does not take: {sorted(unknown)}")
        if unknown := set(spec.output_mapping) - task.outputs:
            raise TemplateError(f"{where}: output_mapping names outputs the task does not produce: {sorted(unknown)}")
        try:
            config = task.config_model.model_validate(spec.config)
        except ValidationError as error:
            raise TemplateError(f"{where}: config: {_describe(error)}") from error
        _check_policy(where, spec, task)
        return CompiledStep(
            index=index,
            spec=spec,
            contract=task,
            config=config,
            tolerance=FailureTolerance.parse(spec.tolerated_failures),
            location=location,
            next_index=following,
        )


def _check_policy(where: str, spec: StepSpec, task: TaskContract) -> None:
    """What pydantic cannot see: a policy that could never apply to its step."""
    if spec.tolerated_failures and not task.fans_out:
        raise TemplateError(
            f"{where}: tolerated_failures: only a step whose task fans out over items may tolerate failed items;"
            f" task '{task.task_type}' does not (remove the field or set it to 0)"
        )
    if spec.retry.max_attempts > 1 and not spec.retry.retryable:
        raise TemplateError(
            f"{where}: retry: max_attempts is {spec.retry.max_attempts} but retryable is empty, so no failure"
            " would ever be retried (list error kinds: timeout, unavailable, failed, internal)"
        )


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
        for problem in error.errors()
    )
