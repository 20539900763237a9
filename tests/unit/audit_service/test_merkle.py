"""The Merkle tree, its proofs and their verification against RFC 9162's definitions, computed naively here."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_service.tree.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeId,
    build_tree,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    range_hashes,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962 test leaves and the roots of their first 1..8 (from certificate-transparency's merkle tree tests).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# --- the reference: RFC 9162 §2.1 read literally, recursion over lists of leaf data ---


def ref_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


def ref_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, data[:k]) + [ref_mth(data[k:])]
    return ref_path(m - k, data[k:]) + [ref_mth(data[:k])]


def ref_subproof(m: int, data: list[bytes], complete: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if complete else [ref_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, data[:k], complete) + [ref_mth(data[k:])]
    return ref_subproof(m - k, data[k:], False) + [ref_mth(data[:k])]


def leaves_data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def stored_tree(data: list[bytes]) -> tuple[dict[NodeId, bytes], Frontier]:
    """What the service stores: leaves at level 0 plus every completed inner node, built by appending."""
    frontier = Frontier()
    nodes: dict[NodeId, bytes] = {}
    for index, item in enumerate(data):
        leaf = leaf_hash(item)
        nodes[NodeId(0, index)] = leaf
        nodes.update(frontier.append(leaf))
    return nodes, frontier


sizes = st.integers(min_value=1, max_value=300)


def test_roots_match_the_certificate_transparency_test_vectors() -> None:
    frontier = Frontier()
    for data, expected in zip(CT_LEAVES, CT_ROOTS, strict=True):
        frontier.append(leaf_hash(bytes.fromhex(data)))
        assert frontier.root().hex() == expected


def test_the_empty_tree_has_the_hash_of_nothing_as_root() -> None:
    assert Frontier().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@settings(max_examples=150, deadline=None)
@given(n=sizes)
def test_appending_leaf_by_leaf_gives_the_reference_root_and_the_bulk_build(n: int) -> None:
    data = leaves_data(n)
    nodes, frontier = stored_tree(data)
    inner, bulk_frontier = build_tree([leaf_hash(item) for item in data])

    assert frontier.root() == ref_mth(data) == bulk_frontier.root()
    assert inner == {node: hash_ for node, hash_ in nodes.items() if node.level > 0}
    assert bulk_frontier.hashes == frontier.hashes
    # A writer restarting from the stored head continues exactly where it stopped.
    resumed = Frontier(n, frontier.hashes)
    resumed.append(leaf_hash(b"next"))
    assert resumed.root() == ref_mth([*data, b"next"])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=sizes)
def test_inclusion_proofs_equal_the_reference_and_verify(data: st.DataObject, n: int) -> None:
    m = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf index")
    items = leaves_data(n)
    nodes, _ = stored_tree(items)

    proof = range_hashes(inclusion_ranges(m, n), nodes)

    assert proof == ref_path(m, items)
    root = ref_mth(items)
    assert verify_inclusion(leaf=leaf_hash(items[m]), index=m, tree_size=n, path=proof, root=root)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=sizes)
def test_an_inclusion_proof_fails_for_a_changed_leaf_index_path_or_root(data: st.DataObject, n: int) -> None:
    m = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf index")
    items = leaves_data(n)
    nodes, _ = stored_tree(items)
    proof = range_hashes(inclusion_ranges(m, n), nodes)
    root, leaf = ref_mth(items), leaf_hash(items[m])

    assert not verify_inclusion(leaf=leaf_hash(b"tampered"), index=m, tree_size=n, path=proof, root=root)
    assert not verify_inclusion(leaf=leaf, index=m, tree_size=n, path=proof, root=leaf_hash(b"other root"))
    if n > 1:
        other = data.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda i: i != m), label="other index")
        assert not verify_inclusion(leaf=leaf, index=other, tree_size=n, path=proof, root=root)
        broken = list(proof)
        position = data.draw(st.integers(min_value=0, max_value=len(broken) - 1), label="path element")
        broken[position] = leaf_hash(b"wrong sibling")
        assert not verify_inclusion(leaf=leaf, index=m, tree_size=n, path=broken, root=root)
        assert not verify_inclusion(leaf=leaf, index=m, tree_size=n, path=proof[:-1], root=root)
    assert not verify_inclusion(leaf=leaf, index=m, tree_size=n, path=[*proof, root], root=root)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=sizes)
def test_consistency_proofs_equal_the_reference_and_verify(data: st.DataObject, n: int) -> None:
    m = data.draw(st.integers(min_value=1, max_value=n), label="first size")
    items = leaves_data(n)
    nodes, _ = stored_tree(items)

    proof = range_hashes(consistency_ranges(m, n), nodes)

    assert proof == ref_subproof(m, items, True)
    assert verify_consistency(first=m, second=n, first_root=ref_mth(items[:m]), second_root=ref_mth(items), proof=proof)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=300))
def test_a_consistency_proof_fails_once_an_entry_below_the_first_size_is_rewritten(data: st.DataObject, n: int) -> None:
    m = data.draw(st.integers(min_value=1, max_value=n - 1), label="first size")
    rewritten = data.draw(st.integers(min_value=0, max_value=m - 1), label="rewritten entry")
    items = leaves_data(n)
    first_root = ref_mth(items[:m])  # what the checkpoint at size m signed
    items[rewritten] = b"rewritten"
    nodes, _ = stored_tree(items)

    proof = range_hashes(consistency_ranges(m, n), nodes)

    assert not verify_consistency(first=m, second=n, first_root=first_root, second_root=ref_mth(items), proof=proof)


@pytest.mark.parametrize(
    ("first", "second", "proof_length"),
    [(0, 5, 0), (6, 5, 1), (5, 5, 1), (3, 5, 0)],
)
def test_consistency_verification_refuses_impossible_sizes_and_proof_shapes(
    first: int, second: int, proof_length: int
) -> None:
    items = leaves_data(max(first, second))
    assert not verify_consistency(
        first=first,
        second=second,
        first_root=ref_mth(items[:first]),
        second_root=ref_mth(items[:second]),
        proof=[leaf_hash(b"x")] * proof_length,
    )


def test_inclusion_verification_refuses_an_index_outside_the_tree() -> None:
    items = leaves_data(4)
    root = ref_mth(items)
    assert not verify_inclusion(leaf=leaf_hash(items[0]), index=4, tree_size=4, path=ref_path(0, items), root=root)


def test_proof_ranges_refuse_sizes_that_have_no_proof() -> None:
    with pytest.raises(ValueError, match="not in a tree of size 3"):
        inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match="from size 0"):
        consistency_ranges(0, 3)
    with pytest.raises(ValueError, match="a tree of size 3 has 2 frontier hashes"):
        Frontier(3, [EMPTY_ROOT])
