"""A superuser tampers with the stored log behind the service's back; verification and auditors notice.

Each test gets a log of its own (a separate database and audit service), so tampering never
reaches the log the other tests share.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from google.protobuf.timestamp_pb2 import Timestamp

from audit_service.config import AuditSettings
from audit_service.log.records import hash_entry
from audit_service.log.tables import RECORD_COLUMNS, entry_from_mapping
from audit_service.server import start
from audit_service.tree.merkle import build_tree
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import set_up_database
from tests.support.offline_verifier import run_verifier, save
from tests.support.rest_api import RestApi

ENTRIES = 12
CHECKPOINT_SIZES = (8, 12)
TRIGGERS = {
    "audit_trail": ["audit_trail_reject_update_delete"],
    "merkle_nodes": ["merkle_nodes_reject_update_delete"],
    "log_head": ["log_head_reject_shrink"],
}


@dataclass(frozen=True)
class Log:
    """A log of ENTRIES entries with checkpoints at CHECKPOINT_SIZES, its superuser, and a gateway in front of it.

    `stub` appends as the orchestrator does; `rest` reads as an auditor does.
    """

    stub: audit_pb2_grpc.AuditServiceStub
    owner: sa.Engine
    rest: RestApi

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.rest.get(path, params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def problems(self) -> list[tuple[int | None, str]]:
        report = self.get("/audit/verify")
        assert report["ok"] is (not report["problems"])
        return [(problem["seq"], problem["kind"]) for problem in report["problems"]]

    def entry_problems(self) -> list[tuple[int | None, str]]:
        return [problem for problem in self.problems() if problem[1] != "checkpoint_mismatch"]

    def tamper(self, *statements: str, tables: tuple[str, ...] = ("audit_trail",)) -> None:
        """Runs `statements` as the superuser with the append-only triggers of `tables` switched off."""
        with self.owner.begin() as connection:
            for table in tables:
                for trigger in TRIGGERS[table]:
                    connection.execute(sa.text(f"ALTER TABLE audit.{table} DISABLE TRIGGER {trigger}"))
            for statement in statements:
                connection.execute(sa.text(statement))
            for table in tables:
                for trigger in TRIGGERS[table]:
                    connection.execute(sa.text(f"ALTER TABLE audit.{table} ENABLE ALWAYS TRIGGER {trigger}"))


def record(step_index: int) -> audit_pb2.AuditRecord:
    started = Timestamp()
    started.FromDatetime(datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=step_index))
    return audit_pb2.AuditRecord(
        instance_id=str(uuid.uuid4()),
        step_name=f"step_{step_index}",
        step_index=step_index,
        attempt=1,
        status=audit_pb2.STEP_STATUS_SUCCESS,
        started_at=started,
        completed_at=started,
        input_json=json.dumps({"citizen_id": f"CIT-{step_index:07d}"}),
        output_json=json.dumps({"decision": "ELIGIBLE", "amount": 100 + step_index}),
        actor="clerk-7",
    )


@pytest.fixture
def log(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    evaluator_target: str,
    credentials: Credentials,
) -> Iterator[Log]:
    with (
        set_up_database(postgres_server_url, name_prefix="civicflow_tamper") as database,
        serve_on_loopback(
            background_loop, start(audit_settings.model_copy(update={"database_url": database.accounts.audit}))
        ) as target,
    ):
        owner = sa.create_engine(database.admin_url)
        # Only the /audit routes are used: the orchestrator target is never called.
        settings = GatewaySettings(
            orchestrator_target="127.0.0.1:1",
            evaluator_target=evaluator_target,
            audit_target=target,
            **credentials.service_settings(ServiceIdentity.GATEWAY),
        )
        channel = credentials.channel(target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)
        try:
            with channel, TestClient(create_app(settings)) as client:
                stub = audit_pb2_grpc.AuditServiceStub(channel)
                rest = RestApi.acting_as(client, credentials, Role.AUDITOR)
                appended = 0
                for size in CHECKPOINT_SIZES:
                    records = [record(index) for index in range(appended, size)]
                    stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=records), timeout=10)
                    appended = size
                    assert rest.get("/audit/checkpoint").json()["tree_size"] == size
                yield Log(stub=stub, owner=owner, rest=rest)
        finally:
            owner.dispose()


def verify_inclusion_offline(log: Log, seq: int, directory: Path) -> subprocess.CompletedProcess[str]:
    """What an auditor does: save entry, proof, checkpoint and key from the API, then run the verifier."""
    checkpoint = log.get("/audit/checkpoint")
    documents = {
        "entry": log.get(f"/audit/entries/{seq}"),
        "proof": log.get(f"/audit/entries/{seq}/proof", tree_size=checkpoint["tree_size"]),
        "checkpoint": checkpoint,
        "public-key": log.get("/audit/public-key"),
    }
    arguments: list[str | Path] = []
    for name, document in documents.items():
        arguments += [f"--{name}", save(directory, f"{name}.json", document)]
    return run_verifier("inclusion", *arguments)


def rewrite_tree_from_rows(log: Log) -> None:
    """The thorough forger: recompute every leaf hash, tree node and the head from the rows as they now are."""
    with log.owner.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM audit.audit_trail ORDER BY seq")).all()
    entries = [entry_from_mapping(row._mapping) for row in rows]
    leaves = [hash_entry(entry.seq, entry.record, entry.recorded_at) for entry in entries]
    inner, frontier = build_tree(leaves)
    statements = [
        f"UPDATE audit.audit_trail SET leaf_hash = '\\x{leaf.hex()}' WHERE seq = {seq}"
        for seq, leaf in enumerate(leaves)
    ]
    statements.append("DELETE FROM audit.merkle_nodes")
    statements += [
        f"INSERT INTO audit.merkle_nodes VALUES ({node.level}, {node.index}, '\\x{hash_.hex()}')"
        for node, hash_ in inner.items()
    ]
    frontier_literal = ",".join(f'"\\\\x{hash_.hex()}"' for hash_ in frontier.hashes)
    statements.append(
        f"UPDATE audit.log_head SET root_hash = '\\x{frontier.root().hex()}', frontier = '{{{frontier_literal}}}'"
    )
    log.tamper(*statements, tables=("audit_trail", "merkle_nodes", "log_head"))


def test_nothing_is_reported_for_an_untouched_log(log: Log) -> None:
    report = log.get("/audit/verify")

    assert datetime.fromisoformat(report.pop("verified_at")) > datetime.now(UTC) - timedelta(minutes=1)
    assert report == {
        "from_cache": False,
        "ok": True,
        "entries_checked": ENTRIES,
        "problems": [],
        "checkpoints_checked": len(CHECKPOINT_SIZES),
        "tree_size": ENTRIES,
        "problems_truncated": False,
    }


def test_a_changed_output_is_named_and_its_inclusion_proof_fails_offline(log: Log, tmp_path: Path) -> None:
    log.tamper("UPDATE audit.audit_trail SET output_json = replace(output_json, '105', '9105') WHERE seq = 5")

    problems = log.problems()

    assert log.entry_problems() == [(5, "changed")]
    # Both signed checkpoints cover entry 5, and neither root can be recomputed from the rows any more.
    assert problems.count((None, "checkpoint_mismatch")) == 2
    refused = verify_inclusion_offline(log, 5, tmp_path)
    assert refused.returncode == 1
    assert refused.stdout.startswith("NOT VERIFIED: entry 5's content does not match its leaf_hash")
    assert verify_inclusion_offline(log, 6, tmp_path).returncode == 0, "an untouched neighbour still verifies"


def test_a_change_rehashed_into_its_row_is_caught_by_the_tree_and_fails_offline(log: Log, tmp_path: Path) -> None:
    with log.owner.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM audit.audit_trail WHERE seq = 5")).one()
    forged = dataclasses.replace(
        entry_from_mapping(row._mapping).record, output_json='{"amount": 999999, "decision": "ELIGIBLE"}'
    )
    leaf = hash_entry(5, forged, row.recorded_at)
    log.tamper(
        f"""UPDATE audit.audit_trail SET output_json = '{forged.output_json}', leaf_hash = '\\x{leaf.hex()}'
            WHERE seq = 5"""
    )

    assert log.entry_problems() == [(4, "tree_mismatch")]  # the node over entries 4..5 no longer matches
    refused = verify_inclusion_offline(log, 5, tmp_path)
    assert refused.returncode == 1
    assert refused.stdout.startswith("NOT VERIFIED: entry 5 is not in the log of size 12")


def test_content_that_no_longer_parses_is_named_changed_and_never_served_as_an_entry(log: Log) -> None:
    log.tamper("UPDATE audit.audit_trail SET input_json = '{broken' WHERE seq = 6")

    assert log.entry_problems() == [(6, "changed")]
    response = log.rest.get("/audit/entries/6")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "DATA_LOSS"
    assert "entry 6 cannot be encoded any more" in response.json()["error"]["message"]


def test_a_deleted_entry_is_named_missing(log: Log) -> None:
    log.tamper("DELETE FROM audit.audit_trail WHERE seq = 7")

    problems = log.problems()

    assert log.entry_problems() == [(7, "missing")]
    assert problems.count((None, "checkpoint_mismatch")) == 2


def test_two_swapped_entries_are_each_named_out_of_order(log: Log) -> None:
    log.tamper(
        "UPDATE audit.audit_trail SET seq = 1000 WHERE seq = 2",
        "UPDATE audit.audit_trail SET seq = 2 WHERE seq = 9",
        "UPDATE audit.audit_trail SET seq = 9 WHERE seq = 1000",
    )

    report = log.get("/audit/verify")

    entry_problems = [problem for problem in report["problems"] if problem["kind"] != "checkpoint_mismatch"]
    named = [(problem["seq"], problem["kind"]) for problem in entry_problems]
    assert named == [(2, "out_of_order"), (9, "out_of_order")]
    assert "recorded at seq 9" in entry_problems[0]["detail"]
    assert "recorded at seq 2" in entry_problems[1]["detail"]


def test_swapped_contents_are_named_out_of_order_too(log: Log) -> None:
    columns = ", ".join(name for name in RECORD_COLUMNS if name != "idempotency_key")
    columns += ", recorded_at"
    log.tamper(
        f"""UPDATE audit.audit_trail AS t SET ({columns}) = (SELECT {columns} FROM audit.audit_trail
            WHERE seq = CASE t.seq WHEN 3 THEN 4 ELSE 3 END) WHERE t.seq IN (3, 4)"""
    )

    assert log.entry_problems() == [(3, "out_of_order"), (4, "out_of_order")]


def test_an_entry_inserted_beyond_the_log_head_is_named_forged(log: Log) -> None:
    log.tamper(
        f"""INSERT INTO audit.audit_trail (seq, instance_id, step_name, step_index, attempt, status, started_at,
                completed_at, input_json, output_json, error, actor, recorded_at, leaf_hash)
            SELECT {ENTRIES}, instance_id, 'approve_payment', 9, 1, 'success', started_at, completed_at,
                   '{{}}', '{{"amount": 1000000}}', '', 'clerk-7', recorded_at, leaf_hash
            FROM audit.audit_trail WHERE seq = 0"""
    )

    assert log.problems() == [(ENTRIES, "forged")]


def test_a_forged_entry_in_a_deleted_entrys_place_is_caught_by_the_tree(log: Log) -> None:
    with log.owner.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM audit.audit_trail WHERE seq = 10")).one()
    forged = dataclasses.replace(entry_from_mapping(row._mapping).record, actor="mallory")
    leaf = hash_entry(10, forged, row.recorded_at)
    log.tamper(f"UPDATE audit.audit_trail SET actor = 'mallory', leaf_hash = '\\x{leaf.hex()}' WHERE seq = 10")

    assert log.entry_problems() == [(10, "tree_mismatch")]


def test_a_checkpoint_signed_after_a_rewrite_below_an_earlier_one_is_not_consistent_with_it(
    log: Log, tmp_path: Path
) -> None:
    def consistency_offline(first: dict[str, Any], second: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        proof = log.get("/audit/consistency", first=first["tree_size"], second=second["tree_size"])
        return run_verifier(
            "consistency",
            "--first", save(tmp_path, "first.json", first),
            "--second", save(tmp_path, "second.json", second),
            "--proof", save(tmp_path, "proof.json", proof),
            "--public-key", save(tmp_path, "key.json", log.get("/audit/public-key")),
        )  # fmt: skip

    first, second = log.get("/audit/checkpoints")["checkpoints"]
    assert (first["tree_size"], second["tree_size"]) == CHECKPOINT_SIZES
    assert consistency_offline(first, second).returncode == 0

    log.tamper("""UPDATE audit.audit_trail SET output_json = '{"amount": 0}' WHERE seq = 3""")
    rewrite_tree_from_rows(log)
    log.stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(ENTRIES)]), timeout=10)
    third = log.get("/audit/checkpoint")  # signed over the rewritten tree

    refused = consistency_offline(first, third)
    assert refused.returncode == 1
    assert refused.stdout.startswith("NOT VERIFIED: the log of size 13 does not extend the log of size 8 unchanged")
    assert consistency_offline(second, third).returncode == 1
    # Two checkpoints signed before the rewrite still agree with each other: what was signed stays true.
    assert consistency_offline(first, second).returncode == 0
    # The rewritten tree is self-consistent, so only the checkpoints signed before the rewrite betray it.
    assert log.problems() == [(None, "checkpoint_mismatch"), (None, "checkpoint_mismatch")]
