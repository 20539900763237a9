"""What the Merkle leaves and checkpoints commit to, byte for byte, and the offline verifier's answers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_service import verify
from audit_service.log.canonical_entry import (
    EntryEncodingError,
    canonical_bytes,
    canonical_bytes_spliced,
    canonicalise,
    entry_leaf_hash,
    rfc3339,
)
from audit_service.log.records import hash_entry, records_from_proto
from audit_service.signing.checkpoints import Checkpoint, sign_checkpoint, signed_note
from audit_service.signing.keys import SigningKey
from audit_service.tree.merkle import Frontier, NodeId, inclusion_ranges, range_hashes
from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2
from tests.support.offline_verifier import run_verifier

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def entry(seq: int, **overrides: Any) -> dict[str, Any]:
    document = {
        "seq": seq,
        "instance_id": "6b1f8c2e-1d1a-4a57-9a55-6f0c1e2d3b4a",
        "step_name": "make_decision",
        "step_index": 3,
        "attempt": 1,
        "status": "success",
        "started_at": "2025-03-01T12:00:00.000000Z",
        "completed_at": "2025-03-01T12:00:00.000120Z",
        "recorded_at": "2025-03-01T12:00:00.001000Z",
        "input": {"citizen_id": "CIT-0000001"},
        "output": {"decision": "ELIGIBLE", "score": 1.5},
        "error": "",
        "actor": "",
    }
    return document | overrides


def test_the_leaf_covers_rfc8785_json_of_exactly_the_documented_fields() -> None:
    document = entry(7)

    assert canonical_bytes(document) == (
        b'{"actor":"","attempt":1,"completed_at":"2025-03-01T12:00:00.000120Z","error":"",'
        b'"input":{"citizen_id":"CIT-0000001"},"instance_id":"6b1f8c2e-1d1a-4a57-9a55-6f0c1e2d3b4a",'
        b'"output":{"decision":"ELIGIBLE","score":1.5},"recorded_at":"2025-03-01T12:00:00.001000Z",'
        b'"seq":7,"started_at":"2025-03-01T12:00:00.000000Z","status":"success","step_index":3,'
        b'"step_name":"make_decision"}'
    )
    assert entry_leaf_hash(document) == hashlib.sha256(b"\x00" + canonical_bytes(document)).digest()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({k: v for k, v in entry(1).items() if k != "actor"}, "missing fields ['actor']"),
        (entry(1, leaf_hash="00"), "unknown fields ['leaf_hash']"),
        (entry(1, output={"n": 2**60}), "cannot canonicalise"),
    ],
)
def test_documents_that_are_not_hashable_entries_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(EntryEncodingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        canonical_bytes(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(input_value=json_values, output_value=json_values, error=st.text(), actor=st.text(), seq=st.integers(0, 2**40))
def test_the_appending_path_splices_canonical_values_into_exactly_the_canonical_entry(
    input_value: Any, output_value: Any, error: str, actor: str, seq: int
) -> None:
    document = entry(seq, input=input_value, output=output_value, error=error, actor=actor)
    scalars = {name: value for name, value in document.items() if name not in ("input", "output")}
    encoded = {"input": canonicalise(input_value), "output": canonicalise(output_value)}

    assert canonical_bytes_spliced(scalars, encoded) == canonical_bytes(document)


def test_a_record_checked_on_the_way_in_hashes_like_one_read_back_from_the_database() -> None:
    document = entry(9, input={"z": [1.0, 2e3], "a": "Zoë"}, output={"n": -0.0})
    message = audit_pb2.AuditRecord(
        instance_id=document["instance_id"], step_name=document["step_name"], step_index=3, attempt=1,
        status=audit_pb2.STEP_STATUS_SUCCESS, input_json=json.dumps(document["input"]),
        output_json=json.dumps(document["output"]),
    )  # fmt: skip
    message.started_at.FromDatetime(datetime(2025, 3, 1, 12, tzinfo=UTC))
    message.completed_at.FromDatetime(datetime(2025, 3, 1, 12, 0, 0, 120, tzinfo=UTC))
    (checked,) = records_from_proto([message], writer="orchestrator")
    recorded_at = datetime(2025, 3, 1, 12, 0, 0, 1000, tzinfo=UTC)
    read_back = dataclasses.replace(checked, canonical_input=None, canonical_output=None)

    assert checked.canonical_input is not None
    assert hash_entry(9, checked, recorded_at) == hash_entry(9, read_back, recorded_at) == entry_leaf_hash(document)


def test_timestamps_are_utc_with_six_fraction_digits_whatever_the_zone() -> None:
    assert rfc3339(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) == "2025-03-01T12:00:00.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2025, 3, 1, 14, 0, 0, 42, tzinfo=plus_two)) == "2025-03-01T12:00:00.000042Z"
    with pytest.raises(EntryEncodingError, match="no time zone"):
        rfc3339(datetime(2025, 3, 1))


def test_a_checkpoint_signs_the_documented_note_and_its_json_round_trips() -> None:
    root = hashlib.sha256(b"root").digest()
    checkpoint = sign_checkpoint(KEY, tree_size=42, root_hash=root, signed_at=datetime(2025, 3, 1, tzinfo=UTC))

    assert signed_note(42, root, checkpoint.timestamp) == (
        f"civicflow-audit-checkpoint/v1\n42\n{root.hex()}\n2025-03-01T00:00:00.000000Z\n".encode()
    )
    KEY.public.key.verify(checkpoint.signature, checkpoint.note())
    assert checkpoint.key_id == hashlib.sha256(KEY.public.raw).hexdigest()
    assert Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json()))) == checkpoint
    assert checkpoint.verifies_with(KEY.public)
    other = sign_checkpoint(KEY, tree_size=43, root_hash=root, signed_at=datetime(2025, 3, 1, tzinfo=UTC))
    assert not Checkpoint(42, root, checkpoint.timestamp, other.signature, checkpoint.key_id).verifies_with(KEY.public)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tree_size", -1, "tree_size must be an integer >= 0"),
        ("tree_size", "5", "tree_size must be an integer >= 0"),
        ("root_hash", "abc", "root_hash must be 64 hex digits"),
        ("signature", "zz" * 64, "signature must be 128 hex digits"),
    ],
)
def test_a_malformed_checkpoint_names_its_field(field: str, value: Any, message: str) -> None:
    document = sign_checkpoint(
        KEY, tree_size=1, root_hash=bytes(32), signed_at=datetime(2025, 3, 1, tzinfo=UTC)
    ).to_json()

    with pytest.raises(ValueError, match=message):
        Checkpoint.from_json(document | {field: value})


class TestOfflineVerifier:
    """`python -m audit_service.verify` on files as an auditor saves them, for a log built here."""

    @pytest.fixture
    def files(self, tmp_path: Path) -> dict[str, Path]:
        entries = [entry(seq) for seq in range(6)]
        frontier = Frontier()
        nodes: dict[NodeId, bytes] = {}
        for seq, document in enumerate(entries):
            leaf = entry_leaf_hash(document)
            nodes[NodeId(0, seq)] = leaf
            nodes.update(frontier.append(leaf))
        checkpoint = sign_checkpoint(
            KEY, tree_size=6, root_hash=frontier.root(), signed_at=datetime(2025, 3, 1, tzinfo=UTC)
        )
        path = range_hashes(inclusion_ranges(4, 6), nodes)
        documents = {
            "entry": entries[4] | {"leaf_hash": nodes[NodeId(0, 4)].hex()},
            "proof": {"leaf_index": 4, "tree_size": 6, "leaf_hash": nodes[NodeId(0, 4)].hex(),
                      "audit_path": [node.hex() for node in path]},
            "checkpoint": checkpoint.to_json(),
        }  # fmt: skip
        paths = {name: tmp_path / f"{name}.json" for name in documents}
        for name, document in documents.items():
            paths[name].write_text(json.dumps(document))
        paths["key"] = tmp_path / "key.pem"
        paths["key"].write_text(KEY.public.pem)
        return paths

    def inclusion(self, files: dict[str, Path]) -> int:
        return verify.main(
            ["inclusion", "--entry", str(files["entry"]), "--proof", str(files["proof"]),
             "--checkpoint", str(files["checkpoint"]), "--public-key", str(files["key"])]
        )  # fmt: skip

    def edit(self, path: Path, **changes: Any) -> None:
        path.write_text(json.dumps(json.loads(path.read_text()) | changes))

    def test_a_genuine_entry_verifies(self, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
        assert self.inclusion(files) == 0
        assert capsys.readouterr().out.startswith("verified: entry 4 (leaf hash ")

    @pytest.mark.parametrize(
        ("file", "changes", "reason"),
        [
            ("entry", {"actor": "mallory"}, "entry 4's content does not match its leaf_hash"),
            ("proof", {"leaf_index": 3}, "the proof is for leaf 3, the entry's seq is 4"),
            ("proof", {"tree_size": 5}, "the proof is for a tree of size 5, the checkpoint's is 6"),
            ("proof", {"audit_path": ["00" * 32, "11" * 32, "22" * 32]}, "entry 4 is not in the log of size 6"),
            ("checkpoint", {"tree_size": 7}, "the signature of the checkpoint of size 7 does not verify"),
            ("checkpoint", {"key_id": "ab" * 32}, "names key abab"),
            ("checkpoint", {"root_hash": "x"}, "root_hash must be 64 hex digits"),
        ],
    )
    def test_any_inconsistency_is_not_verified_with_the_reason(
        self,
        files: dict[str, Path],
        capsys: pytest.CaptureFixture[str],
        file: str,
        changes: dict[str, Any],
        reason: str,
    ) -> None:
        self.edit(files[file], **changes)

        assert self.inclusion(files) == 1
        out = capsys.readouterr().out
        assert out.startswith("NOT VERIFIED: ") and reason in out

    def test_another_key_is_not_verified(self, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
        other = SigningKey(Ed25519PrivateKey.generate())
        files["key"].write_text(json.dumps({"public_key_pem": other.public.pem}))

        assert self.inclusion(files) == 1
        assert f"which is not among the keys given ({other.public.key_id})" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("file", "content", "reason"),
        [
            ("entry", None, "cannot read"),
            ("proof", "{not json", "is not JSON"),
            ("proof", "[1, 2]", "holds a JSON list, not an object"),
            ("checkpoint", "\xff\xfe", "is not JSON"),
            ("key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is not an Ed25519 public key"),
            ("key", '{"keys": []}', "'keys' must be a non-empty list of public keys"),
            ("key", '{"public_key_pem": 42}', "is not an Ed25519 public key"),
        ],
        ids=["missing", "not-json", "not-an-object", "not-utf8", "bad-pem", "no-keys", "key-not-text"],
    )
    def test_a_check_that_cannot_be_made_exits_2_not_the_tampering_status(
        self, files: dict[str, Path], capsys: pytest.CaptureFixture[str], file: str, content: str | None, reason: str
    ) -> None:
        if content is None:
            files[file].unlink()
        else:
            files[file].write_bytes(content.encode("latin-1"))

        assert self.inclusion(files) == verify.EXIT_CANNOT_VERIFY == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("CANNOT VERIFY: ") and reason in captured.err

    def test_wrong_arguments_exit_2(self, files: dict[str, Path]) -> None:
        with pytest.raises(SystemExit) as exited:
            verify.main(["inclusion", "--entry", str(files["entry"])])
        assert exited.value.code == 2

    def test_the_command_exits_1_when_tampered_and_2_when_a_file_is_missing(self, files: dict[str, Path]) -> None:
        arguments = ["inclusion", "--entry", files["entry"], "--proof", files["proof"],
                     "--checkpoint", files["checkpoint"], "--public-key", files["key"]]  # fmt: skip
        self.edit(files["entry"], actor="mallory")
        tampered = run_verifier(*arguments)
        files["proof"].unlink()
        missing = run_verifier(*arguments)

        assert (tampered.returncode, missing.returncode) == (1, 2)
        assert tampered.stdout.startswith("NOT VERIFIED: ")
        assert (missing.stdout, missing.stderr.startswith("CANNOT VERIFY: cannot read ")) == ("", True)

    def test_the_verifier_needs_neither_network_nor_database_code(self) -> None:
        probe = "import sys, audit_service.verify; print(sorted(m for m in ('grpc', 'sqlalchemy') if m in sys.modules))"
        loaded = subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
        assert loaded.stdout.strip() == "[]"
