"""Retrying a failed or cancelled run: a new run of the same template version with the same inputs, which
takes over the successes of the steps the old run completed and starts at the first step it did not.

Which successes: the old run's path as its journal and audit trail hold it, replayed by
recovery.plan_resume as for any run taken over, up to the first step that failed or never ran, and
before any step that fans out (its rows belong to the run that wrote them: the retry writes its own).
They are journalled with the retry's creation, in the same transaction, each naming the run it came
from (`reused_from`); the retry then starts as a run taken over does (recovery.py), which appends to
the audit trail each journalled attempt the trail lacks: so each reused step is an audit entry of the
retry, its output naming the old run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from civicflow.v1 import audit_pb2
from orchestrator.errors import RunConflictError, TemplateNotFoundError
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.recovery import plan_resume
from orchestrator.runs.replica import Replica
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import RETRYABLE, InstanceRecord, NewRun
from orchestrator.storage.step_journal import StepJournal
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry


class RetryDesk:
    def __init__(
        self, *, templates: TemplateRegistry, journal: StepJournal, audit: AuditClient, replica: Replica
    ) -> None:
        self._templates = templates
        self._journal = journal
        self._audit = audit
        self._replica = replica

    async def retry(self, old: InstanceRecord, *, actor: str) -> InstanceRecord:
        """The retry, started (or queued); RunConflictError if `old` may not be retried, saying why."""
        if old.status not in RETRYABLE:
            raise RunConflictError(
                f"run {old.instance_id} is {old.status}; only a failed or cancelled run can be retried"
            )
        if old.retried_by is not None:
            raise RunConflictError(f"run {old.instance_id} has been retried already, by run {old.retried_by}")
        try:
            template = await asyncio.to_thread(self._templates.version, old.template_id, old.template_version)
        except TemplateNotFoundError:
            raise RunConflictError(
                f"run {old.instance_id} cannot be retried: its template '{old.template_id}' version"
                f" {old.template_version} is no longer loaded"
            ) from None
        journal = await asyncio.to_thread(self._journal.attempts, old.instance_id)
        trail = await self._audit.entries(old.instance_id)
        run = NewRun(
            template_id=old.template_id,
            template_version=old.template_version,
            inputs=old.inputs,
            steps_total=template.steps_left(template.steps[0]),
            appealed_instance_id=old.appealed_instance_id,
            actor=actor,
            retry_of=old.instance_id,
            reused=tuple(reusable_successes(old, template, journal=journal, audit=trail)),
        )
        return await self._replica.retry(template, run)


def reusable_successes(
    old: InstanceRecord,
    template: LoadedTemplate,
    *,
    journal: Iterable[StepAttempt],
    audit: Iterable[audit_pb2.AuditEntry] = (),
) -> list[StepAttempt]:
    """The old run's successes a retry takes over, in path order, as the retry's first attempt of each step.

    Its journal and its audit trail together, as when a run is taken over: a step done moments before a
    cancellation may have reached only one of them, or neither (then it runs again).
    """
    reused: list[StepAttempt] = []
    for success in plan_resume(old, template, journal=journal, audit=audit).path:
        if template.steps[success.step_index].contract.fans_out:
            break
        reused.append(dataclasses.replace(success, attempt=1, reused_from=old.instance_id))
    return reused
