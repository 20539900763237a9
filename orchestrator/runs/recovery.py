"""Resuming a run another replica left: reconcile its journal with its audit trail, then continue after it.

A replica can die between writing an attempt to one of the two records and writing it to the
other (recorder.py writes both without waiting on each other). The union of both is what
happened, so before a run goes on:

- an attempt in the journal but not in the audit trail is appended to the trail again, with the
  same idempotency key, so that at most one entry exists per attempt;
- an attempt in the audit trail but not in the journal is journalled, and if it succeeded its
  audit output (exactly the step's result) is adopted instead of running the step again.

So every step has exactly one success entry in the audit trail, however often the run resumed.
An attempt that was still running when its replica died left no record: it is run again under
the same attempt number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from civicflow.v1 import audit_pb2
from orchestrator.errors import TemplateNotFoundError
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.runner import RunState
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePlan:
    state: RunState
    progress: RunProgress
    # Journalled attempts the audit trail lacks, and audited attempts the journal lacks.
    to_audit: list[StepAttempt]
    to_journal: list[StepAttempt]


def plan_resume(
    instance: InstanceRecord,
    template: LoadedTemplate,
    *,
    journal: Iterable[StepAttempt],
    audit: Iterable[audit_pb2.AuditEntry],
) -> ResumePlan:
    journalled = {attempt.key: attempt for attempt in journal}
    audited = {
        (entry.record.step_index, entry.record.attempt): StepAttempt.from_audit(entry.record)
        for entry in audit
        if entry.record.step_index < len(template.steps)
    }
    known = {**audited, **journalled}  # the journal's own copy wins where both have an attempt
    state = RunState.new(instance, template)
    for step in template.steps:
        attempts = sorted((a for a in known.values() if a.step_index == step.index), key=lambda a: a.attempt)
        success = next((a for a in attempts if a.succeeded), None)
        if success is None:
            state.prior_failure = attempts[-1] if attempts else None
            break
        step.store_outputs(success.output, state.context)
        state.next_step = step.index + 1
    # Attempts after the step the run stops at cannot exist (steps run in order); any found are ignored.
    relevant = sorted((a for a in known.values() if a.step_index <= state.next_step), key=lambda a: a.key)
    return ResumePlan(
        state=state,
        progress=RunProgress(
            steps_completed=state.next_step,
            steps_total=len(template.steps),
            items_done=instance.progress.items_done,
            items_total=instance.progress.items_total,
        ),
        to_audit=[attempt for attempt in relevant if attempt.key not in audited],
        to_journal=[attempt for attempt in relevant if attempt.key not in journalled],
    )


@dataclass(frozen=True)
class Resumer:
    """Prepares a run this replica has just claimed: reconciles its records and says where to continue."""

    owner: str
    templates: TemplateRegistry
    store: InstanceStore
    journal: StepJournal
    audit: AuditClient
    lease_seconds: float

    async def prepare(self, instance: InstanceRecord) -> tuple[RunState, RunProgress] | None:
        """The state to drive the run from, or None if it cannot go on (then it has been failed, saying why)."""
        instance_id = instance.instance_id
        try:
            template: LoadedTemplate | None = self.templates.get(instance.template_id)
        except TemplateNotFoundError:
            template = None
        if template is None or template.model.version != instance.template_version:
            # Steps of one definition must not be continued under another.
            here = f"version {template.model.version}" if template is not None else "no such template"
            error = (
                f"cannot resume: the run was started with template '{instance.template_id}' version"
                f" {instance.template_version}, and this replica has {here}"
            )
            await asyncio.to_thread(
                self.store.finish,
                instance_id,
                owner=self.owner,
                outputs=None,
                error=error,
                attempts=[],
                progress=instance.progress,
            )
            log.warning("run failed on resume", extra={"instance_id": str(instance_id), "error": error})
            return None
        journal = await asyncio.to_thread(self.journal.attempts, instance_id)
        plan = plan_resume(instance, template, journal=journal, audit=await self.audit.entries(instance_id))
        if plan.to_audit:
            await self.audit.append(
                [attempt.audit_record(instance_id, actor=instance.actor) for attempt in plan.to_audit]
            )
        if plan.to_journal:
            await asyncio.to_thread(
                self.journal.record,
                instance_id,
                owner=self.owner,
                attempts=plan.to_journal,
                progress=plan.progress,
                lease_seconds=self.lease_seconds,
            )
        log.info(
            "run resumed",
            extra={
                "instance_id": str(instance_id),
                "next_step": plan.state.next_step,
                "audited_again": len(plan.to_audit),
                "adopted_from_audit": len(plan.to_journal),
            },
        )
        return plan.state, plan.progress
