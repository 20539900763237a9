"""Watching a run another replica drives: the run board reads it from PostgreSQL until that replica finishes it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from orchestrator.runs.run_board import RunBoard
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal

OTHER_REPLICA = "the-replica-driving-it"


def attempt(step_index: int) -> StepAttempt:
    now = datetime.now(UTC)
    return StepAttempt(
        step_index=step_index,
        step_name=f"step_{step_index}",
        attempt=1,
        started_at=now,
        completed_at=now,
        input={},
        output={"done": step_index},
    )


def test_a_run_driven_by_another_replica_is_seen_at_each_step_it_journals_and_finished(statements: Engine) -> None:
    store, journal = InstanceStore(statements), StepJournal(statements)
    run = NewRun(template_id="eligibility_check", template_version="test", inputs={}, steps_total=3)
    instance, _ = store.create(run, owner=OTHER_REPLICA, lease_seconds=60)

    async def stored(instance_id: uuid.UUID) -> InstanceRecord:
        return await asyncio.to_thread(store.get, instance_id)

    async def scenario() -> list[InstanceRecord]:
        board = RunBoard()  # this replica's: the run is not on it
        watch = board.watch(instance.instance_id, stored=stored, poll_seconds=0.02, stopping=asyncio.Event())
        seen = [await anext(watch)]
        for step in range(2):
            progress = RunProgress(steps_completed=step + 1, steps_total=3)
            await asyncio.to_thread(
                journal.record,
                instance.instance_id,
                owner=OTHER_REPLICA,
                attempts=[attempt(step)],
                progress=progress,
                lease_seconds=60,
            )
            seen.append(await anext(watch))
        await asyncio.to_thread(
            store.finish,
            instance.instance_id,
            owner=OTHER_REPLICA,
            outputs={"decision": "ELIGIBLE"},
            error=None,
            attempts=[attempt(2)],
            progress=RunProgress(steps_completed=3, steps_total=3),
        )
        seen += [snapshot async for snapshot in watch]
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), timeout=10))

    assert [(snapshot.status, snapshot.progress.steps_completed) for snapshot in seen] == [
        ("running", 0),
        ("running", 1),
        ("running", 2),
        ("completed", 3),
    ]
    assert seen[-1].outputs == {"decision": "ELIGIBLE"}
