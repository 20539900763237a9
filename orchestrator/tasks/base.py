"""What a task is: a named, typed unit of work that templates refer to by `task_type`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from civicflow.v1 import evaluator_pb2_grpc
from orchestrator.population import ItemProgress
from orchestrator.results_store import ImpactResultStore
from orchestrator.schemes import SchemeCatalog
from orchestrator.step_policy import FAIL_FAST, NO_RETRY, FailureTolerance, RetryPolicy


class NoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ignore_progress(_done: int, _total: int) -> None:
    pass


@dataclass(frozen=True)
class TaskContext:
    """What a task may use besides its inputs: the run it belongs to and the services around it."""

    instance_id: uuid.UUID
    evaluator: evaluator_pb2_grpc.EvaluatorServiceStub
    schemes: SchemeCatalog
    results: ImpactResultStore
    call_timeout: float
    # The running step's policy, for tasks that fan out over items and retry or tolerate them one by one.
    retry: RetryPolicy = NO_RETRY
    tolerated_failures: FailureTolerance = FAIL_FAST
    attempt: int = 1
    # Called from the event loop as items complete: (items done, items in all); must return at once.
    report_items: ItemProgress = _ignore_progress


TaskFunction = Callable[[Mapping[str, Any], Any, TaskContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Task:
    """A task type: its function and the contract a template step is checked against at load."""

    task_type: str
    run: TaskFunction
    required_inputs: frozenset[str]
    outputs: frozenset[str]
    optional_inputs: frozenset[str] = frozenset()
    config_model: type[BaseModel] = NoConfig
    # Only a task that fans out over items may declare tolerated_failures in a template.
    fans_out: bool = False
    # Reads and computes only, writing nowhere: it may run before its run's instance row has committed.
    pure: bool = False


class TaskRegistry:
    """Task types by name; registering a name twice is a programming error and refused."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def register(self, task: Task) -> None:
        if task.task_type in self._tasks:
            raise ValueError(f"task type '{task.task_type}' is already registered")
        self._tasks[task.task_type] = task

    def get(self, task_type: str) -> Task | None:
        return self._tasks.get(task_type)

    def names(self) -> list[str]:
        return sorted(self._tasks)
