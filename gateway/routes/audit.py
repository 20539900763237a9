"""The tamper-evident audit log: entries, signed checkpoints, Merkle proofs and a full verification."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path, Query

from civicflow.input_limits import MAX_INT64
from civicflow.v1 import audit_pb2
from gateway import audit_schemas
from gateway.auth import AuditorDep
from gateway.deps import AuditDep, TimeoutDep
from gateway.routes import error_responses

MAX_PAGE_SIZE = 1000
PROBLEM_KIND_NAMES: dict[int, audit_schemas.ProblemKindName] = {
    audit_pb2.PROBLEM_KIND_CHANGED: "changed",
    audit_pb2.PROBLEM_KIND_MISSING: "missing",
    audit_pb2.PROBLEM_KIND_OUT_OF_ORDER: "out_of_order",
    audit_pb2.PROBLEM_KIND_FORGED: "forged",
    audit_pb2.PROBLEM_KIND_TREE_MISMATCH: "tree_mismatch",
    audit_pb2.PROBLEM_KIND_CHECKPOINT_MISMATCH: "checkpoint_mismatch",
}

router = APIRouter(prefix="/audit", tags=["audit log"], responses=error_responses(413, 503, 504))

Seq = Annotated[int, Path(ge=0, le=MAX_INT64, description="The entry's seq: its leaf index, from 0.")]


@router.get("/checkpoint")
async def get_checkpoint(audit: AuditDep, timeout: TimeoutDep) -> audit_schemas.Checkpoint:
    """The latest signed tree head; it covers every entry appended at least a second before the request."""
    reply = await audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(), timeout=timeout)
    return _checkpoint(reply.checkpoint)


@router.get("/checkpoints", responses=error_responses(422))
async def list_checkpoints(
    audit: AuditDep,
    timeout: TimeoutDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64, description="Checkpoints to skip, smallest tree first.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="At most this many.")] = 100,
) -> audit_schemas.CheckpointPage:
    """Every checkpoint the log signed, for auditors to keep a copy outside the system."""
    request = audit_pb2.ListCheckpointsRequest(offset=offset, limit=limit)
    reply = await audit.ListCheckpoints(request, timeout=timeout)
    return audit_schemas.CheckpointPage(
        total=reply.total,
        offset=offset,
        limit=limit,
        # Past the end it stays where the caller asked: a next page never points backwards.
        next_offset=max(offset, min(offset + len(reply.checkpoints), reply.total)),
        checkpoints=[_checkpoint(checkpoint) for checkpoint in reply.checkpoints],
    )


@router.get("/public-key")
async def get_public_key(audit: AuditDep, timeout: TimeoutDep) -> audit_schemas.PublicKey:
    """The Ed25519 key that signs new checkpoints."""
    reply = await audit.GetPublicKey(audit_pb2.GetPublicKeyRequest(), timeout=timeout)
    return _public_key(reply)


@router.get("/public-keys")
async def list_public_keys(audit: AuditDep, timeout: TimeoutDep) -> audit_schemas.PublicKeyList:
    """Every key that has signed checkpoints of this log, first used first: a rotated key's checkpoints still verify."""
    reply = await audit.ListPublicKeys(audit_pb2.ListPublicKeysRequest(), timeout=timeout)
    return audit_schemas.PublicKeyList(keys=[_public_key(key) for key in reply.keys])


@router.get("/entries/{seq}", responses=error_responses(401, 403, 404, 422, 429))
async def get_entry(seq: Seq, auditor: AuditorDep, audit: AuditDep, timeout: TimeoutDep) -> audit_schemas.LogEntry:
    """The entry as stored: exactly the fields its leaf hash covers, and that hash."""
    reply = await audit.GetEntry(audit_pb2.GetEntryRequest(seq=seq), timeout=timeout, metadata=auditor.metadata)
    # The canonical JSON is passed on as parsed, not rebuilt from the protobuf: the auditor hashes what was hashed.
    return audit_schemas.LogEntry(**json.loads(reply.canonical_json), leaf_hash=reply.entry.leaf_hash.hex())


@router.get("/entries/{seq}/proof", responses=error_responses(401, 403, 404, 409, 422, 429))
async def get_inclusion_proof(
    seq: Seq,
    auditor: AuditorDep,
    audit: AuditDep,
    timeout: TimeoutDep,
    tree_size: Annotated[
        int | None,
        Query(
            ge=1, le=MAX_INT64, description="Size of the tree to prove inclusion in; default: the latest checkpoint's."
        ),
    ] = None,
) -> audit_schemas.InclusionProof:
    """RFC 9162 inclusion proof of entry `seq` (409 if it is newer than the latest checkpoint and no size is given)."""
    request = audit_pb2.GetInclusionProofRequest(seq=seq, tree_size=tree_size or 0)
    reply = await audit.GetInclusionProof(request, timeout=timeout, metadata=auditor.metadata)
    return audit_schemas.InclusionProof(
        leaf_index=reply.leaf_index,
        tree_size=reply.tree_size,
        leaf_hash=reply.leaf_hash.hex(),
        audit_path=[node.hex() for node in reply.audit_path],
    )


@router.get("/consistency", responses=error_responses(401, 403, 422, 429))
async def get_consistency_proof(
    auditor: AuditorDep,
    audit: AuditDep,
    timeout: TimeoutDep,
    first: Annotated[int, Query(ge=1, le=MAX_INT64, description="Size of the earlier tree.")],
    second: Annotated[
        int | None, Query(ge=1, le=MAX_INT64, description="Size of the later tree; default: the latest checkpoint's.")
    ] = None,
) -> audit_schemas.ConsistencyProof:
    """RFC 9162 consistency proof: the tree of size `second` holds the tree of size `first` unchanged."""
    request = audit_pb2.GetConsistencyProofRequest(first=first, second=second or 0)
    reply = await audit.GetConsistencyProof(request, timeout=timeout, metadata=auditor.metadata)
    return audit_schemas.ConsistencyProof(
        first=reply.first, second=reply.second, proof=[node.hex() for node in reply.proof]
    )


@router.get("/verify", responses=error_responses(401, 403, 429))
async def verify_log(auditor: AuditorDep, audit: AuditDep, timeout: TimeoutDep) -> audit_schemas.VerificationReport:
    """Recomputes every hash of the stored log against its tree and every checkpoint; names each entry that differs.

    One verification runs at a time: callers arriving meanwhile get its report, and so do later ones
    while the log has not grown and the report is recent (`from_cache`, `verified_at`).
    """
    reply = await audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=timeout, metadata=auditor.metadata)
    return audit_schemas.VerificationReport(
        ok=reply.ok,
        entries_checked=reply.entries_checked,
        checkpoints_checked=reply.checkpoints_checked,
        tree_size=reply.tree_size,
        problems_truncated=reply.problems_truncated,
        verified_at=reply.verified_at.ToDatetime(tzinfo=UTC),
        from_cache=reply.from_cache,
        problems=[
            audit_schemas.LogProblem(
                seq=problem.seq if problem.HasField("seq") else None,
                kind=PROBLEM_KIND_NAMES[problem.kind],
                detail=problem.detail,
            )
            for problem in reply.problems
        ],
    )


def _checkpoint(checkpoint: audit_pb2.Checkpoint) -> audit_schemas.Checkpoint:
    return audit_schemas.Checkpoint(
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash.hex(),
        timestamp=checkpoint.timestamp,
        signature=checkpoint.signature.hex(),
        key_id=checkpoint.key_id,
    )


def _public_key(reply: audit_pb2.GetPublicKeyResponse) -> audit_schemas.PublicKey:
    return audit_schemas.PublicKey(
        key_id=reply.key_id,
        algorithm="Ed25519",
        public_key_pem=reply.public_key_pem,
        public_key=reply.public_key.hex(),
    )
