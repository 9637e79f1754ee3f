"""Does the event store still hold the log a signed tree head covered?

`crowdfund audit verify --head FILE`: the tree over positions 1..size is recomputed
from the event store (every event's hash recomputed from its content) and compared
with the head's root. When they differ, the stored tree names the position: its
leaves are trusted only if they hash to the signed root themselves, and then the
first leaf that differs is the first position missing, changed or out of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from application.transparency import LogTreeStore, SignatureCheck, TreeHead, log_leaves
from application.unit_of_work import UnitOfWork
from domain import merkle

PAGE = 2000


class Finding(Enum):
    CONSISTENT = "consistent"
    MISSING = "missing"
    CHANGED = "changed"
    OUT_OF_ORDER = "out of order"
    # The log differs, and the stored tree was changed too: no position can be named.
    UNLOCATED = "unlocated"
    UNKNOWN_KEY = "unknown key"
    BAD_SIGNATURE = "bad signature"


@dataclass(frozen=True)
class HeadCheck:
    head: TreeHead
    finding: Finding
    position: int | None = None
    # Out of order: where the event now at `position` was when the head was signed.
    was_at: int | None = None

    @property
    def ok(self) -> bool:
        return self.finding is Finding.CONSISTENT

    def describe(self) -> str:
        head = f"the head of size {self.head.size} signed at {self.head.at}"
        match self.finding:
            case Finding.CONSISTENT:
                return f"the log still holds {head}"
            case Finding.UNKNOWN_KEY:
                return f"{head} names key {self.head.key_id}, which this log never listed"
            case Finding.BAD_SIGNATURE:
                return f"the signature of {head} does not verify with key {self.head.key_id}"
            case Finding.UNLOCATED:
                return (f"the log no longer holds {head}, and the stored tree was changed too, "
                        "so the position cannot be named")
            case Finding.OUT_OF_ORDER:
                return (f"position {self.position} is out of order: it holds the event that "
                        f"was at position {self.was_at} under {head}")
        return f"position {self.position} is {self.finding.value} since {head}"


def check_head(
    app: UnitOfWork, store: LogTreeStore, head: TreeHead, verify: SignatureCheck
) -> HeadCheck:
    signed = _signature_finding(store, head, verify)
    if signed is not None:
        return HeadCheck(head, signed)
    root = bytes.fromhex(head.root_hash)
    recomputed, stored = merkle.Accumulator(), merkle.Accumulator()
    first: tuple[int, bytes, bool] | None = None
    for start in range(0, head.size, PAGE):
        end = min(start + PAGE, head.size)
        now = _leaves_now(app, start, end)
        before = store.leaves(start, end)
        for index, (leaf, present) in enumerate(now, start):
            recomputed.add(leaf)
            if first is None and (index - start >= len(before) or before[index - start] != leaf):
                first = (index + 1, leaf, present)
        for leaf in before:
            stored.add(leaf)
    if recomputed.root() == root:
        return HeadCheck(head, Finding.CONSISTENT)
    if first is None or stored.size != head.size or stored.root() != root:
        return HeadCheck(head, Finding.UNLOCATED)
    return _classify(store, head, *first)


def _signature_finding(
    store: LogTreeStore, head: TreeHead, verify: SignatureCheck
) -> Finding | None:
    key = next((k for k in store.log_keys() if k.key_id == head.key_id), None)
    if key is None:
        return Finding.UNKNOWN_KEY
    try:
        signature = bytes.fromhex(head.signature)
    except ValueError:
        return Finding.BAD_SIGNATURE
    return None if verify(key.public_key_pem, head.message, signature) else Finding.BAD_SIGNATURE


def _leaves_now(app: UnitOfWork, start: int, end: int) -> list[tuple[bytes, bool]]:
    """Leaf hashes of positions start+1..end as the store holds them now (VACANT past its end)."""
    found = {p: (merkle.leaf_hash(data), present)
             for p, data, present in log_leaves(app, start, end - start, upto=end,
                                                recompute=True)}
    vacant = (merkle.leaf_hash(merkle.VACANT), False)
    return [found.get(p, vacant) for p in range(start + 1, end + 1)]


def _classify(store: LogTreeStore, head: TreeHead, position: int, leaf: bytes,
              present: bool) -> HeadCheck:
    if not present:
        return HeadCheck(head, Finding.MISSING, position)
    if leaf != merkle.leaf_hash(merkle.VACANT):
        elsewhere = store.leaf_index(leaf, head.size)
        if elsewhere is not None and elsewhere != position - 1:
            return HeadCheck(head, Finding.OUT_OF_ORDER, position, elsewhere + 1)
    return HeadCheck(head, Finding.CHANGED, position)
