"""Runs a template's steps in order under each step's policy (timeout, retries), recording every attempt.

An attempt that could not reach a dependency (outages.py) is made again once it is back, under
the same number: an outage spends none of the step's attempts, and leaves no record of its own.
Whatever else goes wrong unexpectedly, in a step or in recording or ending the run, ends the run
`failed`, audited with an error id whose details the log holds: no run is left `running`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator import metrics
from orchestrator.errors import (
    AuditUnavailableError,
    AwaitingReview,
    DependencyOutageError,
    DependencyUnavailableError,
    LeaseLostError,
    RunHandedOverError,
    StepFailedError,
)
from orchestrator.runs.attempt_failures import UNEXPECTED, classify, new_error_id, run_failure, unexpected
from orchestrator.runs.outages import DEFAULT_OUTAGES, Outage, OutagePolicy, unreachable_dependency
from orchestrator.runs.recorder import RunRecorder
from orchestrator.runs.run_board import RunBoard
from orchestrator.runs.step_attempts import ERROR_KIND_OUTPUT, StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, RunProgress
from orchestrator.tasks.contract import TaskContext, TaskRegistry
from orchestrator.templates.model import INPUTS_PREFIX
from orchestrator.templates.registry import CompiledStep, LoadedTemplate
from orchestrator.templates.step_policy import ErrorKind

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Where a run stands: what its steps produced so far, and the step to run next."""

    instance: InstanceRecord
    template: LoadedTemplate
    # "inputs" and the context key of every output an earlier step produced.
    context: dict[str, Any]
    # The index of the step to run next; None once every step on the run's path has succeeded.
    next_step: int | None = 0
    # Steps that succeeded so far: the run's path through its template's switches is as long as it turns out.
    steps_done: int = 0
    # The last of them, if any.
    last_done: int | None = None
    # The last attempt of next_step this run made before a crash (a failure: a success would have
    # moved next_step on). Numbering continues after it, and it may have been the last one allowed.
    prior_failure: StepAttempt | None = None
    # Per step not yet done, the highest attempt number that audit entries this run does not adopt
    # already hold (recovery.py): numbering continues after them too, since their idempotency keys are taken.
    taken_attempts: dict[int, int] = dataclasses.field(default_factory=dict)
    # The step being run and the highest attempt number it was given, for a record of a failure after it.
    at_step: int | None = None
    last_attempt: int = 0

    @classmethod
    def new(cls, instance: InstanceRecord, template: LoadedTemplate) -> RunState:
        return cls(instance=instance, template=template, context={"inputs": instance.inputs})

    @property
    def prior_attempts(self) -> int:
        """Attempt numbers of next_step already used."""
        return self.attempts_used(self.next_step) if self.next_step is not None else 0

    def attempts_used(self, step_index: int) -> int:
        """Attempt numbers of a step not yet done already used: its next attempt is the one after."""
        failure = self.prior_failure if self.prior_failure and self.prior_failure.step_index == step_index else None
        return max(failure.attempt if failure is not None else 0, self.taken_attempts.get(step_index, 0))

    def progress_after(self, progress: RunProgress) -> RunProgress:
        """`progress` with the steps done so far, out of as many as the run's path can still hold."""
        following = self.template.steps[self.next_step] if self.next_step is not None else None
        return dataclasses.replace(
            progress,
            steps_completed=self.steps_done,
            steps_total=self.steps_done + self.template.steps_left(following),
        )

    def outputs(self) -> dict[str, Any]:
        """The run's outputs: everything its steps produced."""
        return {key: value for key, value in self.context.items() if key != "inputs"}


class WorkflowRunner:
    def __init__(
        self,
        *,
        board: RunBoard,
        tasks: TaskRegistry,
        call_timeout: float,
        stopping: asyncio.Event,
        outages: OutagePolicy = DEFAULT_OUTAGES,
    ) -> None:
        self._board = board
        self._tasks = tasks
        self._outages = outages
        # Deadline of one call a task makes to another service, unless its step's timeout is shorter.
        self._call_timeout = call_timeout
        # Set when the replica shuts down: runs stop at the next step boundary and are handed over.
        self._stopping = stopping

    async def drive(self, state: RunState, recorder: RunRecorder) -> InstanceRecord:
        """Runs the remaining steps and finishes the run; RunHandedOverError if the replica stops first."""
        try:
            try:
                return await self._steps(state, recorder)
            except AuditUnavailableError as error:
                # A step that cannot be audited must not count: the run stops, failed, and says why.
                await self._finish(recorder, last=None, outputs=None, error=str(error), audited=False)
                raise
        except (RunHandedOverError, LeaseLostError, AuditUnavailableError):
            raise
        except DependencyUnavailableError:
            # Only the run's INSERT raises it here (stored records are written through outages): no run to end.
            raise
        except Exception as error:  # ending the run above may be what raised it
            return await self._fail_unexpectedly(state, recorder, error)
        finally:
            recorder.close()

    async def _fail_unexpectedly(self, state: RunState, recorder: RunRecorder, error: Exception) -> InstanceRecord:
        """Ends the run `failed` after an error nothing expected (or an outage of the database past its limit while
        the run was being recorded), with an audited record of it."""
        await recorder.persisted()  # a run whose INSERT failed was never stored: the request fails instead
        steps = state.template.steps
        # The step it was at, or about to run; or, with every step done, the last one the run took.
        index = next((i for i in (state.at_step, state.next_step, state.last_done) if i is not None), 0)
        step = steps[index]
        kind = ErrorKind.UNAVAILABLE if isinstance(error, DependencyOutageError) else ErrorKind.INTERNAL
        if isinstance(error, DependencyOutageError):  # the database stayed down while the run was being recorded
            message = f"step '{step.spec.name}' failed: {error}"
            log.error("run failed", extra={"instance_id": str(state.instance.instance_id), "error": message})
        else:
            error_id = new_error_id()
            log.error(
                "run failed unexpectedly",
                exc_info=error,
                extra={"instance_id": str(state.instance.instance_id), "step": step.spec.name, "error_id": error_id},
            )
            message = f"step '{step.spec.name}' failed: {unexpected(error_id)}"
        now = datetime.now(UTC)
        failure = StepAttempt(
            step_index=step.index,
            step_name=step.spec.name,
            # After every number this run may have given the step, so that its key is new.
            attempt=max(state.last_attempt if state.at_step == step.index else 0, state.attempts_used(step.index)) + 1,
            started_at=now,
            completed_at=now,
            input={},
            output={ERROR_KIND_OUTPUT: kind.value},
            error_kind=kind,
            error=message,
        )
        return self._ended(await recorder.fail(failure, error=message), error=message)

    async def _steps(self, state: RunState, recorder: RunRecorder) -> InstanceRecord:
        steps = state.template.steps
        if state.prior_failure is not None and state.next_step is not None:
            error = _no_attempt_left(steps[state.next_step], state.prior_failure)
            if error is not None:
                return await self._finish(recorder, last=None, outputs=None, error=error)
        while state.next_step is not None:
            step = steps[state.next_step]
            number = state.attempts_used(step.index) + 1
            while True:
                await self._hand_over_if_stopping(state, recorder)
                if step.contract.audits_itself:
                    await recorder.flush()
                elif not step.contract.pure:
                    await recorder.persisted()
                state.at_step, state.last_attempt = step.index, number
                try:
                    attempt, outlasted = await self._attempt(step, number, state, recorder)
                except AwaitingReview as awaiting:
                    parked = await self._park(state, recorder, awaiting.review_task_id)
                    if parked is not None:
                        return parked
                    continue  # decided meanwhile: the same attempt again finds the decision
                if outlasted:  # a dependency stayed down past the limit: no attempt would fare better
                    error = f"step '{step.spec.name}' failed: {attempt.error}"
                    return await self._finish(recorder, last=attempt, outputs=None, error=error)
                if attempt.succeeded:
                    step.store_outputs(attempt.output, state.context)
                    following = state.template.step_after(step, attempt.output)
                    state.steps_done += 1
                    state.last_done = step.index
                    state.next_step = following.index if following is not None else None
                    progress = state.progress_after(recorder.progress)
                    if following is None:
                        recorder.progress = progress
                        return await self._finish(recorder, last=attempt, outputs=state.outputs(), error=None)
                    recorder.record(attempt, progress)
                    self._board.update_progress(state.instance.instance_id, progress)
                    break
                error = _no_attempt_left(step, attempt)
                if error is not None:
                    return await self._finish(recorder, last=attempt, outputs=None, error=error)
                recorder.record(attempt, recorder.progress)
                await self._back_off(step.spec.retry.backoff_after(number))
                number += 1
        # Every step had succeeded before this replica took the run over: only the finish was missing.
        return await self._finish(recorder, last=None, outputs=state.outputs(), error=None)

    async def _park(self, state: RunState, recorder: RunRecorder, review_task_id: uuid.UUID) -> InstanceRecord | None:
        """Leaves the run waiting for its review task, holding nothing here; None if the task was decided meanwhile."""
        parked = await recorder.park(review_task_id, outputs=state.outputs())
        if parked is None:
            return None
        self._board.publish(parked)
        log.info(
            "run waits for a review",
            extra={"instance_id": str(parked.instance_id), "review_task_id": str(review_task_id)},
        )
        return parked

    async def _attempt(
        self, step: CompiledStep, number: int, state: RunState, recorder: RunRecorder
    ) -> tuple[StepAttempt, bool]:
        """The attempt, made again while a dependency it needs is down; and whether that outage outlasted its limit."""
        outage: Outage | None = None
        while True:
            attempt, failure = await self._try(step, number, state, recorder)
            dependency = unreachable_dependency(failure) if failure is not None else None
            if dependency is None:
                if outage is not None:
                    outage.healed()
                return attempt, isinstance(failure, DependencyOutageError)
            if outage is None or outage.dependency != dependency:
                if outage is None:
                    outage = Outage(self._outages, dependency)
                else:
                    # One clock per attempt: a step meeting one dependency down after another waits no longer in all.
                    outage.dependency = dependency
                log.warning(
                    "step waits for a dependency to come back",
                    extra={
                        "instance_id": str(state.instance.instance_id),
                        "step": step.spec.name,
                        "dependency": dependency,
                    },
                )
            try:
                await outage.wait(self._stopping)
            except DependencyOutageError as outlasted:
                return dataclasses.replace(attempt, error=str(outlasted)), True
            await self._hand_over_if_stopping(state, recorder)

    async def _try(
        self, step: CompiledStep, number: int, state: RunState, recorder: RunRecorder
    ) -> tuple[StepAttempt, Exception | None]:
        spec = step.spec
        instance_id = state.instance.instance_id

        def report_items(done: int, total: int) -> None:
            progress = dataclasses.replace(recorder.progress, items_done=done, items_total=total)
            recorder.note_items(progress)
            self._board.update_progress(instance_id, progress)

        context = TaskContext(
            instance_id=instance_id,
            retry=spec.retry,
            tolerated_failures=step.tolerance,
            attempt=number,
            report_items=report_items,
            call_timeout=min(self._call_timeout, spec.timeout_seconds or self._call_timeout),
            outage_seconds=self._outages.limit_seconds,
            run_created_at=state.instance.created_at,
            step_index=step.index,
            step_name=spec.name,
            actor=state.instance.actor,
        )
        run = self._tasks.get(step.spec.task_type).run
        started_at = datetime.now(UTC)
        step_input: dict[str, Any] = {}
        kind: ErrorKind | None = None
        error = ""
        failure: Exception | None = None
        try:
            step_input = resolve_inputs(spec.input_mapping, state.context, optional=step.contract.optional_inputs)
            async with asyncio.timeout(spec.timeout_seconds):
                output = await run(step_input, step.config, context)
        except AwaitingReview:
            raise
        except Exception as raised:
            failure = raised
            kind, error = classify(raised, timeout_seconds=spec.timeout_seconds)
            if error == UNEXPECTED:
                error_id = new_error_id()
                error = unexpected(error_id)
                log.error(
                    "step raised",
                    exc_info=raised,
                    extra={"instance_id": str(instance_id), "step": spec.name, "error_id": error_id},
                )
            log.info(
                "step attempt failed",
                extra={"instance_id": str(instance_id), "step": spec.name, "attempt": number, "error": error},
            )
            output = {ERROR_KIND_OUTPUT: kind.value}
        attempt = StepAttempt(
            step_index=step.index,
            step_name=spec.name,
            attempt=number,
            started_at=started_at,
            completed_at=datetime.now(UTC),
            input=step_input,
            output=output,
            error_kind=kind,
            error=error,
        )
        metrics.step_attempted(
            state.instance.template_id,
            spec.name,
            "succeeded" if kind is None else kind.value,
            (attempt.completed_at - started_at).total_seconds(),
        )
        return attempt, failure

    async def _finish(
        self,
        recorder: RunRecorder,
        *,
        last: StepAttempt | None,
        outputs: dict[str, Any] | None,
        error: str | None,
        audited: bool = True,
    ) -> InstanceRecord:
        instance = await recorder.finish(last=last, outputs=outputs, error=error, audited=audited)
        return self._ended(instance, error=error)

    def _ended(self, instance: InstanceRecord, *, error: str | None) -> InstanceRecord:
        self._board.publish(instance)
        metrics.run_finished(
            instance.template_id, instance.status, created_at=instance.created_at, completed_at=instance.completed_at
        )
        # The one line per run at INFO (its start is DEBUG): under load, logging is a visible share of a short run.
        log.info(
            "run finished",
            extra={
                "instance_id": str(instance.instance_id),
                "template_id": instance.template_id,
                "status": instance.status,
                "error": error,
                "duration_ms": _duration_ms(instance),
            },
        )
        return instance

    async def _hand_over_if_stopping(self, state: RunState, recorder: RunRecorder) -> None:
        if self._stopping.is_set():
            await recorder.flush()  # what is done stays done: the next replica continues after it
            raise RunHandedOverError(
                f"the orchestrator replica is shutting down; run {state.instance.instance_id} will be resumed by"
                " another replica"
            )

    async def _back_off(self, seconds: float) -> None:
        """Waits before the next attempt, but not past the start of a shutdown."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass


def _no_attempt_left(step: CompiledStep, failed: StepAttempt) -> str | None:
    """The run's error if the step's policy allows no attempt after `failed`; None if another may follow."""
    policy = step.spec.retry
    assert failed.error_kind is not None
    if policy.allows_another(attempt=failed.attempt, kind=failed.error_kind):
        return None
    return run_failure(
        step.spec.name, attempts=failed.attempt, kind=failed.error_kind, error=failed.error, policy=policy
    )


def resolve_inputs(
    mapping: Mapping[str, str], context: Mapping[str, Any], *, optional: Collection[str] = ()
) -> dict[str, Any]:
    """What the step consumes, and nothing else: this is also what its audit entry records as input.

    A source is a run input ("inputs.citizen_id"), a context key ("recommendation"), or a field inside
    one ("recommendation.decision": None where the field is missing). An optional input whose source
    is missing (a run input the caller left out, an output of a branch the run did not take) is left out.
    """
    resolved: dict[str, Any] = {}
    inputs = context["inputs"]
    for name, source in mapping.items():
        if source.startswith(INPUTS_PREFIX):
            key = source.removeprefix(INPUTS_PREFIX)
            if key in inputs:  # an optional input the caller left out is simply not passed
                resolved[name] = inputs[key]
            continue
        key, *fields = source.split(".")
        if key in context:
            value = context[key]
            for field in fields:
                value = value.get(field) if isinstance(value, Mapping) else None
            resolved[name] = value
        elif name not in optional:
            raise StepFailedError(f"input '{name}' needs '{source}', which no earlier step produced")
    return resolved


def _duration_ms(instance: InstanceRecord) -> float | None:
    if instance.completed_at is None:
        return None
    return round((instance.completed_at - instance.created_at).total_seconds() * 1000, 1)
