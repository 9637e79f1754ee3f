"""The Merkle tree over the event log (RFC 6962 section 2, RFC 9162 section 2.1): the
two hash rules, the shape of proofs, and their verification. Pure functions.

Indices here are 0-based leaf indices (leaf i holds log position i + 1). A tree of
`size` leaves splits at the largest power of two smaller than `size`. Proofs are
described as ranges [start, end) of leaves whose tree hashes make up the proof, so
the tree's storage (complete subtrees) and an in-memory list of leaves answer the
same questions the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
# Leaf data of a log position no event holds (a rolled-back transaction's id, or an
# event that no longer decodes): 32 zero bytes, never the SHA-256 of anything we hash.
VACANT = bytes(HASH_SIZE)
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
# (level, index): the complete subtree over leaves [index * 2**level, (index + 1) * 2**level).
Node = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    if size < 2:
        raise ValueError("only a tree of two leaves or more splits")
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 from the leaf hashes, straight from the definition."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = split_point(len(leaf_hashes))
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


# --- the shape of proofs --------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """PATH(m, D[n]) (RFC 6962 2.1.1) as leaf ranges, from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """PROOF(m, D[n]) (RFC 6962 2.1.2, SUBPROOF) as leaf ranges, in proof order."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    ranges: list[Range] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def complete_subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up leaves [start, end), left to right.

    For the ranges of a proof (`start` a multiple of the power of two that bounds the
    range), folding their hashes from the right gives the range's tree hash.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The tree hash of consecutive complete subtrees, largest first (a right fold)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def range_hash(start: int, end: int, node: Callable[[Node], bytes]) -> bytes:
    return fold([node(n) for n in complete_subtrees(start, end)])


def frontier(size: int) -> list[Node]:
    """The complete subtrees of a tree of `size` leaves, largest (leftmost) first."""
    return complete_subtrees(0, size)


# --- growing the tree -----------------------------------------------------------------------


def appended_nodes(
    size: int, leaf_hashes: Iterable[bytes], stored: Callable[[Node], bytes]
) -> list[tuple[Node, bytes]]:
    """Every complete subtree that appending these leaves to a tree of `size` leaves
    completes, leaves included. `stored` answers the frontier of the old tree: about
    two hashes per leaf, and log(size) reads, whatever the tree's size."""
    made: dict[Node, bytes] = {}
    index = size
    for digest in leaf_hashes:
        level, at, current = 0, index, digest
        made[(0, at)] = current
        while at & 1:
            left = (level, at - 1)
            current = node_hash(made[left] if left in made else stored(left), current)
            level, at = level + 1, at >> 1
            made[(level, at)] = current
        index += 1
    return list(made.items())


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root a verified inclusion path leads to; raises ValueError for a malformed one."""
    if not 0 <= index < size:
        raise ValueError("the leaf is not inside the tree")
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("the path is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the path is too short")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, path) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether `path` proves the tree of `new_size` leaves extends that of `old_size`."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    proof = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the proof
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class Accumulator:
    """The root of a growing list of leaves in O(log n) memory (a compact range)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly falling
        self.size = 0

    def add(self, leaf: bytes) -> None:
        level, current = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            current = node_hash(self._stack.pop()[1], current)
            level += 1
        self._stack.append((level, current))
        self.size += 1

    def root(self) -> bytes:
        return fold([digest for _, digest in self._stack])
