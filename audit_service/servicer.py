"""gRPC adapter of the audit service: checked requests in, entries, checkpoints and proofs out."""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from audit_service.errors import (
    STATUS_CODES,
    EntryNotFoundError,
    LogCorruptedError,
    NotYetCoveredError,
)
from audit_service.log.canonical_entry import canonical_bytes
from audit_service.log.group_commit import GroupCommitWriter
from audit_service.log.records import entry_document, entry_to_proto, parse_instance_id, records_from_proto
from audit_service.log.store import AuditStore
from audit_service.signing.checkpoints import Checkpoint
from audit_service.signing.keys import ALGORITHM, PublicKey
from audit_service.signing.notary import Notary
from audit_service.tree import integrity
from audit_service.tree.proofs import Prover
from audit_service.tree.shared_verification import SharedVerification
from civicflow.auth.guards import Guard, guarded
from civicflow.grpc_errors import maps_errors
from civicflow.input_limits import MAX_INT64, check_integer
from civicflow.tls import peer_identity
from civicflow.v1 import audit_pb2, audit_pb2_grpc

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PROBLEM_KINDS = {
    integrity.CHANGED: audit_pb2.PROBLEM_KIND_CHANGED,
    integrity.MISSING: audit_pb2.PROBLEM_KIND_MISSING,
    integrity.OUT_OF_ORDER: audit_pb2.PROBLEM_KIND_OUT_OF_ORDER,
    integrity.FORGED: audit_pb2.PROBLEM_KIND_FORGED,
    integrity.TREE_MISMATCH: audit_pb2.PROBLEM_KIND_TREE_MISMATCH,
    integrity.CHECKPOINT_MISMATCH: audit_pb2.PROBLEM_KIND_CHECKPOINT_MISMATCH,
}


@maps_errors(STATUS_CODES)
@guarded
class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Each RPC admits callers by their certificate and, for an auditor's reads, their token (access.SERVICE_RULES)."""

    def __init__(
        self,
        *,
        guard: Guard,
        store: AuditStore,
        appender: GroupCommitWriter,
        notary: Notary,
        prover: Prover,
        verification: SharedVerification,
    ) -> None:
        self.guard = guard
        self._store = store
        self._appender = appender
        self._notary = notary
        self._prover = prover
        self._verification = verification

    async def AppendEntries(
        self, request: audit_pb2.AppendEntriesRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.AppendEntriesResponse:
        records = records_from_proto(list(request.records), writer=peer_identity(context) or "")
        entries = await self._appender.append(records)
        return audit_pb2.AppendEntriesResponse(entries=[entry_to_proto(entry) for entry in entries])

    async def ListEntries(
        self, request: audit_pb2.ListEntriesRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListEntriesResponse:
        instance_id = parse_instance_id(request.instance_id)
        entries = await asyncio.to_thread(self._store.list_for_instance, instance_id)
        return audit_pb2.ListEntriesResponse(entries=[entry_to_proto(entry) for entry in entries])

    async def GetEntry(
        self, request: audit_pb2.GetEntryRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetEntryResponse:
        check_integer("seq", request.seq, minimum=0, maximum=MAX_INT64)
        entry = await asyncio.to_thread(self._store.get_entry, request.seq)
        if entry is None:
            raise EntryNotFoundError(f"no audit entry with seq {request.seq}")
        try:
            canonical = canonical_bytes(entry_document(entry.seq, entry.record, entry.recorded_at))
        except ValueError as error:  # only a write behind the service's back leaves such a row
            log.error("a stored entry cannot be encoded", extra={"seq": request.seq, "error": str(error)})
            raise LogCorruptedError(
                f"entry {request.seq} cannot be encoded any more; the service log says why"
            ) from None
        return audit_pb2.GetEntryResponse(entry=entry_to_proto(entry), canonical_json=canonical.decode("utf-8"))

    async def GetCheckpoint(
        self, request: audit_pb2.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetCheckpointResponse:
        checkpoint = await asyncio.to_thread(self._notary.current)
        return audit_pb2.GetCheckpointResponse(checkpoint=_checkpoint_to_proto(checkpoint))

    async def ListCheckpoints(
        self, request: audit_pb2.ListCheckpointsRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListCheckpointsResponse:
        check_integer("offset", request.offset, minimum=0, maximum=MAX_INT64)
        limit = request.limit or DEFAULT_PAGE_SIZE
        check_integer("limit", limit, minimum=1, maximum=MAX_PAGE_SIZE)
        checkpoints, total = await asyncio.to_thread(self._notary.page, offset=request.offset, limit=limit)
        return audit_pb2.ListCheckpointsResponse(
            checkpoints=[_checkpoint_to_proto(checkpoint) for checkpoint in checkpoints], total=total
        )

    async def GetPublicKey(
        self, request: audit_pb2.GetPublicKeyRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetPublicKeyResponse:
        return _public_key_to_proto(self._notary.key.public)

    async def ListPublicKeys(
        self, request: audit_pb2.ListPublicKeysRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListPublicKeysResponse:
        keys = await asyncio.to_thread(self._notary.public_keys)
        return audit_pb2.ListPublicKeysResponse(keys=[_public_key_to_proto(key) for key in keys])

    async def GetInclusionProof(
        self, request: audit_pb2.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetInclusionProofResponse:
        check_integer("seq", request.seq, minimum=0, maximum=MAX_INT64)
        check_integer("tree_size", request.tree_size, minimum=0, maximum=MAX_INT64)
        tree_size = request.tree_size
        if tree_size == 0:
            tree_size = (await asyncio.to_thread(self._notary.current)).tree_size
            if request.seq >= tree_size:
                if await asyncio.to_thread(self._store.get_entry, request.seq) is None:
                    raise EntryNotFoundError(f"no audit entry with seq {request.seq}")
                raise NotYetCoveredError(
                    f"entry {request.seq} is not covered by the latest checkpoint (size {tree_size}) yet; "
                    "ask again in a second"
                )
        proof = await asyncio.to_thread(self._prover.inclusion, request.seq, tree_size)
        return audit_pb2.GetInclusionProofResponse(
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            leaf_hash=proof.leaf_hash,
            audit_path=proof.audit_path,
        )

    async def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.GetConsistencyProofResponse:
        check_integer("first", request.first, minimum=0, maximum=MAX_INT64)
        check_integer("second", request.second, minimum=0, maximum=MAX_INT64)
        second = request.second or (await asyncio.to_thread(self._notary.current)).tree_size
        proof = await asyncio.to_thread(self._prover.consistency, request.first, second)
        return audit_pb2.GetConsistencyProofResponse(first=request.first, second=second, proof=proof)

    async def VerifyLog(
        self, request: audit_pb2.VerifyLogRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.VerifyLogResponse:
        verification = await self._verification.verification()
        report = verification.report
        verified_at = Timestamp()
        verified_at.FromDatetime(verification.verified_at)
        return audit_pb2.VerifyLogResponse(
            verified_at=verified_at,
            from_cache=verification.from_cache,
            ok=report.ok,
            entries_checked=report.entries_checked,
            checkpoints_checked=report.checkpoints_checked,
            tree_size=report.tree_size,
            problems_truncated=report.problems_truncated,
            problems=[
                audit_pb2.LogProblem(seq=problem.seq, kind=PROBLEM_KINDS[problem.kind], detail=problem.detail)
                for problem in report.problems
            ],
        )


def _checkpoint_to_proto(checkpoint: Checkpoint) -> audit_pb2.Checkpoint:
    return audit_pb2.Checkpoint(
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        timestamp=checkpoint.timestamp,
        signature=checkpoint.signature,
        key_id=checkpoint.key_id,
    )


def _public_key_to_proto(public: PublicKey) -> audit_pb2.GetPublicKeyResponse:
    return audit_pb2.GetPublicKeyResponse(
        key_id=public.key_id, algorithm=ALGORITHM, public_key_pem=public.pem, public_key=public.raw
    )
