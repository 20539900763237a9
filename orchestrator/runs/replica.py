"""This orchestrator process as one replica of several: the runs it drives, and the runs it takes over.

Every run is driven in a task of its own, apart from the request that started it: a synchronous
caller waits for the task, an asynchronous one does not, and a caller that goes away leaves
the run going. A run belongs to the replica holding its lease (leases.py). In the background
this replica renews its leases, and claims and resumes runs whose lease expired.

A run taken over more than `max_resume_attempts` times without finishing a step in between is
failed instead of taken over again: something keeps its replicas from driving it (leases.py).
While the audit service is out of reach, new runs are refused (UNAVAILABLE, nothing created);
the runs in flight wait for it (outages.py).

A run cancelled meanwhile (cancellation.py), by a request to this replica or another, is stopped within
`cancel_poll_seconds`: its task is cancelled, and it writes nothing more. A retry (retries.py) starts as a
run taken over does, from its journal: the steps it reuses are journalled already.

On shutdown it starts no step and claims no run any more, lets the steps in flight finish
within the grace period, and releases the leases of the runs it did not finish, so that
another replica resumes them at its next scan; the log names them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from civicflow.logs import bind_instance_id
from orchestrator import metrics
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import DependencyUnavailableError, LeaseLostError, RunHandedOverError, TemplateNotFoundError
from orchestrator.impact.admission import ImpactAdmission
from orchestrator.runs import idempotency
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.cancellation import CancelledRunStopper
from orchestrator.runs.outages import OutagePolicy
from orchestrator.runs.recorder import RunRecorder
from orchestrator.runs.recovery import Resumer
from orchestrator.runs.run_board import RunBoard
from orchestrator.runs.runner import RunState, WorkflowRunner
from orchestrator.storage.instance_records import InstanceRecord, NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.leases import LeaseStore
from orchestrator.storage.step_journal import StepJournal
from orchestrator.tasks.contract import TaskRegistry
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry

log = logging.getLogger(__name__)

Preparation = Callable[[], Awaitable[tuple[RunState, RunProgress] | None]]


class Replica:
    def __init__(
        self,
        *,
        settings: OrchestratorSettings,
        templates: TemplateRegistry,
        store: InstanceStore,
        journal: StepJournal,
        leases: LeaseStore,
        audit: AuditClient,
        tasks: TaskRegistry,
        admission: ImpactAdmission | None = None,
    ) -> None:
        self._settings = settings
        self._id = settings.replica_id
        self._templates = templates
        self._store = store
        self._journal = journal
        self._leases = leases
        self._audit = audit
        self._board = RunBoard()
        self._stopping = asyncio.Event()
        self._outages = OutagePolicy(limit_seconds=settings.dependency_outage_seconds)
        self._runner = WorkflowRunner(
            board=self._board,
            tasks=tasks,
            call_timeout=settings.downstream_timeout_seconds,
            stopping=self._stopping,
            outages=self._outages,
        )
        self._driving: dict[uuid.UUID, asyncio.Task[InstanceRecord | None]] = {}
        self._keeper: asyncio.Task[None] | None = None
        # Stops the runs driven here once they are cancelled, wherever the request went (cancellation.py).
        self._cancelled_runs = CancelledRunStopper(
            leases=leases, driving=self._driving, poll_seconds=settings.cancel_poll_seconds
        )
        # Impact analyses start through their queue (impact/admission.py); without one, they start at once.
        self._admission = admission
        self._resumer = Resumer(
            owner=self._id,
            templates=templates,
            store=store,
            journal=journal,
            audit=audit,
            lease_seconds=settings.run_lease_seconds,
            outages=self._outages,
        )

    async def start(self) -> None:
        """Takes over what a previous process with this replica id left, then keeps leases in the background.

        Only a replica id that was configured is taken as stable: a generated one is new with every process.
        """
        stable = "replica_id" in self._settings.model_fields_set
        await self._claim(previous_self=self._id if stable else None)
        self._keeper = asyncio.create_task(self._keep(), name="lease keeper")
        self._cancelled_runs.start()
        if self._admission is not None:
            self._admission.start_promoting(self._start_promoted, stopping=self._stopping)

    async def execute(
        self,
        template: LoadedTemplate,
        raw_inputs: Any,
        *,
        wait: bool,
        actor: str,
        idempotency_key: str | None = None,
    ) -> InstanceRecord:
        """Validates the inputs (nothing is created when they are wrong), starts the run, and waits for it or not."""
        inputs = template.prepare_inputs(raw_inputs)
        request_hash = None
        if idempotency_key is not None:
            mode = "sync" if wait else "async"
            request_hash = idempotency.fingerprint(
                "execute", template_id=template.template_id, inputs=inputs, mode=mode
            )
        instance = await self.submit(
            template,
            inputs,
            actor=actor,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            start_before_insert=wait and idempotency_key is None,
        )
        return await self.wait(instance.instance_id) if wait else instance

    async def submit(
        self,
        template: LoadedTemplate,
        inputs: dict[str, Any],
        *,
        appealed_instance_id: uuid.UUID | None = None,
        actor: str = "",
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        start_before_insert: bool = False,
    ) -> InstanceRecord:
        """Creates the run and starts driving it; with a key already used, answers that key's run instead.

        `start_before_insert` (no idempotency key: the INSERT cannot find an earlier run) starts
        the run while its INSERT commits, and answers before it has: only for a caller that waits
        for the run, whose answer then comes after the instance is stored. The run's pure steps
        (an eligibility check's all) overlap the INSERT; anything it writes waits for it.
        """
        self._refuse_new_runs()
        run = NewRun(
            template_id=template.template_id,
            template_version=template.model.version,
            inputs=inputs,
            steps_total=template.steps_left(template.steps[0]),
            appealed_instance_id=appealed_instance_id,
            actor=actor,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        if self._admission is not None and self._admission.controls(run.template_id):
            return await self._admit(run)
        persisted: asyncio.Future[Any] | None = None
        if start_before_insert:
            assert idempotency_key is None, "a run with an idempotency key may turn out to exist already"
            instance, persisted = run.unsaved_instance(), self._insert_alongside(run)
        else:
            instance, created = await self._create(run)
            if not created:
                assert idempotency_key is not None and request_hash is not None
                idempotency.ensure_same_request(instance, key=idempotency_key, request_hash=request_hash)
                log.info("repeated request", extra={"instance_id": str(instance.instance_id)})
                return self._board.live(instance.instance_id) or instance
        log.debug("run started", extra={"instance_id": str(instance.instance_id), "template_id": run.template_id})
        metrics.run_started(run.template_id)
        self._spawn(instance, functools.partial(_new_run, instance, template), persisted=persisted)
        return instance

    async def retry(self, template: LoadedTemplate, run: NewRun) -> InstanceRecord:
        """Creates a retry with the successes it reuses journalled, and drives it from the first step it does not
        reuse; an impact analysis goes through the queue like a new one (retries.py)."""
        self._refuse_new_runs()
        if self._admission is not None and self._admission.controls(run.template_id):
            return await self._admit(run)
        instance, _ = await self._create(run)
        log.info("retry started", extra={"instance_id": str(instance.instance_id), "retry_of": str(run.retry_of)})
        metrics.run_started(run.template_id)
        self._spawn(instance, functools.partial(self._resumer.prepare, instance))
        return instance

    def _refuse_new_runs(self) -> None:
        if self._stopping.is_set():
            raise DependencyUnavailableError("the orchestrator replica is shutting down; send the request again")
        if self._audit.unreachable:  # a run started now would only wait with the others
            raise DependencyUnavailableError("the audit service is unavailable; send the request again")

    async def _admit(self, run: NewRun) -> InstanceRecord:
        """An impact analysis: queued, then started here with the others the free slots let start, if any."""
        assert self._admission is not None
        admission = await self._admission.submit(run)
        if not admission.created:
            assert run.idempotency_key is not None and run.request_hash is not None
            idempotency.ensure_same_request(admission.instance, key=run.idempotency_key, request_hash=run.request_hash)
            return self._board.live(admission.instance.instance_id) or admission.instance
        metrics.run_started(run.template_id)
        self._start_promoted(admission.promoted)
        return self._board.live(run.instance_id) or admission.instance

    def _start_promoted(self, instances: list[InstanceRecord]) -> None:
        """Drives analyses this replica has just moved from the queue to running (it owns their leases)."""
        for instance in instances:
            if instance.instance_id not in self._driving:
                self._spawn(instance, functools.partial(self._prepare_promoted, instance))

    async def _prepare_promoted(self, instance: InstanceRecord) -> tuple[RunState, RunProgress] | None:
        try:
            # In a worker thread: a version this replica never loaded is read from the database.
            template: LoadedTemplate | None = await asyncio.to_thread(
                self._templates.version, instance.template_id, instance.template_version
            )
        except TemplateNotFoundError:
            template = None
        if template is None or instance.retry_of:
            # Queued under a version no replica recorded: never run under another definition. The
            # resumer fails the run, saying so, as it does for any run it cannot continue. A retry starts
            # from its journal, as a run taken over does.
            return await self._resumer.prepare(instance)
        return await _new_run(instance, template)

    async def _create(self, run: NewRun) -> tuple[InstanceRecord, bool]:
        return await asyncio.to_thread(
            self._store.create, run, owner=self._id, lease_seconds=self._settings.run_lease_seconds
        )

    def _insert_alongside(self, run: NewRun) -> asyncio.Future[tuple[InstanceRecord, bool]]:
        """The run's INSERT, going on while the run starts.

        The stored created_at stays the database's time of the INSERT, so the first step's
        started_at (the orchestrator's clock) may precede it by the INSERT's own duration.
        """
        insert = asyncio.ensure_future(self._create(run))

        def stored(done: asyncio.Future[tuple[InstanceRecord, bool]]) -> None:
            if done.cancelled() or done.exception() is not None:
                return  # the run raises it when it first needs the row
            live = self._board.live(run.instance_id)
            if live is not None:  # from here on, snapshots carry the stored row's creation time
                self._board.publish(dataclasses.replace(live, created_at=done.result()[0].created_at))

        insert.add_done_callback(stored)
        return insert

    async def wait(self, instance_id: uuid.UUID) -> InstanceRecord:
        """The run once it has ended or waits for a person, wherever it is driven."""
        task = self._driving.get(instance_id)
        if task is not None:
            try:
                finished = await asyncio.shield(task)
                if finished is not None:
                    return finished
            except RunHandedOverError:
                if self._stopping.is_set():
                    raise
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if (current is not None and current.cancelling()) or self._stopping.is_set():
                    raise
            # Another replica drives it now.
        async for snapshot in self.watch(instance_id):
            if snapshot.settled:
                return snapshot
        raise AssertionError("a watch ends with the run ended")

    def watch(self, instance_id: uuid.UUID) -> AsyncIterator[InstanceRecord]:
        return self._board.watch(
            instance_id, stored=self._stored, poll_seconds=self._settings.watch_poll_seconds, stopping=self._stopping
        )

    async def current(self, instance_id: uuid.UUID) -> InstanceRecord:
        """The run as it is now: the live snapshot if driven here, else as stored."""
        return self._board.live(instance_id) or await self._stored(instance_id)

    def cancelled(self, instance: InstanceRecord) -> None:
        """A run cancelled by a request to this replica: its watchers here see it at once, and if it is driven
        here it stops now rather than at the next poll."""
        self._board.publish(instance)
        self._cancelled_runs.stop_run(instance.instance_id)

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._admission is not None:
            await self._admission.stop_promoting(grace)
        driving = dict(self._driving)
        if driving:
            _, late = await asyncio.wait(driving.values(), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        # Only now: a run cancelled through another replica while this one drains stops within the poll, not the grace.
        await self._cancelled_runs.stop()
        left = [
            instance_id
            for instance_id, task in driving.items()
            if task.cancelled() or task.exception() is not None or task.result() is None
        ]
        released: list[uuid.UUID] = []
        if left:
            try:
                released = await asyncio.to_thread(self._leases.release, self._id, left)
            except DependencyUnavailableError as error:
                log.warning("could not release leases; they expire on their own", extra={"error": str(error)})
        log.info(
            "stopped driving runs",
            extra={
                "finished": len(driving) - len(left),
                "handed_over": [str(instance_id) for instance_id in released],
                "replica_id": self._id,
            },
        )

    def resume(self, instance: InstanceRecord) -> None:
        """Drives a run this replica has just taken back from waiting (its review was decided here)."""
        if self._stopping.is_set():
            return  # its lease runs out, and another replica resumes it
        log.info("resuming run after its review", extra={"instance_id": str(instance.instance_id)})
        self._spawn(instance, functools.partial(self._resumer.prepare, instance))

    def _spawn(
        self, instance: InstanceRecord, prepare: Preparation, *, persisted: asyncio.Future[Any] | None = None
    ) -> None:
        task = asyncio.create_task(self._drive(instance, prepare, persisted), name=f"run {instance.instance_id}")
        self._driving[instance.instance_id] = task
        task.add_done_callback(lambda done: self._forget(instance.instance_id, done))
        admission = self._admission
        if admission is not None and admission.controls(instance.template_id):
            task.add_done_callback(lambda _: admission.slot_freed())

    def _forget(self, instance_id: uuid.UUID, task: asyncio.Task[InstanceRecord | None]) -> None:
        if self._driving.get(instance_id) is task:
            del self._driving[instance_id]
        if not task.cancelled():
            task.exception()  # retrieved here: waiters, if any, got it through their shield

    async def _drive(
        self, instance: InstanceRecord, prepare: Preparation, persisted: asyncio.Future[Any] | None
    ) -> InstanceRecord | None:
        instance_id = instance.instance_id
        bind_instance_id(instance_id)  # this task's log lines, and those of the tasks it starts, name the run
        try:
            prepared = await prepare()
        except Exception:
            # Its lease runs out and it is taken over again, at most max_resume_attempts times (_claim).
            log.exception("run could not be resumed", extra={"instance_id": str(instance_id)})
            raise
        if prepared is None:
            return None
        state, progress = prepared
        self._board.publish(dataclasses.replace(instance, progress=progress))
        recorder = RunRecorder(
            instance_id=instance_id,
            owner=self._id,
            actor=instance.actor,
            progress=progress,
            store=self._store,
            journal=self._journal,
            audit=self._audit,
            lease_seconds=self._settings.run_lease_seconds,
            progress_flush_seconds=self._settings.progress_flush_seconds,
            linger=self._settings.record_linger_seconds,
            persisted=persisted,
            outages=self._outages,
        )
        try:
            return await self._runner.drive(state, recorder)
        except LeaseLostError:
            log.warning("run taken over by another replica", extra={"instance_id": str(instance_id)})
            raise RunHandedOverError(f"run {instance_id} is driven by another replica now") from None
        except RunHandedOverError:
            log.info("run handed over", extra={"instance_id": str(instance_id)})
            raise
        except DependencyUnavailableError as error:
            log.warning("run interrupted", extra={"instance_id": str(instance_id), "error": str(error)})
            raise
        finally:
            self._board.drop(instance_id)

    async def _keep(self) -> None:
        """Renews this replica's leases and resumes runs whose lease expired, until cancelled."""
        loop = asyncio.get_running_loop()
        heartbeat, scan = self._settings.lease_heartbeat_seconds, self._settings.resume_scan_seconds
        next_heartbeat, next_scan = loop.time() + heartbeat, loop.time() + scan
        while True:
            await asyncio.sleep(max(0.0, min(next_heartbeat, next_scan) - loop.time()))
            try:
                if loop.time() >= next_heartbeat:
                    next_heartbeat = loop.time() + heartbeat
                    await self._heartbeat()
                if loop.time() >= next_scan:
                    next_scan = loop.time() + scan
                    await self._claim()
            except DependencyUnavailableError as error:
                log.warning("lease upkeep failed; trying again", extra={"error": str(error)})

    async def _heartbeat(self) -> None:
        if not self._driving:
            return
        taken = await asyncio.to_thread(
            self._leases.renew, self._id, driving=list(self._driving), lease_seconds=self._settings.run_lease_seconds
        )
        for instance_id in taken:
            task = self._driving.get(instance_id)
            if task is not None:
                log.warning("lease lost; stopping the run here", extra={"instance_id": str(instance_id)})
                metrics.LEASES_LOST.inc()
                task.cancel()

    async def _claim(self, previous_self: str | None = None) -> None:
        if self._stopping.is_set():
            return
        limit = self._settings.max_resume_attempts
        failed = await asyncio.to_thread(
            self._leases.fail_unresumable,
            max_resumes=limit,
            error=f"the run could not be resumed: it was taken over {limit} times without finishing a step",
            driving=list(self._driving),
        )
        for instance_id in failed:
            log.error("run failed: taken over too often", extra={"instance_id": str(instance_id), "resumes": limit})
        claimed = await asyncio.to_thread(
            self._leases.claim_expired,
            self._id,
            lease_seconds=self._settings.run_lease_seconds,
            limit=self._settings.resume_batch,
            previous_self=previous_self,
            driving=list(self._driving),
        )
        for instance in claimed:
            if instance.instance_id not in self._driving:
                log.info("resuming run", extra={"instance_id": str(instance.instance_id)})
                metrics.LEASES_EXPIRED.inc()
                self._spawn(instance, functools.partial(self._recover, instance))

    async def _recover(self, instance: InstanceRecord) -> tuple[RunState, RunProgress] | None:
        """Prepares a run taken over after its lease expired; counted as recovered if it can go on."""
        prepared = await self._resumer.prepare(instance)
        if prepared is not None:
            metrics.RUNS_RECOVERED.labels(instance.template_id).inc()
        return prepared

    async def _stored(self, instance_id: uuid.UUID) -> InstanceRecord:
        return await asyncio.to_thread(self._store.get, instance_id)


async def _new_run(instance: InstanceRecord, template: LoadedTemplate) -> tuple[RunState, RunProgress]:
    return RunState.new(instance, template), instance.progress
