"""A key rotation in the middle of a log: checkpoints signed before and after it all verify, online and offline.

The system has a log of its own. A caseworker's run is audited and its checkpoint signed with the first key;
the operator rotates the key with `python -m audit_service.signing.rotate` and restarts the audit service on
the same database and address; another run is audited and signed with the new key. An auditor then checks
both through the REST API, and offline with the keys of /audit/public-keys.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_service.config import AuditSettings
from audit_service.server import start as start_audit_service
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.databases import set_up_database
from tests.support.offline_verifier import run_verifier, save
from tests.support.orchestrators import replica_settings, serving
from tests.support.rest_api import RestApi


@dataclass(frozen=True)
class Audited:
    """What an auditor saved of one run, against the checkpoint signed after it."""

    checkpoint: dict[str, Any]
    entry: dict[str, Any]
    proof: dict[str, Any]


@dataclass(frozen=True)
class Rotation:
    before: Audited
    after: Audited
    rotated: subprocess.CompletedProcess[str]
    # GET /audit/public-keys and GET /audit/public-key after the rotation, and the whole log's verification.
    keys: dict[str, Any]
    current_key: dict[str, Any]
    verification: dict[str, Any]
    checkpoints: list[dict[str, Any]]
    consistency: dict[str, Any]


def get(api: RestApi, path: str, **params: Any) -> dict[str, Any]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def audit_a_run(api: RestApi, citizen_id: str) -> Audited:
    """A caseworker's run, then, as an auditor saves them: a checkpoint covering it, its decision's entry and proof."""
    run = api.check_eligibility(citizen_id, "scheme_alpha")
    auditor = api.as_role(Role.AUDITOR)
    seq = auditor.audit(run["instance_id"])[-1]["seq"]
    checkpoint = get(auditor, "/audit/checkpoint")
    assert checkpoint["tree_size"] > seq
    entry = get(auditor, f"/audit/entries/{seq}")
    proof = get(auditor, f"/audit/entries/{seq}/proof", tree_size=checkpoint["tree_size"])
    return Audited(checkpoint=checkpoint, entry=entry, proof=proof)


def wait_until_the_audit_service_is_reached_again(api: RestApi, *, timeout: float = 30.0) -> None:
    """The orchestrator's and the gateway's channels reconnect after gRPC's backoff (about a second): until then
    a run answers 503, its steps unrecorded, as it does whenever the audit service is out of reach, and so do
    the /audit routes."""
    inputs = {"citizen_id": "CIT-0000800", "scheme_name": "scheme_alpha"}
    deadline = time.monotonic() + timeout
    audited = read = False
    while not (audited and read):
        if not audited:
            response = api.post("/workflows/execute", json={"template_id": "eligibility_check", "inputs": inputs})
            assert response.status_code in (200, 503), response.text
            audited = response.status_code == 200 and response.json()["status"] == "completed"
        if not read:
            response = api.get("/audit/public-key")
            assert response.status_code in (200, 503), response.text
            read = response.status_code == 200
        assert time.monotonic() < deadline, f"the audit service is still out of reach {timeout} s after its restart"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def rotation(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    evaluator_target: str,
    credentials: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rotation]:
    key_path = tmp_path_factory.mktemp("rotated-key") / "audit-signing-key.pem"
    (port,) = free_ports(1)
    audit_target = f"127.0.0.1:{port}"
    with set_up_database(postgres_server_url, name_prefix="civicflow_rotation") as database:
        settings = audit_settings.model_copy(
            update={
                "database_url": database.accounts.audit,
                "audit_port": port,
                "audit_signing_key_path": key_path,
                "audit_signing_key_create": True,
            }
        )
        audit = background_loop.run(start_audit_service(settings))
        try:
            orchestrator = replica_settings(
                orchestrator_settings, database_url=database.accounts.orchestrator, audit_target=audit_target
            )
            with serving(background_loop, orchestrator) as orchestrator_target:
                gateway = GatewaySettings(
                    orchestrator_target=orchestrator_target,
                    evaluator_target=evaluator_target,
                    audit_target=audit_target,
                    **credentials.service_settings(ServiceIdentity.GATEWAY),
                )
                with TestClient(create_app(gateway)) as client:
                    api = RestApi.acting_as(client, credentials, Role.CASEWORKER)
                    before = audit_a_run(api, "CIT-0000801")

                    rotated = subprocess.run(
                        [sys.executable, "-m", "audit_service.signing.rotate", str(key_path)],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                    background_loop.run(audit.stop(grace=1.0))
                    audit = background_loop.run(start_audit_service(settings))
                    wait_until_the_audit_service_is_reached_again(api)

                    after = audit_a_run(api, "CIT-0000802")
                    auditor = api.as_role(Role.AUDITOR)
                    first, second = before.checkpoint["tree_size"], after.checkpoint["tree_size"]
                    yield Rotation(
                        before=before,
                        after=after,
                        rotated=rotated,
                        keys=get(api.with_token(None), "/audit/public-keys"),
                        current_key=get(api.with_token(None), "/audit/public-key"),
                        verification=get(auditor, "/audit/verify"),
                        checkpoints=get(api.with_token(None), "/audit/checkpoints", limit=1000)["checkpoints"],
                        consistency=get(auditor, "/audit/consistency", first=first, second=second),
                    )
        finally:
            background_loop.run(audit.stop(grace=1.0))


def key_ids(rotation: Rotation) -> tuple[str, str]:
    return rotation.before.checkpoint["key_id"], rotation.after.checkpoint["key_id"]


def test_the_rotation_command_makes_a_new_key_and_keeps_the_old_one_aside(rotation: Rotation) -> None:
    old, new = key_ids(rotation)

    assert rotation.rotated.returncode == 0, rotation.rotated.stderr
    assert rotation.rotated.stdout == (
        f"rotated: new key {new}; the old key {old} is kept beside it. Restart the audit service to sign with it.\n"
    )
    assert old != new


def test_public_keys_lists_the_old_key_then_the_new_one_and_public_key_the_new_one(rotation: Rotation) -> None:
    old, new = key_ids(rotation)

    assert [key["key_id"] for key in rotation.keys["keys"]] == [old, new]
    assert rotation.current_key == rotation.keys["keys"][-1]


def test_the_whole_log_verifies_online_with_the_checkpoints_of_both_keys(rotation: Rotation) -> None:
    old, new = key_ids(rotation)
    signers = [checkpoint["key_id"] for checkpoint in rotation.checkpoints]

    assert rotation.verification["ok"] is True, rotation.verification["problems"]
    assert rotation.verification["checkpoints_checked"] == len(signers)
    # Every checkpoint before the restart names the old key, every one after it the new key.
    assert signers == [old] * signers.count(old) + [new] * signers.count(new)
    assert signers.count(old) >= 1 and signers.count(new) >= 1
    assert rotation.before.checkpoint in rotation.checkpoints and rotation.after.checkpoint in rotation.checkpoints


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_entry_is_proved_offline_against_a_checkpoint_of_either_key_with_the_keys_listed(
    rotation: Rotation, tmp_path: Path, when: str
) -> None:
    audited: Audited = getattr(rotation, when)

    verified = run_verifier(
        "inclusion",
        "--entry", save(tmp_path, "entry.json", audited.entry),
        "--proof", save(tmp_path, "proof.json", audited.proof),
        "--checkpoint", save(tmp_path, "checkpoint.json", audited.checkpoint),
        "--public-key", save(tmp_path, "keys.json", rotation.keys),
    )  # fmt: skip

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"verified: entry {audited.entry['seq']} ")
    assert verified.stdout.rstrip().endswith(f"by key {audited.checkpoint['key_id']}")


def test_the_log_after_the_rotation_is_proved_offline_to_extend_the_log_before_it(
    rotation: Rotation, tmp_path: Path
) -> None:
    old, new = key_ids(rotation)

    verified = run_verifier(
        "consistency",
        "--first", save(tmp_path, "first.json", rotation.before.checkpoint),
        "--second", save(tmp_path, "second.json", rotation.after.checkpoint),
        "--proof", save(tmp_path, "consistency.json", rotation.consistency),
        "--public-key", save(tmp_path, "keys.json", rotation.keys),
    )  # fmt: skip

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.rstrip().endswith(f"checkpoints signed by keys {old} and {new}")


def test_with_the_new_key_alone_the_old_checkpoint_is_not_verified(rotation: Rotation, tmp_path: Path) -> None:
    old, new = key_ids(rotation)
    only_new = save(tmp_path, "key.json", rotation.current_key)

    refused = run_verifier(
        "inclusion",
        "--entry", save(tmp_path, "entry.json", rotation.before.entry),
        "--proof", save(tmp_path, "proof.json", rotation.before.proof),
        "--checkpoint", save(tmp_path, "checkpoint.json", rotation.before.checkpoint),
        "--public-key", only_new,
    )  # fmt: skip
    still_verified = run_verifier(
        "checkpoint", "--checkpoint", save(tmp_path, "new.json", rotation.after.checkpoint), "--public-key", only_new
    )

    assert refused.returncode == 1
    assert refused.stdout == (
        f"NOT VERIFIED: the checkpoint of size {rotation.before.checkpoint['tree_size']} names key {old},"
        f" which is not among the keys given ({new})\n"
    )
    assert still_verified.returncode == 0, still_verified.stdout
