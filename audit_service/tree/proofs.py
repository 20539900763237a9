"""Inclusion and consistency proofs read from the stored tree: O(log n) nodes in two indexed queries."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from audit_service.errors import InvalidRequestError, LogCorruptedError, OutOfRangeError
from audit_service.log.store import AuditStore
from audit_service.log.tables import AUDIT_TRAIL, LOG_HEAD, MERKLE_NODES
from audit_service.tree.merkle import NodeId, consistency_ranges, inclusion_ranges, nodes_for, range_hashes


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]


class Prover:
    """Blocking calls; run them off the event loop. Sizes are checked against the log head."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def inclusion(self, seq: int, tree_size: int) -> InclusionProof:
        if seq < 0:
            raise InvalidRequestError(f"seq must be >= 0, got {seq}")
        with self._store.transaction() as connection:
            self._check_size(connection, tree_size)
            if seq >= tree_size:
                seqs = f"its seqs are 0..{tree_size - 1}"
                raise OutOfRangeError(f"entry {seq} is not in the tree of size {tree_size} ({seqs})")
            ranges = inclusion_ranges(seq, tree_size)
            leaf = NodeId(0, seq)
            nodes = self._fetch(connection, nodes_for(ranges) | {leaf})
        return InclusionProof(
            leaf_index=seq, tree_size=tree_size, leaf_hash=nodes[leaf], audit_path=range_hashes(ranges, nodes)
        )

    def consistency(self, first: int, second: int) -> list[bytes]:
        if first < 1:
            raise InvalidRequestError(f"first must be >= 1, got {first}")
        if first > second:
            raise InvalidRequestError(f"first ({first}) must not exceed second ({second})")
        with self._store.transaction() as connection:
            self._check_size(connection, second)
            ranges = consistency_ranges(first, second)
            nodes = self._fetch(connection, nodes_for(ranges))
        return range_hashes(ranges, nodes)

    @staticmethod
    def _check_size(connection: Connection, tree_size: int) -> None:
        head_size = connection.execute(sa.select(LOG_HEAD.c.tree_size)).scalar_one()
        if not 0 < tree_size <= head_size:
            raise OutOfRangeError(f"tree_size must be 1..{head_size} (the log's size), got {tree_size}")

    @staticmethod
    def _fetch(connection: Connection, wanted: set[NodeId]) -> dict[NodeId, bytes]:
        leaves = sorted(node.index for node in wanted if node.level == 0)
        inner = sorted((node.level, node.index) for node in wanted if node.level > 0)
        found: dict[NodeId, bytes] = {}
        if leaves:
            query = sa.select(AUDIT_TRAIL.c.seq, AUDIT_TRAIL.c.leaf_hash).where(AUDIT_TRAIL.c.seq.in_(leaves))
            found.update((NodeId(0, row.seq), bytes(row.leaf_hash)) for row in connection.execute(query))
        if inner:
            query = sa.select(MERKLE_NODES).where(sa.tuple_(MERKLE_NODES.c.level, MERKLE_NODES.c.index).in_(inner))
            found.update((NodeId(level, index), bytes(hash_)) for level, index, hash_ in connection.execute(query))
        missing = sorted(wanted - set(found))
        if missing:
            # The head says these exist: the storage was tampered with or lost rows.
            raise LogCorruptedError(f"the stored log lacks tree nodes {missing[:5]}; GET /audit/verify names them")
        return found
