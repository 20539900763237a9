"""The audit service as a Merkle log over gRPC and PostgreSQL: hashes, idempotent appends, concurrency, checkpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa

from audit_service.config import AuditSettings
from audit_service.log.canonical_entry import ENTRY_FIELDS
from audit_service.log.group_commit import GroupCommitWriter
from audit_service.log.records import AuditRecord, StoredEntry, records_from_proto
from audit_service.log.store import AuditStore
from audit_service.server import start
from audit_service.signing.checkpoints import Checkpoint
from audit_service.signing.keys import PublicKey
from audit_service.tree.merkle import leaf_hash, verify_consistency, verify_inclusion
from civicflow.database import create_engine
from civicflow.v1 import audit_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.audit_records import new_instance, record
from tests.support.audit_stubs import AuditStubs, audit_stubs
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import SetUpDatabase, set_up_database


@pytest.fixture
def stub(credentials: Credentials, audit_target: str) -> Iterator[AuditStubs]:
    with audit_stubs(credentials, audit_target) as stubs:
        yield stubs


def append(stub: AuditStubs, *records: audit_pb2.AuditRecord) -> list[audit_pb2.AuditEntry]:
    return list(stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=records), timeout=30).entries)


def checkpoint_of(stub: AuditStubs) -> Checkpoint:
    signed = stub.GetCheckpoint(audit_pb2.GetCheckpointRequest(), timeout=10).checkpoint
    return Checkpoint(signed.tree_size, signed.root_hash, signed.timestamp, signed.signature, signed.key_id)


def public_key_of(stub: AuditStubs) -> PublicKey:
    return PublicKey.from_pem(stub.GetPublicKey(audit_pb2.GetPublicKeyRequest(), timeout=10).public_key_pem.encode())


def test_an_entrys_leaf_hash_covers_its_canonical_json_with_every_field(stub: AuditStubs) -> None:
    (appended,) = append(stub, record(new_instance(), 3, input_json='{"b": 1.0, "a": [2e3, "Zo\\u00eb"]}'))

    reply = stub.GetEntry(audit_pb2.GetEntryRequest(seq=appended.seq), timeout=10)

    assert reply.entry == appended
    assert appended.leaf_hash == leaf_hash(reply.canonical_json.encode())
    document = json.loads(reply.canonical_json)
    assert list(document) == sorted(ENTRY_FIELDS)
    assert document["input"] == {"a": [2000, "Zoë"], "b": 1}
    assert reply.canonical_json.startswith('{"actor":"tester","attempt":1,"completed_at":"2025-03-01T12:00:03.005000Z"')
    assert document["seq"] == appended.seq
    recorded = datetime.strptime(document["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert recorded == appended.recorded_at.ToDatetime(tzinfo=UTC)


def test_values_json_canonicalisation_cannot_hash_are_refused(stub: AuditStubs) -> None:
    for bad in ('{"n": 9007199254740993}', '{"x": 1e400}', '"\\ud800"'):
        with pytest.raises(grpc.RpcError) as raised:
            append(stub, record(new_instance(), output_json=bad))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "records[0].output_json" in (raised.value.details() or "")


def test_a_repeated_idempotency_key_returns_the_first_entry_and_stores_nothing(
    stub: AuditStubs, owner: sa.Engine
) -> None:
    instance = new_instance()
    key = f"{instance}/0/1"
    (first,) = append(stub, record(instance, 0, idempotency_key=key))

    (again,) = append(stub, record(instance, 0, idempotency_key=key, output_json='{"retried": true}'))
    mixed = append(
        stub, record(instance, 1, idempotency_key=f"{instance}/1/1"), record(instance, 0, idempotency_key=key)
    )

    assert again == first
    assert mixed[1] == first and mixed[0].seq > first.seq
    with owner.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT count(*) FROM audit.audit_trail WHERE instance_id = :id"), {"id": instance}
        ).scalar_one()
    assert stored == 2


def test_concurrent_appends_with_one_key_store_one_entry(stub: AuditStubs) -> None:
    instance = new_instance()
    key = f"{instance}/2/1"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: append(stub, record(instance, 2, idempotency_key=key))[0], range(16)))

    assert len({answer.seq for answer in answers}) == 1
    assert len(stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries) == 1


def test_many_concurrent_workflows_leave_a_gap_free_log_that_verifies(
    orchestrator_target: str, stub: AuditStubs, credentials: Credentials
) -> None:
    before = checkpoint_of(stub)
    orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(orchestrator_target))

    def run(number: int) -> str:
        inputs = {"citizen_id": f"CIT-{number:07d}", "scheme_name": "scheme_alpha"}
        reply = orchestrator.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json=json.dumps(inputs)),
            timeout=60,
        )
        assert reply.instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, reply.instance.error
        return str(reply.instance.instance_id)

    with ThreadPoolExecutor(max_workers=16) as pool:
        instances = list(pool.map(run, range(1, 65)))

    seqs = []
    for instance in instances:
        entries = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance), timeout=10).entries
        assert [entry.record.step_index for entry in entries] == [0, 1, 2, 3]
        seqs += [entry.seq for entry in entries]
    after = checkpoint_of(stub)
    assert len(set(seqs)) == len(seqs) == 64 * 4
    assert after.tree_size >= before.tree_size + len(seqs)
    consistency = stub.GetConsistencyProof(
        audit_pb2.GetConsistencyProofRequest(first=before.tree_size, second=after.tree_size), timeout=10
    )
    assert verify_consistency(
        first=before.tree_size,
        second=after.tree_size,
        first_root=before.root_hash,
        second_root=after.root_hash,
        proof=list(consistency.proof),
    )
    report = stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=120)
    assert (report.ok, list(report.problems)) == (True, [])
    assert report.entries_checked == report.tree_size >= after.tree_size


def test_concurrent_appends_share_transactions_and_keep_their_arrival_order(
    background_loop: BackgroundLoop, database: SetUpDatabase, audit_target: str
) -> None:
    class CountingStore(AuditStore):
        """The real store, counting the transactions the writer asks of it."""

        batches_per_transaction: list[int] = []

        def append_batches(self, batches: Sequence[Sequence[AuditRecord]]) -> list[list[StoredEntry]]:
            self.batches_per_transaction.append(len(batches))
            return super().append_batches(batches)

    engine = create_engine(database.accounts.audit, application_name="test-group-commit")
    store = CountingStore(engine)
    calls = [records_from_proto([record(new_instance(), index)], writer="orchestrator") for index in range(40)]

    async def append_all() -> list[list[StoredEntry]]:
        writer = GroupCommitWriter(store)
        writer.start()
        try:
            return await asyncio.gather(*(writer.append(records) for records in calls))
        finally:
            await writer.stop()

    try:
        answers = background_loop.run(append_all())
    finally:
        engine.dispose()

    seqs = [entries[0].seq for entries in answers]
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
    assert sum(store.batches_per_transaction) == 40
    assert len(store.batches_per_transaction) < 40, "concurrent appends were not committed together"


def test_an_append_refused_after_taking_the_lock_rolls_back_and_releases_it(own_log_database: SetUpDatabase) -> None:
    """The append sends its own BEGIN and COMMIT: a failure between them must roll back, not leave the lock held."""
    engine = create_engine(own_log_database.accounts.audit, application_name="test-append-rollback", pool_size=1)
    store = AuditStore(engine)
    other = sa.create_engine(own_log_database.admin_url)
    try:
        before = store.append(records_from_proto([record(new_instance())], writer="orchestrator"))[0].seq
        # PostgreSQL text cannot hold NUL: psycopg2 refuses the entries once the head row is locked.
        unstorable = dataclasses.replace(
            records_from_proto([record(new_instance())], writer="orchestrator")[0], error="bad\x00byte"
        )
        with pytest.raises(ValueError, match="NUL"):
            store.append([unstorable])
        with other.begin() as connection:  # NOWAIT: fails at once if the refused append still holds the lock
            connection.execute(sa.text("SELECT tree_size FROM audit.log_head FOR UPDATE NOWAIT")).scalar_one()
        after = store.append(records_from_proto([record(new_instance())], writer="orchestrator"))[0].seq
    finally:
        engine.dispose()
        other.dispose()

    assert after == before + 1, "the refused append must not use up a seq"


def test_every_entry_of_a_batch_is_proved_in_the_signed_tree(stub: AuditStubs) -> None:
    entries = append(stub, *(record(new_instance(), index) for index in range(5)))
    checkpoint = checkpoint_of(stub)

    assert checkpoint.verifies_with(public_key_of(stub))
    for entry in entries:
        proof = stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(seq=entry.seq), timeout=10)
        expected = (entry.seq, checkpoint.tree_size, entry.leaf_hash)
        assert (proof.leaf_index, proof.tree_size, proof.leaf_hash) == expected
        assert verify_inclusion(
            leaf=entry.leaf_hash,
            index=entry.seq,
            tree_size=checkpoint.tree_size,
            path=list(proof.audit_path),
            root=checkpoint.root_hash,
        )


class TestOwnLog:
    """Behaviour that needs a log of its own: a fresh database and audit service per test."""

    @pytest.fixture
    def own_log(
        self,
        postgres_server_url: str,
        background_loop: BackgroundLoop,
        audit_settings: AuditSettings,
        credentials: Credentials,
    ) -> Iterator[tuple[AuditStubs, str]]:
        with set_up_database(postgres_server_url, name_prefix="civicflow_audit") as database:
            url = database.admin_url
            settings = audit_settings.model_copy(
                update={"database_url": database.accounts.audit, "audit_checkpoint_interval_seconds": 1.0}
            )
            with (
                serve_on_loopback(background_loop, start(settings)) as target,
                audit_stubs(credentials, target) as stubs,
            ):
                yield stubs, url

    def test_an_empty_log_signs_the_empty_tree_and_verifies(self, own_log: tuple[AuditStubs, str]) -> None:
        stub, _ = own_log

        checkpoint = checkpoint_of(stub)

        assert (checkpoint.tree_size, checkpoint.root_hash.hex()) == (
            0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        assert stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=10).ok
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(seq=0), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    def test_the_checkpoint_covers_entries_older_than_the_interval_and_is_signed_at_most_once_per_interval(
        self, own_log: tuple[AuditStubs, str]
    ) -> None:
        stub, _ = own_log
        append(stub, record(new_instance()))
        first = checkpoint_of(stub)
        (entry,) = append(stub, record(new_instance()))

        within_interval = checkpoint_of(stub)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(seq=entry.seq), timeout=10)
        time.sleep(1.1)
        after_interval = checkpoint_of(stub)

        assert first.tree_size == 1 and within_interval == first
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not covered by the latest checkpoint (size 1) yet" in (raised.value.details() or "")
        assert after_interval.tree_size == 2
        listed = stub.ListCheckpoints(audit_pb2.ListCheckpointsRequest(), timeout=10)
        assert [checkpoint.tree_size for checkpoint in listed.checkpoints] == [1, 2] and listed.total == 2

    def test_the_tree_tables_refuse_changes_even_from_the_superuser(self, own_log: tuple[AuditStubs, str]) -> None:
        stub, url = own_log
        append(stub, *(record(new_instance(), index) for index in range(4)))
        checkpoint_of(stub)
        owner = sa.create_engine(url)
        statements = {
            "UPDATE audit.merkle_nodes SET hash = hash": "audit.merkle_nodes is append-only: UPDATE",
            "DELETE FROM audit.merkle_nodes": "audit.merkle_nodes is append-only: DELETE",
            "TRUNCATE audit.merkle_nodes": "audit.merkle_nodes is append-only: TRUNCATE",
            "UPDATE audit.checkpoints SET key_id = 'x'": "audit.checkpoints is append-only: UPDATE",
            "DELETE FROM audit.checkpoints": "audit.checkpoints is append-only: DELETE",
            "DELETE FROM audit.log_head": "audit.log_head is append-only: DELETE",
            "UPDATE audit.log_head SET tree_size = 1": "audit.log_head never shrinks: 4 -> 1",
        }
        try:
            for statement, message in statements.items():
                with owner.connect() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
                    connection.execute(sa.text(statement))
                assert message in str(raised.value), statement
        finally:
            owner.dispose()
        assert stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=10).ok
