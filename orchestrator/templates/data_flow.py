"""What a template's steps read must exist when they run, on every path through its switches.

Walking the steps in order, the check keeps two sets of context keys: those produced on every
path to the current step, and those produced on some path. A required input must be among the
first; an optional one among the second (on a path that did not produce it, it is left out).
After a switch, a key is certain only if every branch produced it. A switch's value is read at
a path whose first part must be certain; where the task that produced it declares the values a
field can take, a case that can never be chosen, or a default that can never be, is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import TemplateError
from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.model import INPUTS_PREFIX, AnyStep, SwitchSpec, WorkflowTemplate


@dataclass
class _Produced:
    certain: set[str] = field(default_factory=set)
    possible: set[str] = field(default_factory=set)
    # Context key -> the contract and output name that produced it, for the values a field may take.
    origins: dict[str, tuple[TaskContract, str]] = field(default_factory=dict)

    def copy(self) -> _Produced:
        return _Produced(set(self.certain), set(self.possible), dict(self.origins))


class _DataFlow:
    def __init__(self, path: Path, model: WorkflowTemplate, contracts: Mapping[str, TaskContract]) -> None:
        self._path = path
        self._inputs = set(model.input_schema.get("properties", {}))
        self._contracts = contracts

    def sequence(self, steps: list[AnyStep], where: str, produced: _Produced) -> _Produced:
        for position, step in enumerate(steps):
            location = f"{self._path}: {where}[{position}] ('{step.name}')"
            if isinstance(step, SwitchSpec):
                produced = self._switch(step, f"{where}[{position}]", location, produced)
                continue
            contract = self._contracts[step.name]
            for name, source in step.input_mapping.items():
                self._readable(
                    f"{location}: input_mapping.{name}", source, produced, required=name in contract.required_inputs
                )
            for output_name, key in step.output_mapping.items():
                if key in produced.possible:
                    raise TemplateError(f"{location}: output_mapping: '{key}' is already produced")
                produced.certain.add(key)
                produced.possible.add(key)
                produced.origins[key] = (contract, output_name)
        return produced

    def _switch(self, step: SwitchSpec, where: str, location: str, produced: _Produced) -> _Produced:
        self._readable(f"{location}: on", step.on, produced, required=True)
        values = self._values_at(step.on, produced)
        if values is not None:
            for case in step.cases:
                if case not in values:
                    raise TemplateError(
                        f"{location}: cases.{case} can never be chosen: {step.on} is one of {', '.join(sorted(values))}"
                    )
            if step.default and values <= set(step.cases):
                raise TemplateError(
                    f"{location}: default can never be chosen: the cases cover every value {step.on} can take"
                )
        outcomes = [
            self.sequence(branch, f"{where}.cases.{case}", produced.copy()) for case, branch in step.cases.items()
        ]
        outcomes.append(self.sequence(step.default, f"{where}.default", produced.copy()))
        joined = _Produced(
            certain=set.intersection(*(outcome.certain for outcome in outcomes)),
            possible=set.union(*(outcome.possible for outcome in outcomes)),
        )
        for outcome in outcomes:
            joined.origins.update(outcome.origins)
        return joined

    def _readable(self, where: str, source: str, produced: _Produced, *, required: bool) -> None:
        if source.startswith(INPUTS_PREFIX):
            if source.removeprefix(INPUTS_PREFIX) not in self._inputs:
                raise TemplateError(f"{where}: '{source}' is not in input_schema.properties")
            return
        key = source.split(".", 1)[0]
        if key not in produced.possible:
            raise TemplateError(f"{where}: '{source}' is not produced by an earlier step")
        if required and key not in produced.certain:
            raise TemplateError(f"{where}: '{source}' is not produced on every path to this step")

    def _values_at(self, source: str, produced: _Produced) -> frozenset[str] | None:
        key, _, rest = source.partition(".")
        origin = produced.origins.get(key)
        if origin is None:
            return None
        contract, output_name = origin
        return contract.output_values.get(f"{output_name}.{rest}" if rest else output_name)


def check_data_flow(path: Path, model: WorkflowTemplate, contracts: Mapping[str, TaskContract]) -> None:
    """Every reference names a declared input or an output produced before it on every path (see above).

    `contracts`: each task step's contract, by step name.
    """
    produced = _DataFlow(path, model, contracts).sequence(model.steps, "steps", _Produced())
    if model.decision_output is not None:
        key = model.decision_output.split(".")[0]
        if key not in produced.certain:
            raise TemplateError(
                f"{path}: decision_output: '{model.decision_output}' is not produced by every path through the steps"
                if key in produced.possible
                else f"{path}: decision_output: '{model.decision_output}' is not produced by any step"
            )
