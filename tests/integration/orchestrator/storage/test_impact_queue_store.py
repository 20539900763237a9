"""The impact-analysis queue on a real PostgreSQL: the cap, its order, the allowance per subject, racing admitters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.errors import SubjectQuotaError
from orchestrator.storage.impact_queue import ImpactQueue, QueueLimits
from orchestrator.storage.instance_records import InstanceRecord, NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore

ANALYSIS = "impact_analysis"
LEASE = 60.0


def queue(engine: Engine, *, max_running: int, max_per_subject: int = 100) -> ImpactQueue:
    limits = QueueLimits(max_running=max_running, max_per_subject=max_per_subject, retry_after_seconds=5)
    return ImpactQueue(engine, templates={ANALYSIS}, limits=limits)


def analysis(actor: str = "ana") -> NewRun:
    return NewRun(template_id=ANALYSIS, template_version="test", inputs={}, steps_total=5, actor=actor)


def finish(engine: Engine, instance: InstanceRecord, owner: str) -> None:
    InstanceStore(engine).finish(
        instance.instance_id, owner=owner, outputs={}, error=None, attempts=[], progress=RunProgress()
    )


def statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT status, count(*) AS n FROM orchestrator.workflow_instances GROUP BY status")
        )
        return {row.status: row.n for row in rows}


def test_runs_beyond_the_cap_wait_queued_and_start_oldest_first_as_slots_free(statements: Engine) -> None:
    admitter = queue(statements, max_running=1)
    first, second, third = (admitter.submit(analysis(), owner="a", lease_seconds=LEASE) for _ in range(3))
    assert [first.instance.status, second.instance.status, third.instance.status] == ["running", "queued", "queued"]
    assert [i.instance_id for i in first.promoted] == [first.instance.instance_id]
    assert second.promoted == [] and third.promoted == []
    assert admitter.promote(owner="b", lease_seconds=LEASE) == []  # no slot is free
    finish(statements, first.instance, owner="a")
    promoted = admitter.promote(owner="b", lease_seconds=LEASE)
    assert [i.instance_id for i in promoted] == [second.instance.instance_id]
    assert promoted[0].status == "running"
    assert admitter.promote(owner="b", lease_seconds=LEASE) == []


def test_a_newcomer_does_not_overtake_the_queue_when_a_slot_frees(statements: Engine) -> None:
    admitter = queue(statements, max_running=1)
    running = admitter.submit(analysis(), owner="a", lease_seconds=LEASE).instance
    waiting = admitter.submit(analysis(), owner="a", lease_seconds=LEASE).instance
    finish(statements, running, owner="a")
    newcomer = admitter.submit(analysis(), owner="a", lease_seconds=LEASE)
    assert newcomer.instance.status == "queued"
    assert [i.instance_id for i in newcomer.promoted] == [waiting.instance_id]


def test_a_subject_at_its_allowance_is_refused_and_nothing_is_created(statements: Engine) -> None:
    admitter = queue(statements, max_running=1, max_per_subject=2)
    for _ in range(2):
        admitter.submit(analysis("ana"), owner="a", lease_seconds=LEASE)
    with pytest.raises(SubjectQuotaError, match=r"'ana' already has 2") as refused:
        admitter.submit(analysis("ana"), owner="a", lease_seconds=LEASE)
    assert refused.value.retry_after_seconds == 5
    assert sum(statuses(statements).values()) == 2
    assert admitter.submit(analysis("bob"), owner="a", lease_seconds=LEASE).created


def test_admitters_racing_from_many_threads_never_run_more_than_the_cap(statements: Engine) -> None:
    admitter = queue(statements, max_running=3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: admitter.submit(analysis(f"s{n}"), owner=f"r{n % 2}", lease_seconds=LEASE), range(24)))
        list(pool.map(lambda n: admitter.promote(owner=f"r{n % 2}", lease_seconds=LEASE), range(8)))
    assert statuses(statements) == {"running": 3, "queued": 21}


def test_the_database_refuses_to_queue_a_run_that_has_started(statements: Engine) -> None:
    started = queue(statements, max_running=1).submit(analysis(), owner="a", lease_seconds=LEASE).instance
    with pytest.raises(sa.exc.IntegrityError, match="cannot be queued again"), statements.connect() as connection:
        connection.execute(
            sa.text(
                "UPDATE orchestrator.workflow_instances SET status = 'queued', owner = NULL, lease_expires_at = NULL"
                " WHERE instance_id = :id"
            ),
            {"id": started.instance_id},
        )
