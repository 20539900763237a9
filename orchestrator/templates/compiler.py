"""Turns a template document into a LoadedTemplate, or into every problem that keeps it from being one.

One function (compile_document) checks a template wherever it is checked: a replica loading its
directory, a replica compiling a version another recorded, and `civicflow templates validate`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from rfc8785 import CanonicalizationError

from civicflow.canonical_json import canonical_json_bytes
from orchestrator.tasks.contract import TaskContract
from orchestrator.tasks.switch import DEFAULT_BRANCH, SWITCH_TASK, case_branch, switch_step_spec
from orchestrator.templates.data_flow import data_flow_problems
from orchestrator.templates.input_schema import input_validator
from orchestrator.templates.loaded import CompiledStep, LoadedTemplate
from orchestrator.templates.model import AnyStep, StepSpec, SwitchSpec, WorkflowTemplate
from orchestrator.templates.problems import TemplateProblem, validation_problems
from orchestrator.templates.step_policy import FailureTolerance


@dataclass(frozen=True)
class CompileResult:
    """A template, or the problems that refused it (never both)."""

    template: LoadedTemplate | None
    problems: tuple[TemplateProblem, ...]


def read_document(path: Path, *, name: str | None = None) -> tuple[Any, list[TemplateProblem]]:
    """The file's JSON, or the one problem that keeps it from being read (a file is read to its first error)."""
    file = name or str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, [TemplateProblem(file, "", f"cannot be read: {error.strerror or error}")]
    return decode_document(raw, file=file)


def decode_document(raw: bytes, *, file: str) -> tuple[Any, list[TemplateProblem]]:
    """A file's bytes as JSON, or the one problem that keeps them from being read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [TemplateProblem(file, "", "is not UTF-8 text")]
    return parse_document(text, file=file)


def parse_document(text: str, *, file: str) -> tuple[Any, list[TemplateProblem]]:
    try:
        return json.loads(text, object_pairs_hook=_without_duplicate_keys), []
    except json.JSONDecodeError as error:
        return None, [TemplateProblem(file, f"line {error.lineno} column {error.colno}", f"not JSON: {error.msg}")]
    except DuplicateKeyError as error:
        return None, [TemplateProblem(file, "", f"not JSON a template can use: {error}")]


def compile_document(document: Any, *, file: str, contracts: Mapping[str, TaskContract]) -> CompileResult:
    """Every check of a template: its shape, each step against its task type, and the data flow between steps."""
    try:
        model = WorkflowTemplate.model_validate(document)
    except ValidationError as error:
        # The steps that have their shape are still checked against their task types: one answer, every mistake.
        return CompileResult(None, (*validation_problems(file, error), *_step_problems(document, file, contracts)))
    try:
        digest = hashlib.sha256(canonical_json_bytes(document)).hexdigest()
    except CanonicalizationError as error:
        return CompileResult(None, (TemplateProblem(file, "", f"has no canonical JSON: {error}"),))
    compiler = _StepCompiler(file, contracts)
    steps = compiler.compile(model.steps)
    problems = compiler.problems + data_flow_problems(
        file, model, {step.spec.name: step.contract for step in steps if step.contract is not SWITCH_TASK}
    )
    if problems:
        return CompileResult(None, tuple(problems))
    template = LoadedTemplate(
        source=Path(file),
        model=model,
        steps=steps,
        validator=input_validator(model.input_schema),
        document=document,
        digest=digest,
    )
    return CompileResult(template, ())


def compile_file(path: Path, *, contracts: Mapping[str, TaskContract], name: str | None = None) -> CompileResult:
    """A template file read and compiled; `name` is how problems name the file (its path by default)."""
    document, problems = read_document(path, name=name)
    if problems:
        return CompileResult(None, tuple(problems))
    return compile_document(document, file=name or str(path), contracts=contracts)


def _step_problems(document: Any, file: str, contracts: Mapping[str, TaskContract]) -> list[TemplateProblem]:
    """The task-type problems of each step that is well formed, in a template that is not."""
    steps = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, list):
        return []
    compiler = _StepCompiler(file, contracts)
    for position, raw in enumerate(steps):
        try:
            spec = _ANY_STEP.validate_python(raw)
        except ValidationError:
            continue  # its problems are among the template's
        compiler.check_alone(spec, f"steps[{position}]")
    return compiler.problems


_ANY_STEP: TypeAdapter[AnyStep] = TypeAdapter(AnyStep)


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
    """Numbers the template's steps in document order and links each to the step that follows it.

    A step with problems is reported and left out; the others are still checked, so that one
    answer names every step that is wrong.
    """

    def __init__(self, file: str, tasks: Mapping[str, TaskContract]) -> None:
        self._file = file
        self._tasks = tasks
        # Document order: a switch, then its cases' steps, then its default's, then what follows it.
        self._order: dict[int, int] = {}
        self._where: dict[str, str] = {}
        self._compiled: list[CompiledStep] = []
        self.problems: list[TemplateProblem] = []

    def compile(self, steps: list[AnyStep]) -> tuple[CompiledStep, ...]:
        self._number(steps, "steps")
        self._sequence(steps, "steps", then=None)
        return tuple(sorted(self._compiled, key=lambda step: step.index))

    def check_alone(self, spec: AnyStep, location: str) -> None:
        """Checks a step (a switch: the steps in it) against its task type, outside any list of steps."""
        if isinstance(spec, SwitchSpec):
            for value, branch in spec.cases.items():
                for position, nested in enumerate(branch):
                    self.check_alone(nested, f"{location}.cases.{value}[{position}]")
            for position, nested in enumerate(spec.default):
                self.check_alone(nested, f"{location}.default[{position}]")
        else:
            self._task(spec, 0, location, None)

    def _problem(self, location: str, step: str, message: str) -> None:
        self.problems.append(TemplateProblem(self._file, location, f"step '{step}': {message}"))

    def _number(self, steps: list[AnyStep], where: str) -> None:
        for position, spec in enumerate(steps):
            location = f"{where}[{position}]"
            if (other := self._where.get(spec.name)) is not None:
                self._problem(f"{location}.name", spec.name, f"the name is used by {other} too")
            else:
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
            elif (step := self._task(spec, indices[position], location, following)) is not None:
                self._compiled.append(step)
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
        self._compiled.append(
            CompiledStep(
                index=index,
                spec=step_spec,
                contract=SWITCH_TASK,
                config=SWITCH_TASK.config_model.model_validate(step_spec.config),
                tolerance=FailureTolerance.parse(0),
                location=location,
                next_index=following,
                branches=branches,
            )
        )

    def _task(self, spec: StepSpec, index: int, location: str, following: int | None) -> CompiledStep | None:
        task = self._tasks.get(spec.task_type)
        if task is None or task is SWITCH_TASK:
            known = ", ".join(sorted(name for name, contract in self._tasks.items() if contract is not SWITCH_TASK))
            self._problem(f"{location}.task_type", spec.name, f"unknown task_type '{spec.task_type}' (known: {known})")
            return None
        found = len(self.problems)
        given = set(spec.input_mapping)
        if missing := task.required_inputs - given:
            self._problem(f"{location}.input_mapping", spec.name, f"lacks {sorted(missing)}")
        if unknown := given - task.required_inputs - task.optional_inputs:
            self._problem(
                f"{location}.input_mapping", spec.name, f"names inputs the task does not take: {sorted(unknown)}"
            )
        if unknown := set(spec.output_mapping) - task.outputs:
            self._problem(
                f"{location}.output_mapping", spec.name, f"names outputs the task does not produce: {sorted(unknown)}"
            )
        try:
            config = task.config_model.model_validate(spec.config)
        except ValidationError as error:
            self.problems.extend(validation_problems(self._file, error, within=f"{location}.config", step=spec.name))
        self._check_policy(spec, task, location)
        if len(self.problems) > found:
            return None
        return CompiledStep(
            index=index,
            spec=spec,
            contract=task,
            config=config,
            tolerance=FailureTolerance.parse(spec.tolerated_failures),
            location=location,
            next_index=following,
        )

    def _check_policy(self, spec: StepSpec, task: TaskContract, location: str) -> None:
        """What pydantic cannot see: a policy that could never apply to its step."""
        if spec.tolerated_failures and not task.fans_out:
            self._problem(
                f"{location}.tolerated_failures",
                spec.name,
                f"only a step whose task fans out over items may tolerate failed items; task '{task.task_type}'"
                " does not (remove the field or set it to 0)",
            )
        if spec.retry.max_attempts > 1 and not spec.retry.retryable:
            self._problem(
                f"{location}.retry",
                spec.name,
                f"max_attempts is {spec.retry.max_attempts} but retryable is empty, so no failure would ever be"
                " retried (list error kinds: timeout, unavailable, failed, internal)",
            )
