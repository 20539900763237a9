"""The audit service over a real gRPC server and a real PostgreSQL: ordered, gap-free, append-only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import Engine, make_url

from audit_service.config import AuditSettings
from audit_service.server import start
from civicflow.auth.access import ServiceIdentity
from civicflow.launch.local_database import drop_database
from civicflow.v1 import audit_pb2, audit_pb2_grpc
from tests.support.audit_records import new_instance, record
from tests.support.audit_stubs import AuditStubs, audit_stubs
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, connected, set_up_database

SUCCESS = audit_pb2.STEP_STATUS_SUCCESS
FAILED = audit_pb2.STEP_STATUS_FAILED


@pytest.fixture
def channel(credentials: Credentials, audit_target: str) -> Iterator[grpc.Channel]:
    """As the orchestrator connects: with its certificate."""
    with credentials.channel(
        audit_target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR
    ) as channel:
        yield channel


@pytest.fixture
def stub(credentials: Credentials, audit_target: str) -> Iterator[AuditStubs]:
    with audit_stubs(credentials, audit_target) as stubs:
        yield stubs


@pytest.fixture(scope="module", autouse=True)
def migrated(audit_target: str) -> None:
    """The audit service has created its schema before any test reads it."""


def test_appended_batch_is_listed_back_in_order_with_consecutive_seqs(stub: AuditStubs) -> None:
    instance = new_instance()
    records = [
        record(instance, 0),
        record(instance, 1),
        record(instance, 2, status=FAILED, error="scheme 'nope' is unknown", output_json="{}"),
    ]

    appended = stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=records), timeout=10).entries
    listed = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries

    seqs = [entry.seq for entry in appended]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert [entry.record for entry in appended] == records
    assert list(listed) == list(appended)
    assert all(entry.recorded_at.ToDatetime() > datetime(2025, 1, 1) for entry in listed)


def test_later_appends_follow_earlier_ones_in_the_listing(stub: AuditStubs) -> None:
    instance = new_instance()
    for step in range(4):
        stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(instance, step)]), timeout=10)

    listed = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries

    assert [entry.record.step_index for entry in listed] == [0, 1, 2, 3]
    assert [entry.seq for entry in listed] == sorted(entry.seq for entry in listed)


def test_json_snapshots_come_back_byte_for_byte(stub: AuditStubs) -> None:
    instance = new_instance()
    odd_but_valid = '{"z": 1,   "a": [1.0, 2e3], "name": "Zoë \\u00e9"}'

    stub.AppendEntries(
        audit_pb2.AppendEntriesRequest(records=[record(instance, input_json=odd_but_valid, output_json=" [ ] ")]),
        timeout=10,
    )
    (entry,) = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries

    assert entry.record.input_json == odd_but_valid
    assert entry.record.output_json == " [ ] "


def test_an_instance_without_entries_lists_nothing(stub: AuditStubs) -> None:
    reply = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=new_instance()), timeout=10)

    assert list(reply.entries) == []


def test_listing_refuses_an_instance_id_that_is_not_a_uuid(stub: AuditStubs) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id="citizen-42"), timeout=10)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "citizen-42" in (raised.value.details() or "")


@pytest.fixture
def own_stub(credentials: Credentials, own_audit_target: str) -> Iterator[AuditStubs]:
    """On a log only this module appends to: no one else's entry can fall between the seqs a test counts."""
    with audit_stubs(credentials, own_audit_target) as stubs:
        yield stubs


def test_concurrent_appends_form_a_gap_free_duplicate_free_sequence(
    own_stub: AuditStubs, own_log_database: SetUpDatabase
) -> None:
    def append_twenty(thread: int) -> list[list[int]]:
        instance = new_instance()
        batches = []
        for step in range(20):
            records = [record(instance, step * 3 + offset) for offset in range(1 + (thread + step) % 3)]
            reply = own_stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=records), timeout=30)
            batches.append([entry.seq for entry in reply.entries])
        return batches

    with ThreadPoolExecutor(max_workers=16) as pool:
        batches = [batch for per_thread in pool.map(append_twenty, range(16)) for batch in per_thread]

    seqs = sorted(seq for batch in batches for seq in batch)
    assert len(seqs) == len(set(seqs))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(batch == list(range(batch[0], batch[0] + len(batch))) for batch in batches)
    with connected(own_log_database.admin_url) as connection:
        low, high, count = connection.execute(
            sa.text("SELECT min(seq), max(seq), count(*) FROM audit.audit_trail")
        ).one()
    # seq is the leaf index: the log starts at 0 and has no gap.
    assert (low, high) == (0, count - 1)
    report = own_stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=60)
    assert (report.ok, list(report.problems), report.entries_checked) == (True, [], count)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"instance_id": "not-a-uuid"}, "instance_id"),
        ({"step_name": ""}, "step_name"),
        ({"status": audit_pb2.STEP_STATUS_UNSPECIFIED}, "status"),
        ({"started_at": None}, "started_at"),
        ({"completed_at": None}, "completed_at"),
        ({"input_json": "{not json"}, "input_json"),
        ({"output_json": ""}, "output_json"),
        ({"output_json": '{"x": NaN}'}, "output_json"),
        ({"attempt": 0}, "attempt"),
        ({"error": "nul\x00byte"}, "error"),
    ],
)
def test_a_bad_record_is_refused_by_index_and_field_and_nothing_is_stored(
    stub: AuditStubs, overrides: dict[str, Any], field: str
) -> None:
    instance = new_instance()
    bad_fields = {name: value for name, value in overrides.items() if value is not None}
    bad = record(instance, 1, **bad_fields)
    for name, value in overrides.items():
        if value is None:
            bad.ClearField(name)

    with pytest.raises(grpc.RpcError) as raised:
        stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(instance, 0), bad]), timeout=10)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"records[1].{field}" in (raised.value.details() or "")
    assert list(stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries) == []


def test_an_empty_append_is_refused(stub: AuditStubs) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.AppendEntries(audit_pb2.AppendEntriesRequest(), timeout=10)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least one record" in (raised.value.details() or "")


def test_health_reports_serving_while_the_database_answers(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="civicflow.v1.AuditService"), timeout=5
    )

    assert reply.status == health_pb2.HealthCheckResponse.SERVING


class TestAppendOnlyInPostgres:
    """Against the real database, bypassing the service: the guarantees hold for whoever connects."""

    @pytest.fixture
    def stored(self, stub: AuditStubs, owner: Engine) -> Iterator[tuple[str, list[Any]]]:
        instance = new_instance()
        stub.AppendEntries(
            audit_pb2.AppendEntriesRequest(records=[record(instance, 0), record(instance, 1)]), timeout=10
        )
        before = self._rows(owner, instance)
        yield instance, before
        assert self._rows(owner, instance) == before, "audit rows changed"

    @staticmethod
    def _rows(owner: Engine, instance: str) -> list[Any]:
        with owner.connect() as connection:
            return list(
                connection.execute(
                    sa.text("SELECT * FROM audit.audit_trail WHERE instance_id = :id ORDER BY seq"), {"id": instance}
                ).all()
            )

    @pytest.mark.parametrize(
        ("statement", "operation"),
        [
            ("UPDATE audit.audit_trail SET output_json = '{\"forged\": true}' WHERE instance_id = :id", "UPDATE"),
            ("DELETE FROM audit.audit_trail WHERE instance_id = :id", "DELETE"),
            ("TRUNCATE audit.audit_trail", "TRUNCATE"),
        ],
    )
    @pytest.mark.parametrize("replication_role", ["origin", "replica"])
    def test_the_trigger_refuses_the_superuser_owner(
        self, owner: Engine, stored: tuple[str, list[Any]], statement: str, operation: str, replication_role: str
    ) -> None:
        instance, _ = stored
        with owner.connect() as connection:
            # replica would silence an ordinary trigger; this one is ENABLE ALWAYS.
            connection.execute(sa.text(f"SET session_replication_role = {replication_role}"))
            assert connection.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            with pytest.raises(sa.exc.DBAPIError) as raised:
                connection.execute(sa.text(statement), {"id": instance})

        assert raised.value.orig.pgcode == "P0001"  # type: ignore[union-attr]
        assert f"audit.audit_trail is append-only: {operation} is not allowed" in str(raised.value)

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit.audit_trail SET error = 'rewritten' WHERE instance_id = :id",
            "DELETE FROM audit.audit_trail WHERE instance_id = :id",
            "TRUNCATE audit.audit_trail",
        ],
    )
    def test_the_writer_role_has_no_privilege_to_change_or_remove(
        self, owner: Engine, stored: tuple[str, list[Any]], statement: str
    ) -> None:
        instance, _ = stored
        with owner.connect() as connection:
            connection.execute(sa.text("SET ROLE civicflow_audit_writer"))
            with pytest.raises(sa.exc.ProgrammingError) as raised:
                connection.execute(sa.text(statement), {"id": instance})

        assert raised.value.orig.pgcode == "42501"  # type: ignore[union-attr]
        assert "permission denied" in str(raised.value)


def test_a_database_outage_is_unavailable_and_not_ready(
    background_loop: BackgroundLoop, postgres_server_url: str, audit_settings: AuditSettings, credentials: Credentials
) -> None:
    with (
        set_up_database(postgres_server_url, name_prefix="civicflow_outage") as database,
        serve_on_loopback(
            background_loop, start(audit_settings.model_copy(update={"database_url": database.accounts.audit}))
        ) as target,
        credentials.channel(target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR) as channel,
    ):
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        instance = new_instance()
        stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(instance)]), timeout=10)
        drop_database(postgres_server_url, str(make_url(database.admin_url).database))

        with pytest.raises(grpc.RpcError) as raised:
            stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(instance, 1)]), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _becomes_not_serving(channel, deadline=time.monotonic() + 10)


def _becomes_not_serving(channel: grpc.Channel, *, deadline: float) -> bool:
    health = health_pb2_grpc.HealthStub(channel)
    while time.monotonic() < deadline:
        reply = health.Check(health_pb2.HealthCheckRequest(service="civicflow.v1.AuditService"), timeout=5)
        if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
            return True
        time.sleep(0.2)
    return False
