"""Signed checkpoints (tree heads): the exact signed text, and the JSON form auditors keep and verify.

The signature is Ed25519 over the UTF-8 bytes of a note in the spirit of C2SP tlog checkpoints:

    civicflow-audit-checkpoint/v1
    <tree_size in decimal>
    <root_hash, 64 lowercase hex digits>
    <timestamp, RFC 3339 UTC with six fraction digits>

each line ending in "\\n". JSON form: {"tree_size", "root_hash" (hex), "timestamp",
"signature" (hex, 64 bytes), "key_id" (hex SHA-256 of the raw public key)}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit_service.log.canonical_entry import rfc3339
from audit_service.signing.keys import PublicKey, SigningKey
from audit_service.tree.merkle import HASH_SIZE

NOTE_HEADER = "civicflow-audit-checkpoint/v1"


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    timestamp: str
    signature: bytes
    key_id: str

    def note(self) -> bytes:
        return signed_note(self.tree_size, self.root_hash, self.timestamp)

    def verifies_with(self, public_key: PublicKey) -> bool:
        return self.key_id == public_key.key_id and public_key.verifies(self.signature, self.note())

    def signature_problem(self, keys: Mapping[str, PublicKey]) -> str | None:
        """Why the signature does not verify with the key it names among `keys` (by key_id), or None if it does."""
        key = keys.get(self.key_id)
        if key is None:
            known = ", ".join(sorted(keys)) or "none"
            return (
                f"the checkpoint of size {self.tree_size} names key {self.key_id},"
                f" which is not among the keys given ({known})"
            )
        if not self.verifies_with(key):
            return f"the signature of the checkpoint of size {self.tree_size} does not verify"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "signature": self.signature.hex(),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Checkpoint:
        """Raises ValueError naming the first field that is missing or malformed."""
        tree_size = document.get("tree_size")
        if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
            raise ValueError(f"checkpoint tree_size must be an integer >= 0, got {tree_size!r}")
        timestamp = document.get("timestamp")
        key_id = document.get("key_id")
        if not isinstance(timestamp, str) or not isinstance(key_id, str):
            raise ValueError("checkpoint timestamp and key_id must be strings")
        return cls(
            tree_size=tree_size,
            root_hash=hex_field(document, "root_hash", size=HASH_SIZE),
            timestamp=timestamp,
            signature=hex_field(document, "signature", size=64),
            key_id=key_id,
        )


def signed_note(tree_size: int, root_hash: bytes, timestamp: str) -> bytes:
    return f"{NOTE_HEADER}\n{tree_size}\n{root_hash.hex()}\n{timestamp}\n".encode()


def sign_checkpoint(key: SigningKey, *, tree_size: int, root_hash: bytes, signed_at: datetime) -> Checkpoint:
    timestamp = rfc3339(signed_at)
    return Checkpoint(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp=timestamp,
        signature=key.sign(signed_note(tree_size, root_hash, timestamp)),
        key_id=key.public.key_id,
    )


def hex_field(document: Mapping[str, Any], name: str, *, size: int) -> bytes:
    value = document.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise ValueError(f"{name} must be {size * 2} hex digits, got {value!r}")
    return raw
