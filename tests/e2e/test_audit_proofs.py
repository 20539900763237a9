"""The auditor's walk through REST: fetch an entry, its proof, a checkpoint and the key, then verify offline.

A caseworker makes the runs; an auditor reads the log.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from audit_service.log.canonical_entry import ENTRY_FIELDS
from tests.support.offline_verifier import run_verifier, save
from tests.support.rest_api import RestApi


def get(api: RestApi, path: str, **params: Any) -> dict[str, Any]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def public_key(auditor_api: RestApi, tmp_path: Path) -> Path:
    return save(tmp_path, "key.json", get(auditor_api, "/audit/public-key"))


def test_workflow_audit_entries_carry_their_seq_and_the_leaf_hash_the_log_holds(
    api: RestApi, auditor_api: RestApi
) -> None:
    run = api.check_eligibility("CIT-0000101", "scheme_alpha")

    for listed in api.audit(run["instance_id"]):
        entry = get(auditor_api, f"/audit/entries/{listed['seq']}")
        assert entry["leaf_hash"] == listed["leaf_hash"]
        assert set(entry) == {*ENTRY_FIELDS, "leaf_hash"}
        assert (entry["instance_id"], entry["step_name"], entry["input"], entry["output"]) == (
            listed["instance_id"],
            listed["step_name"],
            listed["input"],
            listed["output"],
        )


def test_an_entry_of_a_run_is_proved_in_the_signed_log_offline(
    api: RestApi, auditor_api: RestApi, tmp_path: Path, public_key: Path
) -> None:
    run = api.check_eligibility("CIT-0000102", "scheme_beta")
    seq = api.audit(run["instance_id"])[2]["seq"]

    checkpoint = get(auditor_api, "/audit/checkpoint")
    entry = get(auditor_api, f"/audit/entries/{seq}")
    proof = get(auditor_api, f"/audit/entries/{seq}/proof", tree_size=checkpoint["tree_size"])

    assert checkpoint["tree_size"] > seq
    assert (proof["leaf_index"], proof["tree_size"], proof["leaf_hash"]) == (
        seq,
        checkpoint["tree_size"],
        entry["leaf_hash"],
    )
    verified = run_verifier(
        "inclusion",
        "--entry", save(tmp_path, "entry.json", entry),
        "--proof", save(tmp_path, "proof.json", proof),
        "--checkpoint", save(tmp_path, "checkpoint.json", checkpoint),
        "--public-key", public_key,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"verified: entry {seq} ")


def test_a_proof_without_a_size_is_against_the_latest_checkpoint(api: RestApi, auditor_api: RestApi) -> None:
    run = api.check_eligibility("CIT-0000103", "scheme_gamma")
    seq = api.audit(run["instance_id"])[0]["seq"]

    checkpoint = get(auditor_api, "/audit/checkpoint")
    proof = get(auditor_api, f"/audit/entries/{seq}/proof")

    assert proof["tree_size"] == checkpoint["tree_size"]


def test_an_entry_edited_after_the_api_answered_fails_offline(
    api: RestApi, auditor_api: RestApi, tmp_path: Path, public_key: Path
) -> None:
    run = api.check_eligibility("CIT-0000104", "scheme_alpha")
    seq = api.audit(run["instance_id"])[3]["seq"]
    checkpoint = get(auditor_api, "/audit/checkpoint")
    entry = get(auditor_api, f"/audit/entries/{seq}")
    proof = get(auditor_api, f"/audit/entries/{seq}/proof", tree_size=checkpoint["tree_size"])
    decision = entry["output"]["decision"]
    decision["decision"] = "NOT_ELIGIBLE" if decision["decision"] == "ELIGIBLE" else "ELIGIBLE"

    refused = run_verifier(
        "inclusion",
        "--entry", save(tmp_path, "entry.json", entry),
        "--proof", save(tmp_path, "proof.json", proof),
        "--checkpoint", save(tmp_path, "checkpoint.json", checkpoint),
        "--public-key", public_key,
    )  # fmt: skip

    assert refused.returncode == 1
    assert refused.stdout.startswith(f"NOT VERIFIED: entry {seq}'s content does not match its leaf_hash")


def test_two_checkpoints_are_proved_consistent_offline(
    api: RestApi, auditor_api: RestApi, tmp_path: Path, public_key: Path
) -> None:
    api.check_eligibility("CIT-0000105", "scheme_alpha")
    first = get(auditor_api, "/audit/checkpoint")
    api.check_eligibility("CIT-0000106", "scheme_beta")
    second = get(auditor_api, "/audit/checkpoint")

    proof = get(auditor_api, "/audit/consistency", first=first["tree_size"], second=second["tree_size"])

    assert second["tree_size"] >= first["tree_size"] + 4
    assert (proof["first"], proof["second"]) == (first["tree_size"], second["tree_size"])
    verified = run_verifier(
        "consistency",
        "--first", save(tmp_path, "first.json", first),
        "--second", save(tmp_path, "second.json", second),
        "--proof", save(tmp_path, "consistency.json", proof),
        "--public-key", public_key,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith(f"verified: the log of size {second['tree_size']} ")


def test_checkpoints_are_exported_and_each_verifies(
    api: RestApi, auditor_api: RestApi, tmp_path: Path, public_key: Path
) -> None:
    api.check_eligibility("CIT-0000107", "scheme_alpha")
    latest = get(auditor_api, "/audit/checkpoint")

    page = get(auditor_api, "/audit/checkpoints", limit=1000)

    assert page["checkpoints"][-1] == latest
    sizes = [checkpoint["tree_size"] for checkpoint in page["checkpoints"]]
    assert sizes == sorted(set(sizes))
    assert page["next_offset"] == page["total"] == len(sizes)
    for checkpoint in page["checkpoints"][-3:]:
        verified = run_verifier(
            "checkpoint", "--checkpoint", save(tmp_path, "c.json", checkpoint), "--public-key", public_key
        )
        assert verified.returncode == 0, verified.stdout


def test_a_checkpoints_page_past_the_end_is_empty_and_its_next_offset_never_points_backwards(
    auditor_api: RestApi,
) -> None:
    # Far enough past the end that a checkpoint signed meanwhile does not reach it.
    total = get(auditor_api, "/audit/checkpoints", limit=1)["total"]

    for offset in (total + 1000, total * 10 + 5000):
        page = get(auditor_api, "/audit/checkpoints", offset=offset, limit=10)
        assert (page["checkpoints"], page["offset"]) == ([], offset)
        assert page["next_offset"] == offset > page["total"]


def test_the_public_key_id_is_the_sha256_of_the_raw_key(auditor_api: RestApi) -> None:
    key = get(auditor_api, "/audit/public-key")

    assert key["algorithm"] == "Ed25519"
    assert key["key_id"] == hashlib.sha256(bytes.fromhex(key["public_key"])).hexdigest()
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert get(auditor_api, "/audit/checkpoint")["key_id"] == key["key_id"]


def test_the_untouched_log_verifies_without_a_problem(api: RestApi, auditor_api: RestApi) -> None:
    api.check_eligibility("CIT-0000108", "scheme_gamma")

    report = get(auditor_api, "/audit/verify")

    assert report["ok"] is True
    assert report["problems"] == []
    assert report["entries_checked"] == report["tree_size"] >= 4
    assert report["checkpoints_checked"] >= 1


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/audit/entries/999999999", {}, 404, "no audit entry with seq 999999999"),
        ("/audit/entries/-1", {}, 422, "seq"),
        ("/audit/entries/999999999/proof", {}, 404, "no audit entry with seq 999999999"),
        ("/audit/entries/0/proof", {"tree_size": 999999999}, 422, "tree_size must be 1.."),
        ("/audit/entries/0/proof", {"tree_size": 0}, 422, "tree_size"),
        ("/audit/consistency", {"first": 5, "second": 3}, 422, "first (5) must not exceed second (3)"),
        ("/audit/consistency", {"first": 0}, 422, "first"),
        ("/audit/consistency", {}, 422, "first"),
        ("/audit/checkpoints", {"limit": 0}, 422, "limit"),
    ],
)
def test_bad_audit_requests_get_a_clear_error(
    api: RestApi, auditor_api: RestApi, path: str, params: dict[str, Any], status: int, message: str
) -> None:
    api.check_eligibility("CIT-0000109", "scheme_alpha")

    error = auditor_api.error(auditor_api.get(path, params=params), status)

    assert message in error["message"]
