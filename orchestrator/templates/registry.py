"""Loads every template file of a directory, checks it against the task types, and serves it by id."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from pydantic import BaseModel, ValidationError

from civicflow.auth.principals import Role
from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import shown
from orchestrator.errors import InputValidationError, TemplateError, TemplateNotFoundError
from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.input_schema import input_problems, input_validator
from orchestrator.templates.model import INPUTS_PREFIX, StepSpec, WorkflowTemplate
from orchestrator.templates.step_policy import FailureTolerance


@dataclass(frozen=True)
class CompiledStep:
    index: int
    spec: StepSpec
    contract: TaskContract
    config: BaseModel
    tolerance: FailureTolerance

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
    steps: tuple[CompiledStep, ...]
    validator: Validator

    @property
    def template_id(self) -> str:
        return self.model.template_id

    @property
    def allowed_roles(self) -> frozenset[Role]:
        return self.model.allowed_roles

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

    def roles_of(self, template_id: str) -> frozenset[Role]:
        """The roles of a template's runs; none for a template no longer loaded (admins and auditors still read)."""
        template = self._templates.get(template_id)
        return template.allowed_roles if template is not None else frozenset()

    def __iter__(self) -> Iterator[LoadedTemplate]:
        return iter(sorted(self._templates.values(), key=lambda t: t.template_id))


def _load_file(path: Path, tasks: Mapping[str, TaskContract]) -> LoadedTemplate:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TemplateError(f"{path}: not readable JSON: {error}") from error
    try:
        model = WorkflowTemplate.model_validate(document)
    except ValidationError as error:
        raise TemplateError(f"{path}: {_describe(error)}") from error
    steps = tuple(_compile_step(path, index, spec, tasks) for index, spec in enumerate(model.steps))
    _check_data_flow(path, model)
    return LoadedTemplate(source=path, model=model, steps=steps, validator=input_validator(model.input_schema))


def _compile_step(path: Path, index: int, spec: StepSpec, tasks: Mapping[str, TaskContract]) -> CompiledStep:
    where = f"{path}: steps[{index}] ('{spec.name}')"
    task = tasks.get(spec.task_type)
    if task is None:
        raise TemplateError(f"{where}: unknown task_type '{spec.task_type}' (known: {', '.join(sorted(tasks))})")
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
    tolerance = FailureTolerance.parse(spec.tolerated_failures)
    return CompiledStep(index=index, spec=spec, contract=task, config=config, tolerance=tolerance)


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


def _check_data_flow(path: Path, model: WorkflowTemplate) -> None:
    """Every reference must name a declared input or the output of an earlier step."""
    declared_inputs = set(model.input_schema.get("properties", {}))
    produced: set[str] = set()
    for index, step in enumerate(model.steps):
        for name, source in step.input_mapping.items():
            if source.startswith(INPUTS_PREFIX):
                if source.removeprefix(INPUTS_PREFIX) not in declared_inputs:
                    raise TemplateError(
                        f"{path}: steps[{index}].input_mapping.{name}: '{source}' is not in input_schema.properties"
                    )
            elif source not in produced:
                raise TemplateError(
                    f"{path}: steps[{index}].input_mapping.{name}: '{source}' is not produced by an earlier step"
                )
        for key in step.output_mapping.values():
            if key in produced:
                raise TemplateError(f"{path}: steps[{index}].output_mapping: '{key}' is already produced")
            produced.add(key)
    if model.decision_output is not None and model.decision_output.split(".")[0] not in produced:
        raise TemplateError(f"{path}: decision_output: '{model.decision_output}' is not produced by any step")


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
        for problem in error.errors()
    )
