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

from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.model import INPUTS_PREFIX, AnyStep, SwitchSpec, WorkflowTemplate
from orchestrator.templates.problems import TemplateProblem


@dataclass
class _Produced:
    certain: set[str] = field(default_factory=set)
    possible: set[str] = field(default_factory=set)
    # Context key -> the contract and output name that produced it, for the values a field may take.
    origins: dict[str, tuple[TaskContract, str]] = field(default_factory=dict)

    def copy(self) -> _Produced:
        return _Produced(set(self.certain), set(self.possible), dict(self.origins))


class _DataFlow:
    def __init__(self, file: str, model: WorkflowTemplate, contracts: Mapping[str, TaskContract]) -> None:
        self._file = file
        self._inputs = set(model.input_schema.get("properties", {}))
        self._contracts = contracts
        self.problems: list[TemplateProblem] = []

    def _problem(self, location: str, step: str, message: str) -> None:
        self.problems.append(TemplateProblem(self._file, location, f"step '{step}': {message}"))

    def sequence(self, steps: list[AnyStep], where: str, produced: _Produced) -> _Produced:
        for position, step in enumerate(steps):
            location = f"{where}[{position}]"
            if isinstance(step, SwitchSpec):
                produced = self._switch(step, location, produced)
                continue
            # A step whose task type is unknown has had its problem reported: its outputs count as
            # produced, so that the steps after it are not blamed for it.
            contract = self._contracts.get(step.name)
            for name, source in step.input_mapping.items():
                required = contract is not None and name in contract.required_inputs
                self._readable(f"{location}.input_mapping.{name}", step.name, source, produced, required=required)
            for output_name, key in step.output_mapping.items():
                if key in produced.possible:
                    self._problem(f"{location}.output_mapping.{output_name}", step.name, f"'{key}' is already produced")
                produced.certain.add(key)
                produced.possible.add(key)
                if contract is not None:
                    produced.origins[key] = (contract, output_name)
        return produced

    def _switch(self, step: SwitchSpec, where: str, produced: _Produced) -> _Produced:
        self._readable(f"{where}.on", step.name, step.on, produced, required=True)
        values = self._values_at(step.on, produced)
        if values is not None:
            for case in step.cases:
                if case not in values:
                    self._problem(
                        f"{where}.cases.{case}",
                        step.name,
                        f"can never be chosen: {step.on} is one of {', '.join(sorted(values))}",
                    )
            if step.default and values <= set(step.cases):
                self._problem(
                    f"{where}.default",
                    step.name,
                    f"can never be chosen: the cases cover every value {step.on} can take",
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

    def _readable(self, where: str, step: str, source: str, produced: _Produced, *, required: bool) -> None:
        if source.startswith(INPUTS_PREFIX):
            if source.removeprefix(INPUTS_PREFIX) not in self._inputs:
                self._problem(where, step, f"'{source}' is not in input_schema.properties")
            return
        key = source.split(".", 1)[0]
        if key not in produced.possible:
            self._problem(where, step, f"'{source}' is not produced by an earlier step")
        elif required and key not in produced.certain:
            self._problem(where, step, f"'{source}' is not produced on every path to this step")

    def _values_at(self, source: str, produced: _Produced) -> frozenset[str] | None:
        key, _, rest = source.partition(".")
        origin = produced.origins.get(key)
        if origin is None:
            return None
        contract, output_name = origin
        return contract.output_values.get(f"{output_name}.{rest}" if rest else output_name)


def data_flow_problems(
    file: str, model: WorkflowTemplate, contracts: Mapping[str, TaskContract]
) -> list[TemplateProblem]:
    """Every reference that names neither a declared input nor an output produced before it on every path.

    `contracts`: each task step's contract, by step name (a step missing from it is not checked).
    """
    flow = _DataFlow(file, model, contracts)
    produced = flow.sequence(model.steps, "steps", _Produced())
    if model.decision_output is not None:
        key = model.decision_output.split(".")[0]
        if key not in produced.certain:
            flow.problems.append(
                TemplateProblem(
                    file,
                    "decision_output",
                    f"'{model.decision_output}' is not produced by every path through the steps"
                    if key in produced.possible
                    else f"'{model.decision_output}' is not produced by any step",
                )
            )
    return flow.problems
