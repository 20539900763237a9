"""Resuming a run another replica left: reconcile its journal with its audit trail, then continue after it.

A replica can die between writing an attempt to one of the two records and writing it to the
other (recorder.py writes both without waiting on each other). The union of both is what
happened, so before a run goes on:

- an attempt in the journal but not in the audit trail is appended to the trail again, with the
  same idempotency key, so that at most one entry exists per attempt;
- an attempt in the audit trail but not in the journal is journalled, and if it succeeded its
  audit output (exactly the step's result) is adopted instead of running the step again.

So every step has exactly one success entry in the audit trail, however often the run resumed.
The audit trail is trusted only as far as the orchestrator wrote it: see plan_resume.
An attempt that was still running when its replica died left no record: it is run again under
the same attempt number, unless an entry the run does not adopt holds that number's key already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from civicflow.v1 import audit_pb2
from orchestrator.errors import StepFailedError, TemplateNotFoundError
from orchestrator.reviews.audit_records import is_step_event
from orchestrator.runs.audit_client import ORCHESTRATOR, AuditClient
from orchestrator.runs.outages import DEFAULT_OUTAGES, OutagePolicy, outlasting
from orchestrator.runs.runner import RunState, resolve_inputs
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal
from orchestrator.templates.registry import CompiledStep, LoadedTemplate, TemplateRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePlan:
    state: RunState
    progress: RunProgress
    # Journalled attempts the audit trail lacks, and audited attempts the journal lacks.
    to_audit: list[StepAttempt]
    to_journal: list[StepAttempt]
    # Audit entries of the run that were not trusted, and why: logged, never adopted.
    problems: list[str] = field(default_factory=list)


def plan_resume(
    instance: InstanceRecord,
    template: LoadedTemplate,
    *,
    journal: Iterable[StepAttempt],
    audit: Iterable[audit_pb2.AuditEntry],
) -> ResumePlan:
    """Where the run goes on, from what its journal and its audit trail hold.

    The journal is the orchestrator's own and always trusted. An audit entry is trusted only if
    the orchestrator appended it (its writer) and, where the journal has the same attempt, it
    is that attempt's record; an audited success the journal lacks is adopted only if its input
    is exactly what the step consumes at that point of the run. Any other entry is a problem:
    it is reported, never adopted, and its attempt number is not used again. So is an entry of a
    step the run has not reached (one after the step it goes on at, or in a branch of a switch it
    did not take: steps run in order, so it cannot be this run's record), whoever wrote it.
    """
    journalled = {attempt.key: attempt for attempt in journal}
    audited: dict[tuple[int, int], StepAttempt] = {}
    # Attempts only an untrusted entry speaks for: never adopted, their numbers never used again.
    untrusted: dict[tuple[int, int], str] = {}
    # Journalled attempts whose key an entry of other content holds: the journal's stands, and is not appended again.
    contradicted: dict[tuple[int, int], str] = {}
    # Where each audited attempt is in the trail, to name it.
    places: dict[tuple[int, int], str] = {}
    for entry in audit:
        record = entry.record
        key = (record.step_index, record.attempt)
        if record.step_index >= len(template.steps):
            continue
        if entry.writer == ORCHESTRATOR and is_step_event(record.step_name):
            continue  # a review task's transition: an event of its step, not an attempt
        where = places[key] = f"audit entry {entry.seq} (step '{record.step_name}', attempt {record.attempt})"
        if entry.writer != ORCHESTRATOR:
            problem = f"{where} was appended by {entry.writer or 'an unidentified writer'}, not the orchestrator"
        elif key in journalled and journalled[key].audit_record(instance.instance_id, actor=instance.actor) != record:
            problem = f"{where} differs from the attempt the journal holds"
        else:
            audited[key] = StepAttempt.from_audit(record)
            continue
        if key in journalled:
            contradicted[key] = problem
        else:
            untrusted[key] = problem
    state = RunState.new(instance, template)
    # The run's path: each step's trusted success, and the step it leads to, until a step without one.
    done: set[int] = set()
    step = template.steps[0] if template.steps else None
    while step is not None:
        attempts = sorted(
            (
                a
                for a in (*journalled.values(), *audited.values())
                if a.step_index == step.index and a.key not in untrusted
            ),
            key=lambda a: (a.attempt, a.key in journalled),
        )
        success = _trusted_success(step, attempts, journalled, state, untrusted)
        if success is None:
            failures = [a for a in attempts if a.key not in untrusted]
            state.prior_failure = failures[-1] if failures else None
            break
        step.store_outputs(success.output, state.context)
        done.add(step.index)
        state.steps_done += 1
        state.last_done = step.index
        step = template.step_after(step, success.output)
    state.next_step = step.index if step is not None else None
    # For every step not done, every attempt number the trail holds is taken: the run's attempts there are
    # numbered after them, so that none of its records is answered with an entry it did not write.
    for index, attempt in places:
        if index not in done:
            state.taken_attempts[index] = max(attempt, state.taken_attempts.get(index, 0))
        if index not in done and index != state.next_step and (index, attempt) in audited:
            untrusted[(index, attempt)] = (
                f"{places[(index, attempt)]} is of a step the run has not reached: not this run's record"
            )
    known = {**audited, **journalled}  # the journal's own copy wins where both have an attempt
    # Attempts of steps off the run's path cannot be its own (steps run in order): problems, above.
    relevant = sorted(
        (
            a
            for a in known.values()
            if (a.step_index in done or a.step_index == state.next_step) and a.key not in untrusted
        ),
        key=lambda a: a.key,
    )
    return ResumePlan(
        state=state,
        progress=state.progress_after(
            RunProgress(items_done=instance.progress.items_done, items_total=instance.progress.items_total)
        ),
        to_audit=[attempt for attempt in relevant if attempt.key not in audited and attempt.key not in contradicted],
        to_journal=[attempt for attempt in relevant if attempt.key not in journalled],
        problems=[*contradicted.values(), *untrusted.values()],
    )


def _trusted_success(
    step: CompiledStep,
    attempts: list[StepAttempt],
    journalled: Mapping[tuple[int, int], StepAttempt],
    state: RunState,
    untrusted: dict[tuple[int, int], str],
) -> StepAttempt | None:
    """The step's success to continue from: the journal's, or an audited one whose input is what the step consumes."""
    for attempt in attempts:
        if not attempt.succeeded:
            continue
        if attempt.key in journalled:
            return attempt
        try:
            expected = resolve_inputs(step.spec.input_mapping, state.context, optional=step.contract.optional_inputs)
        except StepFailedError:
            expected = None
        if attempt.input == expected:
            return attempt
        untrusted[attempt.key] = (
            f"the audited success of step '{step.spec.name}' (attempt {attempt.attempt}) consumed another input"
            " than the run's earlier steps produced"
        )
    return None


@dataclass(frozen=True)
class Resumer:
    """Prepares a run this replica has just claimed: reconciles its records and says where to continue."""

    owner: str
    templates: TemplateRegistry
    store: InstanceStore
    journal: StepJournal
    audit: AuditClient
    lease_seconds: float
    # Reading and reconciling the run's records waits out an outage of the database or the audit service.
    outages: OutagePolicy = DEFAULT_OUTAGES

    async def prepare(self, instance: InstanceRecord) -> tuple[RunState, RunProgress] | None:
        """The state to drive the run from, or None if it cannot go on (then it has been failed, saying why)."""
        instance_id = instance.instance_id
        try:
            # In a worker thread: a version this replica never loaded is read from the database.
            template: LoadedTemplate | None = await asyncio.to_thread(
                self.templates.version, instance.template_id, instance.template_version
            )
            missing = ""
        except TemplateNotFoundError as not_found:
            template, missing = None, str(not_found)
        if template is None:
            # Steps of one definition must not be continued under another.
            error = (
                f"cannot resume: the run was started with template '{instance.template_id}' version"
                f" {instance.template_version}, which cannot be had here ({missing})"
            )
            await outlasting(
                lambda: asyncio.to_thread(
                    self.store.finish,
                    instance_id,
                    owner=self.owner,
                    outputs=None,
                    error=error,
                    attempts=[],
                    progress=instance.progress,
                ),
                policy=self.outages,
            )
            log.warning("run failed on resume", extra={"instance_id": str(instance_id), "error": error})
            return None
        journal = await outlasting(lambda: asyncio.to_thread(self.journal.attempts, instance_id), policy=self.outages)
        trail = await outlasting(lambda: self.audit.entries(instance_id), policy=self.outages)
        plan = plan_resume(instance, template, journal=journal, audit=trail)
        if plan.to_audit:
            await self.audit.append(
                [attempt.audit_record(instance_id, actor=instance.actor) for attempt in plan.to_audit]
            )
        if plan.to_journal:
            await outlasting(
                lambda: asyncio.to_thread(
                    self.journal.record,
                    instance_id,
                    owner=self.owner,
                    attempts=plan.to_journal,
                    progress=plan.progress,
                    lease_seconds=self.lease_seconds,
                ),
                policy=self.outages,
            )
        for problem in plan.problems:
            log.warning(
                "untrusted audit entry not adopted", extra={"instance_id": str(instance_id), "problem": problem}
            )
        log.info(
            "run resumed",
            extra={
                "instance_id": str(instance_id),
                "next_step": plan.state.next_step,
                "audited_again": len(plan.to_audit),
                "adopted_from_audit": len(plan.to_journal),
                "untrusted_entries": len(plan.problems),
            },
        )
        return plan.state, plan.progress
