"""Runs a template's steps in order, auditing every step, and records how the run ended."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.audit_log import AuditLog, StepRecord
from orchestrator.errors import DependencyUnavailableError, StepFailedError
from orchestrator.store import InstanceRecord, InstanceStore
from orchestrator.tasks.base import TaskContext
from orchestrator.template_model import INPUTS_PREFIX
from orchestrator.template_registry import CompiledStep, LoadedTemplate, TemplateRegistry

log = logging.getLogger(__name__)

ContextFactory = Callable[[uuid.UUID], TaskContext]


class WorkflowRunner:
    def __init__(
        self,
        *,
        templates: TemplateRegistry,
        store: InstanceStore,
        audit: AuditLog,
        task_context: ContextFactory,
    ) -> None:
        self._templates = templates
        self._store = store
        self._audit = audit
        self._task_context = task_context

    async def execute(self, template_id: str, raw_inputs: Any) -> InstanceRecord:
        """Validates the inputs (nothing is created when they are wrong), then runs the template to its end."""
        template = self._templates.get(template_id)
        return await self.run(template, template.prepare_inputs(raw_inputs))

    async def run(
        self,
        template: LoadedTemplate,
        inputs: dict[str, Any],
        *,
        appealed_instance_id: uuid.UUID | None = None,
    ) -> InstanceRecord:
        instance = await asyncio.to_thread(
            self._store.create,
            template_id=template.template_id,
            template_version=template.model.version,
            inputs=inputs,
            appealed_instance_id=appealed_instance_id,
        )
        instance_id = instance.instance_id
        log.info("run started", extra={"instance_id": str(instance_id), "template_id": template.template_id})
        task_context = self._task_context(instance_id)
        context: dict[str, Any] = {"inputs": inputs}
        try:
            for step in template.steps:
                error = await self._run_step(step, context, task_context)
                if error is not None:
                    return await self._finish(instance_id, outputs=None, error=f"step '{step.spec.name}' failed: {error}")
        except DependencyUnavailableError as error:
            # The step could not be audited: the run must not go on, and says why.
            await self._finish(instance_id, outputs=None, error=str(error))
            raise
        # The run's outputs are everything its steps produced.
        outputs = {key: value for key, value in context.items() if key != "inputs"}
        return await self._finish(instance_id, outputs=outputs, error=None)

    async def _run_step(self, step: CompiledStep, context: dict[str, Any], task_context: TaskContext) -> str | None:
        """Runs one step and audits it; returns the error that failed it, or None."""
        spec = step.spec
        started_at = datetime.now(UTC)
        step_input: dict[str, Any] = {}
        result: dict[str, Any] = {}
        error: str | None = None
        try:
            step_input = _resolve_inputs(spec.input_mapping, context)
            result = await step.task.run(step_input, step.config, task_context)
        except (StepFailedError, DependencyUnavailableError) as failure:
            error = str(failure)
        except Exception as failure:  # a defect in a task must fail its run, audited, not crash the server
            log.exception("step raised", extra={"instance_id": str(task_context.instance_id), "step": spec.name})
            error = f"internal error: {type(failure).__name__}: {failure}"
        await self._audit.append(
            StepRecord(
                instance_id=task_context.instance_id,
                step_name=spec.name,
                step_index=step.index,
                attempt=1,
                succeeded=error is None,
                started_at=started_at,
                completed_at=datetime.now(UTC),
                input=step_input,
                output=result,
                error=error or "",
            )
        )
        if error is None:
            for output_name, key in spec.output_mapping.items():
                if output_name in result:
                    context[key] = result[output_name]
        log.info(
            "step finished",
            extra={"instance_id": str(task_context.instance_id), "step": spec.name, "error": error},
        )
        return error

    async def _finish(self, instance_id: uuid.UUID, *, outputs: dict[str, Any] | None, error: str | None) -> InstanceRecord:
        instance = await asyncio.to_thread(self._store.finish, instance_id, outputs=outputs, error=error)
        log.info("run finished", extra={"instance_id": str(instance_id), "status": instance.status, "error": error})
        return instance


def _resolve_inputs(mapping: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, Any]:
    """What the step consumes, and nothing else: this is also what its audit entry records as input."""
    resolved: dict[str, Any] = {}
    inputs = context["inputs"]
    for name, source in mapping.items():
        if source.startswith(INPUTS_PREFIX):
            key = source.removeprefix(INPUTS_PREFIX)
            if key in inputs:  # an optional input the caller left out is simply not passed
                resolved[name] = inputs[key]
        elif source in context:
            resolved[name] = context[source]
        else:
            raise StepFailedError(f"input '{name}' needs '{source}', which no earlier step produced")
    return resolved
