"""Starting the audit service: its signing key, and a trail written before the log had a Merkle tree."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from audit_service.config import AuditSettings
from audit_service.log.tables import MIGRATIONS, SCHEMA
from audit_service.server import start
from audit_service.signing.keys import load_signing_key
from audit_service.tree.merkle import verify_inclusion
from civicflow.auth.access import ServiceIdentity
from civicflow.database_setup import DatabaseAccounts
from civicflow.launch.local_database import scratch_database
from civicflow.launch.process_plan import plan_processes
from civicflow.launch.settings import LauncherSettings
from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2
from tests.support.audit_stubs import audit_stubs
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import roles_on


@pytest.fixture
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="civicflow_audit_start") as url:
        yield url


def run_audit_service(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit_service"],
        env={**os.environ, "HOST": "127.0.0.1", "AUDIT_PORT": "0", **environment},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read the audit signing key"),
        (b"not a key", "is not an unencrypted PEM private key"),
    ],
)
def test_an_unusable_signing_key_stops_the_service_with_one_line_and_status_2(
    tmp_path: Path, fresh_database: str, credentials: Credentials, content: bytes | None, problem: str
) -> None:
    key = tmp_path / "signing-key.pem"
    if content is not None:
        key.write_bytes(content)

    finished = run_audit_service(
        {
            "DATABASE_URL": fresh_database,
            "AUDIT_SIGNING_KEY_PATH": str(key),
            **credentials.environment(ServiceIdentity.AUDIT_SERVICE),
        }
    )

    assert finished.returncode == 2, finished.stdout + finished.stderr
    refusals = [json.loads(line) for line in finished.stdout.splitlines() if "refusing to start" in line]
    assert len(refusals) == 1 and refusals[0]["level"] == "ERROR"
    assert str(key) in refusals[0]["message"] and problem in refusals[0]["message"]
    with sa.create_engine(fresh_database).connect() as connection:
        assert connection.execute(sa.text("SELECT to_regclass('audit.audit_trail')")).scalar() is None


def test_a_key_is_created_once_owner_readable_only_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-key.pem"

    created = load_signing_key(path, create_if_missing=True)
    again = load_signing_key(path, create_if_missing=True)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.public.key_id == created.public.key_id
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [entry.name for entry in path.parent.iterdir()] == ["signing-key.pem"]


def test_a_trail_written_before_the_merkle_log_is_renumbered_from_0_hashed_and_proved(
    fresh_database: str, background_loop: BackgroundLoop, audit_settings: AuditSettings, credentials: Credentials
) -> None:
    owner = sa.create_engine(fresh_database)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with owner.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{SCHEMA}"'))
        config.attributes.update(connection=connection, schema=SCHEMA)
        command.upgrade(config, "0001")
    instance = uuid.uuid4()
    with owner.begin() as connection:
        for seq in range(1, 6):
            connection.execute(
                sa.text(
                    """INSERT INTO audit.audit_trail (seq, instance_id, step_name, step_index, attempt, status,
                           started_at, completed_at, input_json, output_json)
                       VALUES (:seq, :instance, :step, :index, 1, 'success', now(), now(), :input, '{}')"""
                ),
                {"seq": seq, "instance": instance, "step": f"step_{seq}", "index": seq - 1, "input": f'{{"n": {seq}}}'},
            )
    owner.dispose()

    with roles_on(fresh_database) as database:  # migrates the old trail on, as the database setup does
        settings = audit_settings.model_copy(update={"database_url": database.accounts.audit})
        with serve_on_loopback(background_loop, start(settings)) as target, audit_stubs(credentials, target) as stub:
            entries = stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=str(instance)), timeout=10).entries
            checkpoint = stub.GetCheckpoint(audit_pb2.GetCheckpointRequest(), timeout=10).checkpoint
            proofs = [
                stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(seq=entry.seq), timeout=10)
                for entry in entries
            ]
            report = stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=10)

    assert [(entry.seq, entry.record.step_name, entry.record.input_json) for entry in entries] == [
        (seq - 1, f"step_{seq}", f'{{"n": {seq}}}') for seq in range(1, 6)
    ]
    assert checkpoint.tree_size == 5
    for entry, proof in zip(entries, proofs, strict=True):
        assert verify_inclusion(
            leaf=entry.leaf_hash, index=entry.seq, tree_size=5, path=list(proof.audit_path), root=checkpoint.root_hash
        )
    assert (report.ok, report.entries_checked) == (True, 5)


def test_make_run_has_the_audit_service_create_its_key_beside_the_database(
    tmp_path: Path, credentials: Credentials
) -> None:
    made = credentials.as_launched()

    def audit_environment(settings: LauncherSettings) -> dict[str, str]:
        database = DatabaseAccounts(owner="postgresql:///x", orchestrator="postgresql:///x", audit="postgresql:///x")
        plan = plan_processes(settings, database=database, credentials=made)
        (audit,) = [process for process in plan if process.module == "audit_service"]
        return dict(audit.env)

    default = audit_environment(LauncherSettings(civicflow_data_dir=tmp_path / "pgdata", audit_signing_key_path=None))
    chosen = audit_environment(LauncherSettings(audit_signing_key_path=tmp_path / "mine.pem"))

    assert default["AUDIT_SIGNING_KEY_PATH"] == str(tmp_path / "audit-signing-key.pem")
    assert default["AUDIT_SIGNING_KEY_CREATE"] == "true"
    assert chosen["AUDIT_SIGNING_KEY_PATH"] == str(tmp_path / "mine.pem")
