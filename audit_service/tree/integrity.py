"""Full verification of the stored log: every leaf, stored node, log head and checkpoint recomputed from the rows.

The rows are streamed in seq order inside one REPEATABLE READ snapshot. Each row's leaf hash
is recomputed from its content and compared with the stored one; the tree is rebuilt from the
recomputed leaves and compared, node by node, with the stored tree, the log head and every
signed checkpoint. Only signed checkpoints are beyond a superuser's reach, so they are the
final word; the stored hashes serve to name which entries differ.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from audit_service.log.canonical_entry import EntryEncodingError, entry_leaf_hash
from audit_service.log.records import StoredEntry, entry_document
from audit_service.log.store import AuditStore
from audit_service.log.tables import AUDIT_TRAIL, LOG_HEAD, MERKLE_NODES, entry_from_mapping
from audit_service.signing.checkpoints import Checkpoint
from audit_service.signing.keys import PublicKey
from audit_service.signing.notary import all_checkpoints, registered_keys
from audit_service.tree.merkle import NodeId, fold_right, node_hash

CHANGED = "changed"
MISSING = "missing"
OUT_OF_ORDER = "out_of_order"
FORGED = "forged"
TREE_MISMATCH = "tree_mismatch"
CHECKPOINT_MISMATCH = "checkpoint_mismatch"
# Pairing suspects to find swapped entries is quadratic; beyond this many, they are reported as changed.
MAX_SUSPECTS_TO_PAIR = 100
# A gap wider than this (a head or seq set far ahead) is reported as one range and ends the tree rebuild.
MAX_GAP = 1 << 24
# Rows streamed per round trip; the stored nodes they complete are fetched with them.
CHUNK_ROWS = 5000
# Problems listed in a report; past this many it only says that there were more.
MAX_PROBLEMS = 1000


@dataclass(frozen=True)
class Problem:
    seq: int | None
    kind: str
    detail: str


@dataclass
class IntegrityReport:
    tree_size: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problems_truncated


@dataclass
class _Subtree:
    """A subtree of the rebuilt tree; hash None when a leaf under it is missing, tainted when already reported."""

    node: NodeId
    hash: bytes | None
    tainted: bool


@dataclass(frozen=True)
class _Suspect:
    seq: int
    # Kept only for the first few suspects, the ones paired to find swaps.
    document: dict[str, Any] | None
    stored_leaf: bytes


class LogVerifier:
    def __init__(self, store: AuditStore, public_key: PublicKey) -> None:
        self._store = store
        self._public_key = public_key

    def verify(self) -> IntegrityReport:
        with self._store.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                return _Run(connection, self._public_key).run()


class _Run:
    def __init__(self, connection: Connection, public_key: PublicKey) -> None:
        self._connection = connection
        self._public_key = public_key
        self.report = IntegrityReport()
        self._frontier: list[_Subtree] = []
        self._size = 0  # leaves pushed into the rebuilt tree so far
        self._stored_nodes: dict[NodeId, bytes] = {}
        self._suspects: list[_Suspect] = []
        self._missing: list[int] = []
        self._abandoned = False  # the tree could not be rebuilt past a huge gap
        # Checkpoints not yet compared with the rebuilt tree, smallest first.
        self._pending: deque[Checkpoint] = deque()

    def run(self) -> IntegrityReport:
        head = self._connection.execute(sa.select(LOG_HEAD.c.tree_size, LOG_HEAD.c.root_hash)).one()
        self.report.tree_size = head.tree_size
        checkpoints = all_checkpoints(self._connection)
        self.report.checkpoints_checked = len(checkpoints)
        self._check_signatures(checkpoints)
        self._pending.extend(checkpoints)
        self._check_roots_at(0)
        for chunk in self._chunks(head.tree_size):
            for seq, document, stored_leaf in chunk:
                self.report.entries_checked += 1
                if seq >= head.tree_size or seq < 0:
                    self._add(Problem(seq, FORGED, f"entry {seq} is outside the log head's 0..{head.tree_size - 1}"))
                    continue
                self._skip_missing_up_to(seq)
                if self._abandoned:
                    continue
                leaf = _leaf_of(document)
                if leaf != stored_leaf:
                    keep = len(self._suspects) < MAX_SUSPECTS_TO_PAIR
                    self._suspects.append(_Suspect(seq, document if keep else None, stored_leaf))
                self._push(leaf, tainted=leaf != stored_leaf)
                self._check_roots_at(self._size)
        self._skip_missing_up_to(head.tree_size)
        self._report_rows()
        if not self._abandoned:
            self._check_head(bytes(head.root_hash))
        for checkpoint in self._pending:
            beyond = checkpoint.tree_size > head.tree_size
            reason = f"covers more entries than the log head ({head.tree_size})" if beyond else "cannot be recomputed"
            self._add(Problem(None, CHECKPOINT_MISMATCH, f"checkpoint of size {checkpoint.tree_size} {reason}"))
        self.report.problems.sort(key=lambda problem: (problem.seq is None, problem.seq or 0))
        return self.report

    def _skip_missing_up_to(self, seq: int) -> None:
        """Records the seqs before `seq` that have no row, as unknown leaves of the rebuilt tree."""
        if self._abandoned or self._size >= seq:
            return
        if seq - self._size > MAX_GAP:
            detail = f"no entries at seqs {self._size}..{seq - 1}, which the log head covers"
            self._add(Problem(self._size, MISSING, detail))
            self._abandoned = True
            return
        while self._size < seq:
            self._missing.append(self._size)
            self._push(None, tainted=True)
            self._check_roots_at(self._size)

    def _chunks(self, head_size: int) -> Iterator[list[tuple[int, dict[str, Any] | None, bytes]]]:
        """Rows in seq order, a chunk at a time, with the stored nodes completed within each chunk prefetched."""
        result = self._connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
            sa.select(AUDIT_TRAIL).order_by(AUDIT_TRAIL.c.seq)
        )
        for rows in result.partitions():
            entries = [entry_from_mapping(row._mapping) for row in rows]
            within_head = [entry.seq for entry in entries if entry.seq < head_size]
            if within_head:
                self._prefetch_nodes(self._size, max(within_head) + 1)
            yield [(entry.seq, _document_of(entry), entry.leaf_hash) for entry in entries]

    def _prefetch_nodes(self, start: int, end: int) -> None:
        """Stored nodes that complete when leaves start..end-1 are pushed: one indexed range per level."""
        conditions = []
        level = 1
        while (1 << level) <= end:
            first = -(-(start + 1) // (1 << level)) - 1  # ceil((start + 1) / 2**level) - 1
            last = end // (1 << level) - 1
            if first <= last:
                conditions.append(sa.and_(MERKLE_NODES.c.level == level, MERKLE_NODES.c.index.between(first, last)))
            level += 1
        self._stored_nodes.clear()
        if conditions:
            query = sa.select(MERKLE_NODES).where(sa.or_(*conditions))
            self._stored_nodes.update(
                (NodeId(level, index), bytes(hash_)) for level, index, hash_ in self._connection.execute(query)
            )

    def _push(self, leaf: bytes | None, *, tainted: bool) -> None:
        subtree = _Subtree(NodeId(0, self._size), leaf, tainted)
        while self._frontier and self._frontier[-1].node.level == subtree.node.level:
            left = self._frontier.pop()
            node = NodeId(subtree.node.level + 1, left.node.index >> 1)
            hash_ = None if left.hash is None or subtree.hash is None else node_hash(left.hash, subtree.hash)
            subtree = _Subtree(node, hash_, left.tainted or subtree.tainted)
            self._compare_with_stored(subtree)
        self._frontier.append(subtree)
        self._size += 1

    def _compare_with_stored(self, subtree: _Subtree) -> None:
        node = subtree.node
        stored = self._stored_nodes.get(node)
        if subtree.tainted:
            return  # a problem below it is reported already
        span = f"entries {node.start}..{node.end - 1}"
        if stored is None:
            self._add(Problem(node.start, TREE_MISMATCH, f"the stored tree lacks node {node} over {span}"))
            subtree.tainted = True
        elif stored != subtree.hash:
            detail = (
                f"the stored tree node {node} does not match {span}: one of them was rewritten together with "
                "its leaf hash, or the node itself was"
            )
            self._add(Problem(node.start, TREE_MISMATCH, detail))
            subtree.tainted = True

    def _root(self) -> bytes | None:
        hashes = [subtree.hash for subtree in self._frontier if subtree.hash is not None]
        if len(hashes) < len(self._frontier):
            return None
        return fold_right(hashes)  # the empty tree's root for no subtrees

    def _check_signatures(self, checkpoints: list[Checkpoint]) -> None:
        keys = {key.key_id: key for key in (*registered_keys(self._connection), self._public_key)}
        for checkpoint in checkpoints:
            problem = checkpoint.signature_problem(keys)
            if problem is not None:
                self._add(Problem(None, CHECKPOINT_MISMATCH, problem))

    def _check_roots_at(self, size: int) -> None:
        """Compares the rebuilt root with each pending checkpoint of exactly `size` entries."""
        while self._pending and self._pending[0].tree_size == size:
            checkpoint = self._pending.popleft()
            root = self._root()
            if root is None:
                detail = f"checkpoint of size {size}: its root cannot be recomputed, entries under it are missing"
                self._add(Problem(None, CHECKPOINT_MISMATCH, detail))
            elif root != checkpoint.root_hash:
                detail = f"checkpoint of size {size}: the recomputed root {root.hex()} differs from the signed root"
                self._add(Problem(None, CHECKPOINT_MISMATCH, detail))

    def _check_head(self, head_root: bytes) -> None:
        if any(subtree.tainted for subtree in self._frontier):
            return  # the entries that differ are named already
        if self._root() != head_root:
            self._add(Problem(None, TREE_MISMATCH, "the log head's root does not match the stored entries"))

    def _report_rows(self) -> None:
        """Names each suspect entry: out of order when its content hashes right at another seq, else changed."""
        pairable = len(self._suspects) + len(self._missing) <= MAX_SUSPECTS_TO_PAIR
        stored_leaves = {suspect.seq: suspect.stored_leaf for suspect in self._suspects}
        candidates = [*stored_leaves, *self._missing]
        problems = [Problem(seq, MISSING, f"no entry at seq {seq}, which the log head covers") for seq in self._missing]
        for suspect in self._suspects:
            home = self._home_of(suspect, candidates, stored_leaves) if pairable else None
            if home is None:
                detail = f"entry {suspect.seq}'s content no longer matches its leaf hash {suspect.stored_leaf.hex()}"
                problems.append(Problem(suspect.seq, CHANGED, detail))
            else:
                detail = f"entry {suspect.seq} holds the content recorded at seq {home}"
                problems.append(Problem(suspect.seq, OUT_OF_ORDER, detail))
        for problem in problems:
            self._add(problem)

    @staticmethod
    def _home_of(suspect: _Suspect, candidates: list[int], stored_leaves: dict[int, bytes]) -> int | None:
        """The seq at which this content hashes to a stored leaf: its own (the row moved) or that seq's."""
        if suspect.document is None:
            return None
        for seq in candidates:
            if seq == suspect.seq:
                continue
            moved = entry_leaf_hash({**suspect.document, "seq": seq})
            if moved in (suspect.stored_leaf, stored_leaves.get(seq)):
                return seq
        return None

    def _add(self, problem: Problem) -> None:
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(problem)
        else:
            self.report.problems_truncated = True


def _document_of(entry: StoredEntry) -> dict[str, Any] | None:
    """The entry's hashed fields; None when its stored JSON no longer parses (someone wrote into it)."""
    try:
        return entry_document(entry.seq, entry.record, entry.recorded_at)
    except ValueError:
        return None


def _leaf_of(document: dict[str, Any] | None) -> bytes | None:
    if document is None:
        return None
    try:
        return entry_leaf_hash(document)
    except EntryEncodingError:
        return None
