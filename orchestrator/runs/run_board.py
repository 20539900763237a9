"""Live snapshots of the runs this replica drives, and watching any run until it ends.

A run driven here is watched through in-process notifications, at every change. A run
driven by another replica is watched by reading the database every `poll_seconds`: progress
written there lags by at most the owner's progress flush interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from orchestrator.errors import RunHandedOverError
from orchestrator.storage.instance_records import InstanceRecord, RunProgress

StoredInstance = Callable[[uuid.UUID], Awaitable[InstanceRecord]]


class RunBoard:
    def __init__(self) -> None:
        self._live: dict[uuid.UUID, InstanceRecord] = {}
        self._watchers: dict[uuid.UUID, set[asyncio.Event]] = {}

    def live(self, instance_id: uuid.UUID) -> InstanceRecord | None:
        """The newest snapshot of a run driven here, or None."""
        return self._live.get(instance_id)

    def publish(self, snapshot: InstanceRecord) -> None:
        """Replaces the run's snapshot and wakes its watchers; a finished run leaves the board."""
        if snapshot.running:
            self._live[snapshot.instance_id] = snapshot
        else:
            self._live.pop(snapshot.instance_id, None)
        self._wake(snapshot.instance_id)

    def update_progress(self, instance_id: uuid.UUID, progress: RunProgress) -> None:
        current = self._live.get(instance_id)
        if current is not None and current.progress != progress:
            self.publish(dataclasses.replace(current, progress=progress))

    def drop(self, instance_id: uuid.UUID) -> None:
        """Forgets a run this replica stopped driving without finishing it; its watchers turn to the database."""
        self._live.pop(instance_id, None)
        self._wake(instance_id)

    async def watch(
        self, instance_id: uuid.UUID, *, stored: StoredInstance, poll_seconds: float, stopping: asyncio.Event
    ) -> AsyncIterator[InstanceRecord]:
        """The run now and after every change of status or progress; ends with the finished run.

        Raises InstanceNotFoundError (from `stored`) before yielding anything for an unknown id, and
        RunHandedOverError once `stopping` is set, so that a replica shutting down is not held up by
        watchers: they watch again elsewhere.
        """
        changed = asyncio.Event()
        self._watchers.setdefault(instance_id, set()).add(changed)
        try:
            last: InstanceRecord | None = None
            while True:
                changed.clear()  # before reading, so a change made while reading still wakes us
                snapshot = self._live.get(instance_id) or await stored(instance_id)
                if last is None or _differs(snapshot, last):
                    yield snapshot
                    last = snapshot
                if snapshot.ended:
                    return
                if stopping.is_set():
                    raise RunHandedOverError("the orchestrator replica is shutting down; watch the run again")
                try:
                    await asyncio.wait_for(changed.wait(), poll_seconds)
                except TimeoutError:
                    pass
        finally:
            watchers = self._watchers.get(instance_id)
            if watchers is not None:
                watchers.discard(changed)
                if not watchers:
                    del self._watchers[instance_id]

    def _wake(self, instance_id: uuid.UUID) -> None:
        for event in self._watchers.get(instance_id, ()):
            event.set()


def _differs(new: InstanceRecord, old: InstanceRecord) -> bool:
    return (new.status, new.progress, new.error) != (old.status, old.progress, old.error)
