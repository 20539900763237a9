"""Limits on impact analyses: the population a caller's roles allow, and the queue that caps how many run at once.

An impact analysis is a run of a template with a step that fans out over a population. At most
`impact_max_running` of them run at once across all replicas; the others wait `queued`, in the
order they were submitted, and each replica starts the oldest ones whenever slots are free: at
once when an analysis it drove ends, and otherwise every `impact_queue_poll_seconds` (a slot freed
on another replica, or by a replica that died). The queue is rows of the instances table
(storage/impact_queue.py), so a queued run outlives the restart of every service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from civicflow.auth.access import authorize_population
from civicflow.auth.principals import Principal, Role
from orchestrator import metrics
from orchestrator.errors import DependencyUnavailableError
from orchestrator.storage.impact_queue import Admission, ImpactQueue
from orchestrator.storage.instance_records import InstanceRecord, NewRun
from orchestrator.tasks.impact import LOAD_BENEFICIARIES
from orchestrator.templates.model import INPUTS_PREFIX
from orchestrator.templates.registry import LoadedTemplate

log = logging.getLogger(__name__)

POPULATION_INPUT = "population_size"


def is_impact_analysis(template: LoadedTemplate) -> bool:
    return any(step.contract.fans_out for step in template.steps)


def impact_templates(templates: Iterable[LoadedTemplate]) -> frozenset[str]:
    return frozenset(template.template_id for template in templates if is_impact_analysis(template))


def population_size(template: LoadedTemplate, inputs: Mapping[str, Any]) -> int | None:
    """The population the run's beneficiaries step will load, from the run's (prepared) inputs; None if none."""
    for step in template.steps:
        if step.spec.task_type != LOAD_BENEFICIARIES.task_type:
            continue
        source = step.spec.input_mapping.get(POPULATION_INPUT, "")
        value = inputs.get(source.removeprefix(INPUTS_PREFIX)) if source.startswith(INPUTS_PREFIX) else None
        return int(value) if isinstance(value, int) else None
    return None


class ImpactAdmission:
    def __init__(
        self,
        *,
        queue: ImpactQueue,
        templates: frozenset[str],
        owner: str,
        lease_seconds: float,
        poll_seconds: float,
        population_limits: Mapping[Role, int],
    ) -> None:
        self._queue = queue
        self._templates = templates
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._population_limits = population_limits
        self._slot_freed = asyncio.Event()
        self._promoter: asyncio.Task[None] | None = None

    def track(self, templates: Iterable[LoadedTemplate]) -> None:
        """Adds the analyses among templates loaded since the start: a file loaded at run time that fans out is
        admitted through the queue and its population limits like the others. None is ever removed (its runs
        may still be queued)."""
        self._templates = self._templates | impact_templates(templates)
        self._queue.track(self._templates)

    def controls(self, template_id: str) -> bool:
        """Whether runs of this template are impact analyses, admitted through the queue."""
        return template_id in self._templates

    def authorize_population(self, principal: Principal, template: LoadedTemplate, raw_inputs: Any) -> None:
        """PermissionDeniedError if the run would analyse more citizens than the caller's roles allow."""
        if not self.controls(template.template_id):
            return
        size = population_size(template, template.prepare_inputs(raw_inputs))
        if size is not None:
            authorize_population(principal, size, self._population_limits)

    async def submit(self, run: NewRun) -> Admission:
        """Queues the run (SubjectQuotaError if its subject is at its allowance) and promotes what slots allow."""
        admission = await asyncio.to_thread(
            self._queue.submit, run, owner=self._owner, lease_seconds=self._lease_seconds
        )
        if admission.created and not admission.instance.running:
            log.info("impact analysis queued", extra={"instance_id": str(run.instance_id), "actor": run.actor})
        _waited(admission.promoted)
        return admission

    def slot_freed(self) -> None:
        """An analysis driven here ended: look at the queue now rather than at the next poll."""
        self._slot_freed.set()

    def start_promoting(self, start: Callable[[list[InstanceRecord]], None], *, stopping: asyncio.Event) -> None:
        """From now on, starts queued analyses (through `start`) as slots free up, until `stopping` is set."""
        self._promoter = asyncio.create_task(self._keep_promoting(start, stopping), name="impact queue promoter")

    async def stop_promoting(self, grace: float) -> None:
        """Waits for the promoter to see `stopping` (set by now), or cancels it after `grace` seconds.

        It is stopped rather than cancelled at once: a promotion already sent to the database
        commits, and the runs it promoted must reach `start` (to be driven, or handed over),
        or they would sit owned and idle until their lease ran out.
        """
        if self._promoter is None:
            return
        self._slot_freed.set()
        await asyncio.wait([self._promoter], timeout=grace)
        self._promoter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._promoter

    async def _keep_promoting(self, start: Callable[[list[InstanceRecord]], None], stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(self._slot_freed.wait(), self._poll_seconds)
            except TimeoutError:
                pass
            self._slot_freed.clear()
            if stopping.is_set():
                return
            try:
                promoted = await asyncio.to_thread(
                    self._queue.promote, owner=self._owner, lease_seconds=self._lease_seconds
                )
                for instance in promoted:
                    log.info("impact analysis started from the queue", extra={"instance_id": str(instance.instance_id)})
                start(promoted)
                _waited(promoted)
                # Every poll, not per request: the depth is off by at most a poll's worth of submissions.
                metrics.IMPACT_QUEUE_DEPTH.set(await asyncio.to_thread(self._queue.queued))
            except DependencyUnavailableError as error:
                log.warning("could not look at the impact queue; trying again", extra={"error": str(error)})
            except Exception:
                # The promoter outlives any one failure: were it to end, this replica would never start a queued
                # analysis again. Runs promoted but not started are owned and idle until their lease lapses;
                # recovery then resumes them.
                log.exception("looking at the impact queue failed; trying again at the next poll")


def _waited(promoted: list[InstanceRecord]) -> None:
    """How long each analysis just started waited in the queue, from its submission."""
    now = datetime.now(UTC)
    for instance in promoted:
        metrics.IMPACT_QUEUE_WAIT.observe(max(0.0, (now - instance.created_at).total_seconds()))
