"""The log's Merkle tree as RFC 9162 defines it: hashing, the right-edge frontier, proofs and their verification.

Pure functions only, so the service and the offline verifier share them. A perfect subtree is
named by `NodeId(level, index)`: it covers leaves [index * 2**level, (index + 1) * 2**level).
Level-0 nodes are the leaves themselves. The service stores every perfect subtree once it is
complete, so any proof is a fold over stored nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
# RFC 9162 §2.1.1: domain separation, so a leaf can never be passed off as an inner node.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, order=True)
class NodeId:
    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees whose right fold is MTH(D[start:end]), largest first.

    Valid for the ranges RFC 9162's recursions produce: `start` is a multiple of the
    smallest power of two >= end - start, so every piece is aligned.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append(NodeId(level, start >> level))
        start += 1 << level
    return nodes


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive perfect subtrees given largest first (RFC 9162 splits at the largest power of two)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def frontier_nodes(tree_size: int) -> list[NodeId]:
    """The perfect subtrees along the right edge of a tree of `tree_size` leaves, largest first."""
    return perfect_cover(0, tree_size)


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The subtree ranges whose hashes form PATH(index, D[0:tree_size]), leaf's sibling first (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return list(reversed(ranges))


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The subtree ranges whose hashes form PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1), for 0 < first <= second."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, second, True
    m = first
    while m != end - start:
        k = largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    return list(reversed(ranges))


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[NodeId]:
    """Every stored node a list of ranges needs: what a proof fetches, in one query."""
    return {node for start, end in ranges for node in perfect_cover(start, end)}


def range_hashes(ranges: Sequence[tuple[int, int]], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Assembles a proof from the fetched nodes; KeyError names a node the storage lacked."""
    return [fold_right([nodes[node] for node in perfect_cover(start, end)]) for start, end in ranges]


class Frontier:
    """The right edge of a growing tree: appends leaves, reports the perfect subtrees they complete.

    Holds one hash per set bit of the tree size, largest subtree first, so it is all a writer
    needs to keep between appends.
    """

    def __init__(self, tree_size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != tree_size.bit_count():
            expected = tree_size.bit_count()
            raise ValueError(f"a tree of size {tree_size} has {expected} frontier hashes, not {len(hashes)}")
        self.tree_size = tree_size
        self._nodes = list(zip(frontier_nodes(tree_size), hashes, strict=True))

    @property
    def hashes(self) -> list[bytes]:
        return [hash_ for _, hash_ in self._nodes]

    def root(self) -> bytes:
        return fold_right(self.hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Adds the next leaf; returns the inner nodes (level >= 1) this completes, lowest first."""
        completed: list[tuple[NodeId, bytes]] = []
        node, hash_ = NodeId(0, self.tree_size), leaf
        while self._nodes and self._nodes[-1][0].level == node.level:
            left_node, left_hash = self._nodes.pop()
            node, hash_ = NodeId(node.level + 1, left_node.index >> 1), node_hash(left_hash, hash_)
            completed.append((node, hash_))
        self._nodes.append((node, hash_))
        self.tree_size += 1
        return completed


def build_tree(leaves: Sequence[bytes]) -> tuple[dict[NodeId, bytes], Frontier]:
    """Every inner perfect subtree of a whole log, level by level; for bulk loads and backfills."""
    inner: dict[NodeId, bytes] = {}
    level, current = 0, list(leaves)
    while len(current) > 1:
        level += 1
        current = [node_hash(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)]
        inner.update((NodeId(level, index), hash_) for index, hash_ in enumerate(current))

    def stored(node: NodeId) -> bytes:
        return leaves[node.index] if node.level == 0 else inner[node]

    size = len(leaves)
    return inner, Frontier(size, [stored(node) for node in frontier_nodes(size)])


def verify_inclusion(*, leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= tree_size or index < 0:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, step by step; sizes must satisfy 0 < first <= second."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a stored subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
