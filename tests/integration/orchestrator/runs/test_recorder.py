"""A run's recorder against the real audit service and PostgreSQL: a run is finished only once all of it is audited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy.engine import Engine

from civicflow.auth.access import ServiceIdentity
from civicflow.v1 import audit_pb2_grpc
from orchestrator.errors import AuditUnavailableError
from orchestrator.runs.audit_client import AuditClient
from orchestrator.runs.outages import OutagePolicy
from orchestrator.runs.recorder import RunRecorder
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.step_journal import StepJournal
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials

OWNER = "recorder-test-replica"
STEPS = 3
# Longer than any test: whatever is written before finish() returns, finish() hurried.
LONG_LINGER = 30.0


def attempt(step_index: int) -> StepAttempt:
    now = datetime.now(UTC)
    return StepAttempt(
        step_index=step_index,
        step_name=f"step_{step_index}",
        attempt=1,
        started_at=now,
        completed_at=now,
        input={"step": step_index},
        output={"done": step_index},
    )


def new_run(store: InstanceStore) -> InstanceRecord:
    run = NewRun(template_id="eligibility_check", template_version="test", inputs={}, steps_total=STEPS)
    instance, created = store.create(run, owner=OWNER, lease_seconds=60)
    assert created
    return instance


def recorder_for(instance: InstanceRecord, statements: Engine, audit: AuditClient) -> RunRecorder:
    return RunRecorder(
        instance_id=instance.instance_id,
        owner=OWNER,
        actor="recorder-test",
        progress=instance.progress,
        store=InstanceStore(statements),
        journal=StepJournal(statements),
        audit=audit,
        lease_seconds=60,
        progress_flush_seconds=60,
        linger=LONG_LINGER,
    )


def _audit_channel(credentials: Credentials, target: str) -> grpc.aio.Channel:
    """As the orchestrator reaches the audit service: with its certificate."""
    return credentials.aio_channel(target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)


async def record_and_finish(recorder: RunRecorder) -> InstanceRecord:
    for step in range(STEPS - 1):
        recorder.record(attempt(step), RunProgress(steps_completed=step + 1, steps_total=STEPS))
    recorder.progress = RunProgress(steps_completed=STEPS, steps_total=STEPS)
    try:
        return await asyncio.wait_for(
            recorder.finish(last=attempt(STEPS - 1), outputs={"decision": "ELIGIBLE"}, error=None), timeout=10
        )
    finally:
        recorder.close()


def test_a_finished_run_has_every_attempt_audited_and_journalled(
    background_loop: BackgroundLoop, statements: Engine, audit_target: str, credentials: Credentials
) -> None:
    store = InstanceStore(statements)
    instance = new_run(store)

    async def scenario() -> tuple[InstanceRecord, list[int]]:
        async with _audit_channel(credentials, audit_target) as channel:
            audit = AuditClient(audit_pb2_grpc.AuditServiceStub(channel), timeout=10)
            finished = await record_and_finish(recorder_for(instance, statements, audit))
            entries = await audit.entries(instance.instance_id)
        return finished, [entry.record.step_index for entry in entries]

    finished, audited_steps = background_loop.run(scenario())

    assert finished.status == "completed" and finished.progress.steps_completed == STEPS
    assert audited_steps == list(range(STEPS))
    assert [attempt.step_index for attempt in StepJournal(statements).attempts(instance.instance_id)] == [0, 1, 2]


def test_a_run_whose_attempts_cannot_be_audited_is_not_finished(
    background_loop: BackgroundLoop, statements: Engine, credentials: Credentials
) -> None:
    store = InstanceStore(statements)
    instance = new_run(store)

    async def scenario() -> None:
        async with _audit_channel(credentials, "127.0.0.1:1") as channel:  # nothing listens there
            outages = OutagePolicy(limit_seconds=1.0)  # the outage waited out before the audit counts as failed
            audit = AuditClient(audit_pb2_grpc.AuditServiceStub(channel), timeout=2, outages=outages)
            await record_and_finish(recorder_for(instance, statements, audit))

    with pytest.raises(
        AuditUnavailableError,
        match=r"audit service did not record step 'step_0': the audit service could not be reached for 1 s",
    ):
        background_loop.run(scenario())

    stored = store.get(instance.instance_id)
    assert (stored.status, stored.completed_at, stored.outputs) == ("running", None, {})
