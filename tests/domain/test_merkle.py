"""The Merkle tree's hash rules and proofs against RFC 6962 / RFC 9162.

Known answers: Certificate Transparency's test vectors (eight leaf inputs, the root of
every prefix, inclusion and consistency proofs; as kept by transparency-dev/merkle's
testonly package), and the worked example of RFC 9162 section 2.1.5 (RFC 6962 2.1.3).
Properties (hypothesis): every proof verifies for random sizes, and fails when any
hash in it, the leaf, or a root is changed.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import merkle
from domain.merkle import (
    Accumulator,
    appended_nodes,
    complete_subtrees,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAF_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
H = bytes.fromhex
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def leaves_of(entries: list[bytes]) -> list[bytes]:
    return [leaf_hash(e) for e in entries]


def proof_hashes(leaves: list[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    return [root_of(leaves[a:b]) for a, b in ranges]


# --- known answers -----------------------------------------------------------------------


def test_hash_rules_are_rfc_6962() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == ROOTS[1]
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_of_every_prefix(size: int) -> None:
    leaves = leaves_of(LEAF_INPUTS[:size])
    assert root_of(leaves) == ROOTS[size]
    accumulated = Accumulator()
    for leaf in leaves:
        accumulated.add(leaf)
    assert accumulated.root() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    leaves = leaves_of(LEAF_INPUTS[:size])
    got = proof_hashes(leaves, inclusion_ranges(index, size))
    assert got == [H(h) for h in path]
    assert verify_inclusion(index, size, leaves[index], got, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    leaves = leaves_of(LEAF_INPUTS[:new])
    got = proof_hashes(leaves, consistency_ranges(old, new))
    assert got == [H(h) for h in path]
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], got)


def test_the_worked_example_of_rfc_9162() -> None:
    """Section 2.1.5: seven leaves d0..d6, the named nodes a..l, and their proofs."""
    a, b, c, d, e, f, d6 = leaves_of([f"d{i}".encode() for i in range(7)])
    g, h, i = node_hash(a, b), node_hash(c, d), node_hash(e, f)
    j = d6
    k, l_ = node_hash(g, h), node_hash(i, j)
    leaves = [a, b, c, d, e, f, d6]
    root = node_hash(k, l_)
    assert root_of(leaves) == root
    # Audit paths.
    for index, path in ((0, [b, h, l_]), (3, [c, g, l_]), (4, [f, j, k]), (6, [i, k])):
        assert proof_hashes(leaves, inclusion_ranges(index, 7)) == path
    # Consistency proofs from hash0 (3 leaves), hash1 = k (4), hash2 (6).
    for old, path in ((3, [c, d, g, l_]), (4, [l_]), (6, [i, j, k])):
        got = proof_hashes(leaves, consistency_ranges(old, 7))
        assert got == path
        assert verify_consistency(old, 7, root_of(leaves[:old]), root, got)


# --- the stored tree: complete subtrees, appended incrementally ----------------------------


def grow(sizes: list[int], leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    size = 0
    for step in sizes:
        batch = leaves[size:size + step]
        nodes.update(appended_nodes(size, batch, nodes.__getitem__))
        size += len(batch)
    return nodes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=12))
def test_incremental_appends_store_every_complete_subtree(batches: list[int]) -> None:
    total = sum(batches)
    leaves = leaves_of([n.to_bytes(4, "big") for n in range(total)])
    nodes = grow(batches, leaves)
    expected = {
        (level, idx): root_of(leaves[idx << level:(idx + 1) << level])
        for level in range(total.bit_length())
        for idx in range(total >> level)
    }
    assert nodes == expected
    for size in range(1, total + 1):
        assert range_hash(0, size, nodes.__getitem__) == root_of(leaves[:size])


def test_an_append_reads_only_the_old_frontier() -> None:
    leaves = leaves_of([n.to_bytes(4, "big") for n in range(1000)])
    nodes = grow([999], leaves)
    read: list[tuple[int, int]] = []

    def stored(node: tuple[int, int]) -> bytes:
        read.append(node)
        return nodes[node]

    appended_nodes(999, leaves[999:], stored)
    # 999 = 0b1111100111: the leaf completes subtrees with the three smallest parts.
    assert read and set(read) <= set(merkle.frontier(999))
    assert sorted(read) == [(0, 998), (1, 498), (2, 248)]


def test_complete_subtrees_cover_a_range() -> None:
    assert complete_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert complete_subtrees(8, 13) == [(2, 2), (0, 12)]


# --- properties: proofs verify, and any change makes them fail ------------------------------


def random_leaves(size: int, seed: int) -> list[bytes]:
    return leaves_of([f"{seed}:{n}".encode() for n in range(size)])


def flip(digest: bytes, bit: int) -> bytes:
    return bytes([digest[0] ^ (1 << (bit % 8)), *digest[1:]])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.integers(0, 10**6), st.integers(0, 7))
def test_every_inclusion_proof_verifies_and_breaks(
    size_index: tuple[int, int], seed: int, bit: int
) -> None:
    size, index = size_index
    leaves = random_leaves(size, seed)
    root = root_of(leaves)
    path = proof_hashes(leaves, inclusion_ranges(index, size))
    assert verify_inclusion(index, size, leaves[index], path, root)
    assert not verify_inclusion(index, size, flip(leaves[index], bit), path, root)
    assert not verify_inclusion(index, size, leaves[index], path, flip(root, bit))
    for n in range(len(path)):
        changed = [*path[:n], flip(path[n], bit), *path[n + 1:]]
        assert not verify_inclusion(index, size, leaves[index], changed, root)
    if size > 1:
        other = (index + 1) % size
        assert not verify_inclusion(other, size, leaves[index], path, root)
    assert not verify_inclusion(index, size, leaves[index], [*path, path[0] if path else root],
                                root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
       st.integers(0, 10**6), st.integers(0, 7))
def test_every_consistency_proof_verifies_and_breaks(
    sizes: tuple[int, int], seed: int, bit: int
) -> None:
    old, new = sizes
    leaves = random_leaves(new, seed)
    old_root, new_root = root_of(leaves[:old]), root_of(leaves)
    path = proof_hashes(leaves, consistency_ranges(old, new))
    assert verify_consistency(old, new, old_root, new_root, path)
    assert not verify_consistency(old, new, flip(old_root, bit), new_root, path)
    assert not verify_consistency(old, new, old_root, flip(new_root, bit), path)
    for n in range(len(path)):
        changed = [*path[:n], flip(path[n], bit), *path[n + 1:]]
        assert not verify_consistency(old, new, old_root, new_root, changed)
    if old < new:
        # A log that rewrote its past: the new tree with one old leaf changed.
        rewritten = [*leaves[:old - 1], flip(leaves[old - 1], bit), *leaves[old:]]
        forged = proof_hashes(rewritten, consistency_ranges(old, new))
        assert not verify_consistency(old, new, old_root, root_of(rewritten), forged)
