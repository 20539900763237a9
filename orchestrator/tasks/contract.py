"""What a task is: a named, typed unit of work that templates refer to by `task_type`.

A task type has a contract (its inputs, outputs and config), which templates are checked
against without any service running, and a function, which a task module binds to the
services it uses (`eligibility.tasks(evaluator=..., schemes=...)`). The runner hands each
attempt only a TaskContext, which knows nothing of any particular kind of task.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from orchestrator.templates.step_policy import FAIL_FAST, NO_RETRY, FailureTolerance, RetryPolicy

# Called from the event loop as a step's items complete: (items done, items in all); must return at once.
ItemProgress = Callable[[int, int], None]


class NoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ignore_progress(_done: int, _total: int) -> None:
    pass


@dataclass(frozen=True)
class TaskContext:
    """What a task learns of the attempt it runs in; the services it uses were given to it when it was built."""

    instance_id: uuid.UUID
    # Deadline of each call the task makes to another service: the step's timeout, if shorter.
    call_timeout: float
    # The running step's policy, for tasks that fan out over items and retry or tolerate them one by one.
    retry: RetryPolicy = NO_RETRY
    tolerated_failures: FailureTolerance = FAIL_FAST
    attempt: int = 1
    report_items: ItemProgress = _ignore_progress
    # How long a task that waits out a dependency's outage itself (a fan-out's streams) may wait for it.
    outage_seconds: float = 300.0
    # When the run was submitted: what "today" means for it, however late a step runs or resumes.
    run_created_at: datetime | None = None
    # The step's place in its template and its name, and who submitted the run: for a task that keeps
    # something of its own per step of a run (a review task), and names who asked for it.
    step_index: int = 0
    step_name: str = ""
    actor: str = ""


TaskFunction = Callable[[Mapping[str, Any], Any, TaskContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class TaskContract:
    """What a template step using this task type is checked against when the template is loaded."""

    task_type: str
    required_inputs: frozenset[str]
    outputs: frozenset[str]
    optional_inputs: frozenset[str] = frozenset()
    config_model: type[BaseModel] = NoConfig
    # Only a task that fans out over items may declare tolerated_failures in a template.
    fans_out: bool = False
    # Reads and computes only, writing nowhere: it may run before its run's instance row has committed.
    pure: bool = False
    # Appends audit entries of its own to the run's trail (a review task's transitions): the run's earlier
    # attempts are audited before it runs, so that the trail reads in the order things happened.
    audits_itself: bool = False
    # The values some output fields can take, by dotted path ("decision.decision"): a template's switch on
    # such a field is checked against them (a case no value selects is refused).
    output_values: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A task type ready to run: its contract and its function, bound to the services it uses."""

    contract: TaskContract
    run: TaskFunction


class TaskRegistry:
    """Task types by name; registering a name twice is a programming error and refused."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._tasks: dict[str, Task] = {}
        for task in tasks:
            name = task.contract.task_type
            if name in self._tasks:
                raise ValueError(f"task type '{name}' is already registered")
            self._tasks[name] = task

    def contracts(self) -> dict[str, TaskContract]:
        return {name: task.contract for name, task in self._tasks.items()}

    def get(self, task_type: str) -> Task:
        return self._tasks[task_type]
