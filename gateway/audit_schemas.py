"""Pydantic models of the /audit routes: what an auditor fetches, saves and checks offline. Hashes are lowercase hex."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.schemas import StepStatusName

HEX_HASH = r"^[0-9a-f]{64}$"
ProblemKindName = Literal["changed", "missing", "out_of_order", "forged", "tree_mismatch", "checkpoint_mismatch"]


class Checkpoint(BaseModel):
    tree_size: int = Field(description="Entries the signed tree holds: seqs 0..tree_size-1.")
    root_hash: str = Field(description="RFC 9162 Merkle tree head, SHA-256.", pattern=HEX_HASH)
    timestamp: str = Field(
        description="When it was signed, RFC 3339 UTC with six fraction digits; it covers every entry "
        "committed before then.",
        examples=["2026-11-25T19:55:11.000123Z"],
    )
    signature: str = Field(
        description="Ed25519 over 'civicflow-audit-checkpoint/v1\\n<tree_size>\\n<root_hash>\\n<timestamp>\\n'."
    )
    key_id: str = Field(description="SHA-256 of the raw 32-byte public key.", pattern=HEX_HASH)


class CheckpointPage(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int = Field(
        description="Offset of the next page; on the last page total, or offset when that is past the end: "
        "never smaller than offset, and the last page when it is >= total."
    )
    checkpoints: list[Checkpoint] = Field(description="Smallest tree first.")


class PublicKey(BaseModel):
    key_id: str = Field(pattern=HEX_HASH)
    algorithm: Literal["Ed25519"]
    public_key_pem: str = Field(description="SubjectPublicKeyInfo PEM; save it and pass it to the verifier.")
    public_key: str = Field(description="The raw 32-byte key, hex.")


class PublicKeyList(BaseModel):
    keys: list[PublicKey] = Field(description="First used first; the last one signs new checkpoints.")


class LogEntry(BaseModel):
    """Exactly the fields the leaf hash covers, as hashed, plus the leaf hash itself."""

    seq: int = Field(description="Leaf index in the log, from 0.")
    instance_id: str
    step_name: str
    step_index: int
    attempt: int
    status: StepStatusName
    started_at: str = Field(description="RFC 3339 UTC, six fraction digits, as hashed.")
    completed_at: str
    recorded_at: str
    input: Any
    output: Any
    error: str = Field(description="Empty when the step succeeded.")
    actor: str
    leaf_hash: str = Field(
        description="SHA-256(0x00 || RFC 8785 JSON of every other field of this object).", pattern=HEX_HASH
    )


class InclusionProof(BaseModel):
    leaf_index: int = Field(description="The entry's seq.")
    tree_size: int
    leaf_hash: str = Field(pattern=HEX_HASH)
    audit_path: list[str] = Field(description="RFC 9162 inclusion path, from the leaf's sibling up.")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 consistency proof.")


class LogProblem(BaseModel):
    seq: int | None = Field(description="The entry concerned; null for a checkpoint or the log head.")
    kind: ProblemKindName
    detail: str


class VerificationReport(BaseModel):
    ok: bool
    entries_checked: int
    problems: list[LogProblem]
    checkpoints_checked: int
    tree_size: int = Field(description="Size of the log head the verification ran against.")
    problems_truncated: bool = Field(description="More problems were found than are listed.")
    verified_at: datetime = Field(description="When the verification that made this report finished.")
    from_cache: bool = Field(
        description="The report was made for an earlier caller, and the log head has not grown since: "
        "one verification runs at a time, and its report is reused for a while (AUDIT_VERIFY_CACHE_SECONDS)."
    )
