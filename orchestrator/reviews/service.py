"""What can be done with review tasks: create one for a run, list and read them, claim, unclaim, reassign,
decide; and, in the background, return lapsed claims to the queue and escalate overdue tasks.

Every transition is an audit entry of the run (audit_records.py), and a transition and its entry
never come apart: the row changes inside a transaction, the entry is appended, and only then does
the transaction commit (as for scheme versions, schemes/service.py). If the audit service cannot
be reached the transaction rolls back and the caller is told UNAVAILABLE: nothing changed.

Deciding a task also hands its run back: in the same transaction the run goes from `waiting` to
`running`, owned by this replica, which then drives it to its end (`on_resumed`). If this replica
dies first, its lease runs out and another replica resumes the run (runs/replica.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from civicflow.auth.access import Action, authorize
from civicflow.auth.principals import Principal, Role
from civicflow.v1 import audit_pb2
from orchestrator import metrics
from orchestrator.errors import (
    AuditUnavailableError,
    DatabaseUnavailableError,
    DependencyUnavailableError,
    ReviewConflictError,
    ReviewNotFoundError,
    StepFailedError,
)
from orchestrator.reviews.audit_records import SYSTEM_ACTOR, Transition, transition_record
from orchestrator.reviews.model import CLAIMED, DECIDED, OPEN, ReviewTask, checked_decision, checked_subject
from orchestrator.reviews.permissions import ReviewAction, authorize_review
from orchestrator.reviews.store import ReviewBusyError, ReviewTaskStore
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.outages import AUDIT_SERVICE
from orchestrator.storage.instance_records import InstanceRecord
from orchestrator.storage.threaded import held_in_threads

log = logging.getLogger(__name__)
T = TypeVar("T")
# Another change holding the task: how often to try again, and for how long beyond the audit deadline.
BUSY_POLL_SECONDS = 0.02
BUSY_MARGIN_SECONDS = 5.0
# Tasks per sweep transaction; a sweep goes on while batches come back full.
SWEEP_BATCH = 100
ME = "me"


class ReviewService:
    def __init__(
        self,
        store: ReviewTaskStore,
        audit: AuditClient,
        *,
        owner: str,
        claim_seconds: float,
        lease_seconds: float,
        audit_timeout: float,
        sweep_seconds: float,
    ) -> None:
        self._store = store
        self._audit = audit
        self._owner = owner
        self._claim_seconds = claim_seconds
        self._lease_seconds = lease_seconds
        self._audit_timeout = audit_timeout
        self._sweep_seconds = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None
        # Set by the replica: drives a run this service has just handed back to it.
        self.on_resumed: Callable[[InstanceRecord], None] = lambda _instance: None

    # For the human_review task.

    async def open_for_step(
        self,
        *,
        instance_id: uuid.UUID,
        step_index: int,
        step_name: str,
        recommendation: Mapping[str, Any],
        candidate_role: Role,
        submitted_by: str,
        sla_seconds: float,
    ) -> ReviewTask:
        """The step's task: created (and audited) the first time, found every time after."""
        existing = await asyncio.to_thread(self._store.for_step, instance_id, step_index)
        if existing is not None:
            return existing
        async with held_in_threads(self._store.transaction()) as connection:
            created = await asyncio.to_thread(
                self._store.create,
                connection,
                instance_id=instance_id,
                step_index=step_index,
                step_name=step_name,
                recommendation=recommendation,
                candidate_role=candidate_role.value,
                submitted_by=submitted_by,
                sla_seconds=sla_seconds,
            )
            if created is not None:
                try:
                    await self._audited(transition_record(created, Transition.CREATED, actor=submitted_by, at=_now()))
                except AuditUnavailableError as error:
                    # An outage the step waits out like any other (runs/outages.py), not a failure of the step.
                    raise DependencyUnavailableError(
                        "the audit service did not record the review task's creation", dependency=AUDIT_SERVICE
                    ) from error
        if created is not None:
            log.info(
                "review task created",
                extra={"instance_id": str(instance_id), "review_task_id": str(created.review_task_id)},
            )
            return created
        found = await asyncio.to_thread(self._store.for_step, instance_id, step_index)
        if found is None:  # no conflicting task: the run was cancelled before its task could be created
            raise StepFailedError(f"run {instance_id} is no longer running; its review task was not created")
        return found

    # Reads.

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        assignee: str | None,
        scheme_name: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[ReviewTask], int | None]:
        """A page of the queue and the offset of the next one (None on the last page)."""
        authorize(principal, Action.READ_REVIEWS)
        if assignee == ME:
            assignee = principal.subject
        rows = await asyncio.to_thread(
            self._store.page, status=status, assignee=assignee, scheme_name=scheme_name, offset=offset, limit=limit + 1
        )
        return rows[:limit], offset + limit if len(rows) > limit else None

    async def get(self, principal: Principal, review_task_id: uuid.UUID) -> ReviewTask:
        authorize(principal, Action.READ_REVIEWS)
        task = await asyncio.to_thread(self._store.get, review_task_id)
        if task is None:
            raise ReviewNotFoundError(f"no review task '{review_task_id}'")
        return task

    # A person's transitions.

    async def claim(self, principal: Principal, review_task_id: uuid.UUID) -> ReviewTask:
        async def claim(connection: sa.Connection, task: ReviewTask) -> ReviewTask:
            authorize_review(principal, task, ReviewAction.CLAIM)
            _refuse_finished(task)
            if task.status == CLAIMED and task.assignee != principal.subject:
                if not task.claim_lapsed:
                    raise ReviewConflictError(
                        f"review task {task.review_task_id} is claimed by '{task.assignee}' until"
                        f" {task.claim_expires_at:%Y-%m-%d %H:%M:%S} UTC"
                    )
                # Its claim lapsed before the sweep returned it: return it here, as the sweep would have.
                task = await self._transition(
                    connection, task, Transition.CLAIM_EXPIRED, actor=SYSTEM_ACTOR, status=OPEN, assignee=None
                )
            return await self._transition(
                connection,
                task,
                Transition.CLAIMED,
                actor=principal.subject,
                status=CLAIMED,
                assignee=principal.subject,
            )

        claimed = await self._change(review_task_id, claim)
        metrics.REVIEW_TIME_TO_CLAIM.labels(claimed.scheme_name).observe(_seconds_since(claimed.created_at))
        return claimed

    async def unclaim(self, principal: Principal, review_task_id: uuid.UUID) -> ReviewTask:
        async def unclaim(connection: sa.Connection, task: ReviewTask) -> ReviewTask:
            _refuse_finished(task)
            authorize_review(principal, task, ReviewAction.UNCLAIM)
            return await self._transition(
                connection, task, Transition.UNCLAIMED, actor=principal.subject, status=OPEN, assignee=None
            )

        return await self._change(review_task_id, unclaim)

    async def reassign(self, principal: Principal, review_task_id: uuid.UUID, assignee: str) -> ReviewTask:
        new_assignee = checked_subject(assignee)

        async def reassign(connection: sa.Connection, task: ReviewTask) -> ReviewTask:
            authorize_review(principal, task, ReviewAction.REASSIGN, new_assignee=new_assignee)
            _refuse_finished(task)
            return await self._transition(
                connection,
                task,
                Transition.REASSIGNED,
                actor=principal.subject,
                status=CLAIMED,
                assignee=new_assignee,
                request={"from": task.assignee, "to": new_assignee},
            )

        return await self._change(review_task_id, reassign)

    async def decide(
        self, principal: Principal, review_task_id: uuid.UUID, *, decision: str, justification: str
    ) -> ReviewTask:
        decision, justification = checked_decision(decision, justification)

        async def decide(connection: sa.Connection, task: ReviewTask) -> tuple[ReviewTask, InstanceRecord | None]:
            _refuse_finished(task)
            authorize_review(principal, task, ReviewAction.DECIDE)
            if await asyncio.to_thread(self._store.run_ended, task.instance_id):
                raise ReviewConflictError(
                    f"review task {task.review_task_id} cannot be decided: its run {task.instance_id} has ended"
                )
            decided = await self._transition(
                connection,
                task,
                Transition.DECIDED,
                actor=principal.subject,
                status=DECIDED,
                assignee=task.assignee,
                decision=decision,
                justification=justification,
                request={"decision": decision, "justification": justification},
            )
            # The run is locked only now, after the audit call, and briefly: its replica's heartbeat and
            # journal writes wait on that row. Parking locks it too, then reads the task (InstanceStore.park):
            # either the run parked first and is resumed here, or it finds the task decided and goes on.
            resumed = await asyncio.to_thread(
                self._store.resume_run, connection, decided, owner=self._owner, lease_seconds=self._lease_seconds
            )
            return decided, resumed

        async def decide_and_resume() -> ReviewTask:
            decided, resumed = await self._change(review_task_id, decide)
            metrics.REVIEW_TIME_TO_DECIDE.labels(decided.scheme_name).observe(_seconds_since(decided.created_at))
            if resumed is not None:
                self.on_resumed(resumed)
            return decided

        # A caller who goes away must not leave a committed decision without its run driven: shielded.
        return await asyncio.shield(decide_and_resume())

    # The background sweep.

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="review sweep")

    async def stop(self, _grace: float = 0) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def sweep(self) -> tuple[int, int]:
        """Returns lapsed claims to the queue and escalates overdue tasks, each audited; their counts."""
        lapsed = await self._sweep_batches(self._store.lapse_claims, Transition.CLAIM_EXPIRED)
        escalated = await self._sweep_batches(self._store.escalate_overdue, Transition.ESCALATED)
        return lapsed, escalated

    async def _sweep_batches(self, change: Callable[..., list[ReviewTask]], transition: Transition) -> int:
        count = 0
        while True:
            async with held_in_threads(self._store.transaction()) as connection:
                changed = await asyncio.to_thread(change, connection, limit=SWEEP_BATCH)
                if changed:
                    at = _now()
                    await self._audited(
                        *(transition_record(task, transition, actor=SYSTEM_ACTOR, at=at) for task in changed)
                    )
            for task in changed:
                log.info(
                    f"review task {transition.value}",
                    extra={"instance_id": str(task.instance_id), "review_task_id": str(task.review_task_id)},
                )
            count += len(changed)
            if len(changed) < SWEEP_BATCH:
                return count

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.sweep()
                # Here rather than per request: one grouped count every sweep keeps the gauges near enough.
                metrics.review_counts(await asyncio.to_thread(self._store.undecided_by_scheme))
            except DependencyUnavailableError as error:
                log.warning("review sweep failed; trying again", extra={"error": str(error)})
            except Exception:
                log.exception("review sweep failed; trying again")

    # Transitions.

    async def _change(
        self,
        review_task_id: uuid.UUID,
        change: Callable[[sa.Connection, ReviewTask], Awaitable[T]],
    ) -> T:
        """Runs `change` on the locked task in a transaction, trying again while another change holds it."""
        deadline = asyncio.get_running_loop().time() + self._audit_timeout + BUSY_MARGIN_SECONDS
        while True:
            try:
                async with held_in_threads(self._store.transaction()) as connection:
                    locked = await asyncio.to_thread(self._store.locked, connection, review_task_id)
                    if locked is None:
                        raise ReviewNotFoundError(f"no review task '{review_task_id}'")
                    return await change(connection, locked)
            except ReviewBusyError:
                if asyncio.get_running_loop().time() > deadline:
                    raise DatabaseUnavailableError(
                        f"another change of review task {review_task_id} is taking too long; send the request again"
                    ) from None
                await asyncio.sleep(random.uniform(BUSY_POLL_SECONDS / 2, BUSY_POLL_SECONDS))

    async def _transition(
        self,
        connection: sa.Connection,
        task: ReviewTask,
        transition: Transition,
        *,
        actor: str,
        status: str,
        assignee: str | None,
        decision: str | None = None,
        justification: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> ReviewTask:
        changed = await asyncio.to_thread(
            self._store.update,
            connection,
            task,
            status=status,
            assignee=assignee,
            claim_seconds=self._claim_seconds,
            decision=decision,
            justification=justification,
        )
        await self._audited(transition_record(changed, transition, actor=actor, at=_now(), request=request))
        log.info(
            f"review task {transition.value}",
            extra={"instance_id": str(task.instance_id), "review_task_id": str(task.review_task_id), "actor": actor},
        )
        return changed

    async def _audited(self, *records: audit_pb2.AuditRecord) -> None:
        await self._audit.append_before_commit(records, timeout=self._audit_timeout, what="the review task's change")


def _refuse_finished(task: ReviewTask) -> None:
    if task.finished:
        raise ReviewConflictError(f"review task {task.review_task_id} is {task.status}; it cannot change any more")


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (_now() - moment).total_seconds())


def _now() -> datetime:
    return datetime.now(UTC)
