"""The task types templates can use."""

from __future__ import annotations

from orchestrator.tasks import eligibility, impact
from orchestrator.tasks.base import TaskRegistry


def default_task_registry() -> TaskRegistry:
    registry = TaskRegistry()
    for task in (*eligibility.TASKS, *impact.TASKS):
        registry.register(task)
    return registry
