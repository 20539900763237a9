"""Run leases on a real PostgreSQL: who may claim which run, renewals, releases, and claimers that race."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orchestrator.storage.instance_records import NewRun, RunProgress
from orchestrator.storage.instances import InstanceStore
from orchestrator.storage.leases import LeaseStore

EXPIRED = -60.0  # a lease that ran out a minute ago
LIVE = 60.0


def new_run(store: InstanceStore, *, owner: str, lease_seconds: float) -> uuid.UUID:
    run = NewRun(template_id="eligibility_check", template_version="test", inputs={}, steps_total=3)
    instance, _ = store.create(run, owner=owner, lease_seconds=lease_seconds)
    return instance.instance_id


def lease_of(engine: Engine, instance_id: uuid.UUID) -> tuple[str | None, float | None]:
    """The run's owner, and how many seconds its lease has left (negative: expired; None: no lease)."""
    with engine.connect() as connection:
        owner, seconds = connection.execute(
            sa.text(
                "SELECT owner, EXTRACT(EPOCH FROM lease_expires_at - now())"
                " FROM orchestrator.workflow_instances WHERE instance_id = :id"
            ),
            {"id": instance_id},
        ).one()
    return owner, None if seconds is None else float(seconds)


@pytest.fixture
def store(statements: Engine) -> InstanceStore:
    return InstanceStore(statements)


@pytest.fixture
def leases(statements: Engine) -> LeaseStore:
    return LeaseStore(statements)


def test_only_running_runs_whose_lease_ran_out_are_claimed_oldest_first(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    first = new_run(store, owner="dead-replica", lease_seconds=EXPIRED)
    new_run(store, owner="live-replica", lease_seconds=LIVE)
    second = new_run(store, owner="other-dead-replica", lease_seconds=EXPIRED)
    finished = new_run(store, owner="finisher", lease_seconds=LIVE)
    store.finish(finished, owner="finisher", outputs={}, error=None, attempts=[], progress=RunProgress())
    unowned = new_run(store, owner="gone", lease_seconds=LIVE)
    with statements.connect() as connection:  # as rows written before leases existed are
        connection.execute(
            sa.text(
                "UPDATE orchestrator.workflow_instances SET owner = NULL, lease_expires_at = NULL"
                " WHERE instance_id = :id"
            ),
            {"id": unowned},
        )

    claimed = leases.claim_expired("claimer", lease_seconds=30, limit=10)

    assert [run.instance_id for run in claimed] == [first, second, unowned]
    assert all(run.running for run in claimed)
    for instance_id in (first, second, unowned):
        owner, seconds_left = lease_of(statements, instance_id)
        assert owner == "claimer" and seconds_left is not None and 25 < seconds_left <= 30
    assert leases.claim_expired("another-claimer", lease_seconds=30, limit=10) == []


def test_a_claim_takes_at_most_its_limit_oldest_first(store: InstanceStore, leases: LeaseStore) -> None:
    runs = [new_run(store, owner="dead-replica", lease_seconds=EXPIRED) for _ in range(5)]

    scans = [[run.instance_id for run in leases.claim_expired("claimer", lease_seconds=30, limit=2)] for _ in range(4)]

    assert scans == [runs[0:2], runs[2:4], runs[4:5], []]


def test_a_replica_with_a_stable_id_takes_back_its_previous_process_runs_at_once(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    its_own = new_run(store, owner="replica-0", lease_seconds=LIVE)
    new_run(store, owner="replica-1", lease_seconds=LIVE)

    without = leases.claim_expired("replica-0", lease_seconds=30, limit=10)
    taken_back = leases.claim_expired("replica-0", lease_seconds=30, limit=10, previous_self="replica-0")

    assert without == []
    assert [run.instance_id for run in taken_back] == [its_own]
    assert lease_of(statements, its_own)[0] == "replica-0"


def test_a_run_another_claimer_has_locked_is_skipped_not_waited_for(
    store: InstanceStore, leases: LeaseStore, orchestrator_database: str
) -> None:
    locked = new_run(store, owner="dead-replica", lease_seconds=EXPIRED)
    free = new_run(store, owner="dead-replica", lease_seconds=EXPIRED)
    other = sa.create_engine(orchestrator_database)
    pool = ThreadPoolExecutor(1)
    try:
        with other.connect() as connection, connection.begin():
            connection.execute(
                sa.text("SELECT 1 FROM orchestrator.workflow_instances WHERE instance_id = :id FOR UPDATE"),
                {"id": locked},
            )
            # A claim that waited for the lock would not return before this transaction ends.
            claimed = pool.submit(leases.claim_expired, "claimer", lease_seconds=30, limit=10).result(timeout=10)
        assert [run.instance_id for run in claimed] == [free]
        # Once the other transaction has ended, the run it held is there to claim.
        assert [run.instance_id for run in leases.claim_expired("claimer", lease_seconds=30, limit=10)] == [locked]
    finally:
        pool.shutdown()  # after the transaction: a claim stuck behind its lock is free to finish by now
        other.dispose()


def test_replicas_claiming_at_once_get_disjoint_runs_and_leave_none_behind(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    runs = {new_run(store, owner="dead-replica", lease_seconds=EXPIRED) for _ in range(60)}
    claimers = [f"replica-{number}" for number in range(4)]
    start = threading.Barrier(len(claimers))

    def claim_until_none_left(claimer: str) -> list[uuid.UUID]:
        start.wait()
        taken: list[uuid.UUID] = []
        while scan := leases.claim_expired(claimer, lease_seconds=30, limit=5):
            taken += [run.instance_id for run in scan]
        return taken

    with ThreadPoolExecutor(len(claimers)) as pool:
        taken = dict(zip(claimers, pool.map(claim_until_none_left, claimers), strict=True))

    everything = [instance_id for claimed in taken.values() for instance_id in claimed]
    assert len(everything) == len(set(everything)) == len(runs)
    assert set(everything) == runs
    for claimer, claimed in taken.items():
        assert all(lease_of(statements, instance_id)[0] == claimer for instance_id in claimed)


def test_renewing_extends_only_the_runs_this_replica_drives_and_names_those_taken_from_it(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    driven = [new_run(store, owner="me", lease_seconds=5) for _ in range(2)]
    held_not_driven = new_run(store, owner="me", lease_seconds=5)
    taken_over = new_run(store, owner="me", lease_seconds=EXPIRED)
    [claimed] = leases.claim_expired("thief", lease_seconds=45, limit=10)
    assert claimed.instance_id == taken_over
    finished = new_run(store, owner="me", lease_seconds=5)
    store.finish(finished, owner="me", outputs={}, error=None, attempts=[], progress=RunProgress())

    lost = leases.renew("me", driving=[*driven, taken_over, finished], lease_seconds=120)

    assert lost == {taken_over}
    for instance_id in driven:
        owner, seconds_left = lease_of(statements, instance_id)
        assert owner == "me" and seconds_left is not None and seconds_left > 100
    owner, seconds_left = lease_of(statements, held_not_driven)
    assert owner == "me" and seconds_left is not None and seconds_left <= 5
    owner, seconds_left = lease_of(statements, taken_over)
    assert owner == "thief" and seconds_left is not None and seconds_left <= 45


def test_a_released_run_is_claimed_by_the_next_scan_of_another_replica(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    mine = new_run(store, owner="stopping-replica", lease_seconds=LIVE)
    someone_elses = new_run(store, owner="live-replica", lease_seconds=LIVE)

    released = leases.release("stopping-replica", [mine, someone_elses])

    assert released == [mine]
    assert lease_of(statements, someone_elses)[0] == "live-replica"
    assert [run.instance_id for run in leases.claim_expired("next-replica", lease_seconds=30, limit=10)] == [mine]


def test_only_takeovers_of_runs_left_by_a_crash_count_towards_failing_it_as_unresumable(
    store: InstanceStore, leases: LeaseStore, statements: Engine
) -> None:
    handed_over = new_run(store, owner="replica-0", lease_seconds=LIVE)
    crashed = new_run(store, owner="dead-replica", lease_seconds=EXPIRED)
    error = "taken over too often"

    # Every deployment stops the replica in order and hands the run over: none of that counts.
    owner = "replica-0"
    for deployment in range(1, 4):
        assert leases.release(owner, [handed_over]) == [handed_over]
        owner = f"replica-{deployment}"
        claimed = leases.claim_expired(owner, lease_seconds=LIVE, limit=10, driving=[crashed])
        assert [run.instance_id for run in claimed] == [handed_over]
    # Each takeover of a run whose owner died without handing it over does.
    for _ in range(2):
        claimed = leases.claim_expired("claimer", lease_seconds=EXPIRED, limit=10, driving=[handed_over])
        assert [run.instance_id for run in claimed] == [crashed]

    # The replica still driving a run whose lease lapsed keeps it, whatever its count.
    assert leases.fail_unresumable(max_resumes=2, error=error, driving=[crashed]) == []
    assert leases.fail_unresumable(max_resumes=2, error=error) == [crashed]
    with statements.connect() as connection:
        status, counted = connection.execute(
            sa.text("SELECT status, resume_attempts FROM orchestrator.workflow_instances WHERE instance_id = :id"),
            {"id": handed_over},
        ).one()
    assert (status, counted) == ("running", 0)
