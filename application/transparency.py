"""The tamper-evident log: a Merkle tree over every event in position order, signed
tree heads, and the proofs anyone can check (the contract's `SignedTreeHead`,
`InclusionProof`, `ConsistencyProof`, `LogKey`; docs/audit.md).

The tree is built off the write path, by the log-heads worker, from the event store:
leaf data of position p is the 32 bytes of the hash of the event at p (32 zero bytes
where no event holds p: the id of a rolled-back transaction). The tree's complete
subtrees are stored (`LogTreeStore`, beside the read models), so appending n events
costs O(n + log N) hashes and reads, and every proof is O(log N) reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.persistence import Notification

from application.unit_of_work import UnitOfWork
from domain import merkle
from domain.chain import hash_of
from domain.errors import NotFoundError, ValidationError
from domain.merkle import Node

BATCH = 2000


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head; `at` is the ISO 8601 text exactly as signed."""

    size: int
    root_hash: str
    at: str
    signature: str
    key_id: str

    @property
    def message(self) -> bytes:
        return head_message(self.size, self.root_hash, self.at)

    def to_json(self) -> dict[str, Any]:
        """The contract's field names (`crowdfund audit head`, `crowdfund.log-heads`)."""
        return {"size": self.size, "rootHash": self.root_hash, "at": self.at,
                "signature": self.signature, "keyId": self.key_id}

    @classmethod
    def from_json(cls, data: object) -> TreeHead:
        """A head as `crowdfund audit head` printed it; ValidationError when it is not one."""
        if not isinstance(data, dict):
            raise ValidationError("a tree head is a JSON object with size, rootHash, at, "
                                  "signature and keyId")
        try:
            head = cls(size=data["size"], root_hash=data["rootHash"], at=data["at"],
                       signature=data["signature"], key_id=data["keyId"])
        except KeyError as missing:
            raise ValidationError(f"the tree head lacks {missing.args[0]}") from None
        if not isinstance(head.size, int) or isinstance(head.size, bool) or head.size < 0:
            raise ValidationError("the tree head's size must be a whole number")
        for name in ("root_hash", "at", "signature", "key_id"):
            if not isinstance(getattr(head, name), str):
                raise ValidationError(f"the tree head's {name} must be a string")
        if not _is_hex(head.root_hash, merkle.HASH_SIZE):
            raise ValidationError("the tree head's rootHash must be 64 hex digits")
        return head


@dataclass(frozen=True)
class LogKey:
    key_id: str
    public_key_pem: str
    created_at: datetime


@dataclass(frozen=True)
class InclusionProof:
    position: int
    tree_size: int
    leaf_hash: str
    path: list[str]


@dataclass(frozen=True)
class ConsistencyProof:
    from_size: int
    to_size: int
    path: list[str]


@dataclass(frozen=True)
class Receipt:
    """What a backer keeps to prove later that an event was recorded: a signed head
    that covers its position, and the inclusion proof of its leaf in that head."""

    head: TreeHead
    proof: InclusionProof


# --- ports ----------------------------------------------------------------------------------


class LogTreeStore(Protocol):
    """Where the tree's complete subtrees, the signed heads and the public keys live."""

    def size(self) -> int: ...

    def nodes(self, wanted: Sequence[Node]) -> dict[Node, bytes]: ...

    def extend(
        self, old_size: int, new_size: int, nodes: Sequence[tuple[Node, bytes]]
    ) -> bool:
        """Store the nodes and the new size if the size is still `old_size` (else False)."""
        ...

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of leaf indices [start, end) that are stored, in order."""
        ...

    def leaf_index(self, leaf: bytes, below: int) -> int | None: ...

    def latest_head(self) -> TreeHead | None: ...

    def add_head(self, head: TreeHead) -> None: ...

    def log_keys(self) -> list[LogKey]: ...

    def add_key(self, key: LogKey) -> None: ...


class HeadSigner(Protocol):
    """Signs tree heads (Ed25519); the private key never leaves it."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_key_pem(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


# (public key PEM, message, signature) -> does it verify
SignatureCheck = Callable[[str, bytes, bytes], bool]


class MemoryLogTree:
    """A `LogTreeStore` in memory: tests, and the tree `rebuild_tree` recomputes."""

    def __init__(self) -> None:
        self._size = 0
        self._nodes: dict[Node, bytes] = {}
        self._heads: list[TreeHead] = []
        self._keys: dict[str, LogKey] = {}

    def size(self) -> int:
        return self._size

    def nodes(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        return {n: self._nodes[n] for n in wanted if n in self._nodes}

    def all_nodes(self) -> dict[Node, bytes]:
        return dict(self._nodes)

    def extend(self, old_size: int, new_size: int, nodes: Sequence[tuple[Node, bytes]]) -> bool:
        if self._size != old_size:
            return False
        self._nodes.update(nodes)
        self._size = new_size
        return True

    def leaves(self, start: int, end: int) -> list[bytes]:
        return [self._nodes[(0, i)] for i in range(start, min(end, self._size))]

    def leaf_index(self, leaf: bytes, below: int) -> int | None:
        return next((i for i in range(min(below, self._size)) if self._nodes[(0, i)] == leaf),
                    None)

    def latest_head(self) -> TreeHead | None:
        return self._heads[-1] if self._heads else None

    def add_head(self, head: TreeHead) -> None:
        self._heads.append(head)

    def log_keys(self) -> list[LogKey]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    def add_key(self, key: LogKey) -> None:
        self._keys.setdefault(key.key_id, key)


# --- leaves from the event store ------------------------------------------------------------


def head_message(size: int, root_hash: str, at: str) -> bytes:
    """What a head's signature covers (the contract): size, rootHash and at, one a line."""
    return f"{size}\n{root_hash}\n{at}".encode()


def _is_hex(text: object, size: int) -> bool:
    if not isinstance(text, str) or len(text) != 2 * size:
        return False
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def leaf_data(app: UnitOfWork, notification: Notification, *, recompute: bool = False) -> bytes:
    """The leaf data of a stored event: its hash, or VACANT when it does not decode.

    `recompute` hashes the event's content again (what verification does), so an
    event edited in place leaves a different leaf even if its stored hash was kept.
    Otherwise only the stored `hash` is read: decrypted and parsed as plain JSON,
    without building the event (half the worker's cost per event; bench/README.md).
    """
    try:
        digest = hash_of(app.mapper.to_domain_event(notification)) if recompute else (
            _stored_hash(app, notification)
        )
    except Exception:  # tampered or damaged bytes: no hash to take
        return merkle.VACANT
    if not isinstance(digest, str) or not _is_hex(digest, merkle.HASH_SIZE):
        return merkle.VACANT
    return bytes.fromhex(digest)


def _stored_hash(app: UnitOfWork, notification: Notification) -> object:
    state = notification.state
    mapper = app.mapper
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    return json.loads(state).get("hash")


def log_leaves(
    app: UnitOfWork, after: int, limit: int, *, upto: int | None = None,
    recompute: bool = False,
) -> Iterator[tuple[int, bytes, bool]]:
    """(position, leaf data, whether an event holds it) for positions after `after`,
    gaps filled with VACANT, up to the last event of at most `limit` events (and no
    further than `upto`)."""
    notes = app.recorder.select_notifications(
        after, limit, stop=upto, inclusive_of_start=False
    )
    position = after
    for note in notes:
        for vacant in range(position + 1, note.id):
            yield vacant, merkle.VACANT, False
        yield note.id, leaf_data(app, note, recompute=recompute), True
        position = note.id


# --- growing the tree -----------------------------------------------------------------------


def grow_tree(app: UnitOfWork, store: LogTreeStore, batch: int = BATCH) -> int:
    """Append the events after the tree's size (at most `batch`): how many leaves were
    added (0 when the tree already covers the log, or another worker just grew it)."""
    size = store.size()
    leaves = [merkle.leaf_hash(data) for _, data, _ in log_leaves(app, size, batch)]
    if not leaves:
        return 0
    made = merkle.appended_nodes(size, leaves, _lookup(store))
    return len(leaves) if store.extend(size, size + len(leaves), made) else 0


def grow_fully(app: UnitOfWork, store: LogTreeStore, batch: int = BATCH) -> int:
    """Grow until the tree covers the log's head as seen now; the tree's size."""
    while grow_tree(app, store, batch):
        pass
    return store.size()


def rebuild_tree(app: UnitOfWork, batch: int = BATCH) -> MemoryLogTree:
    """The tree recomputed from the event log alone (it must equal the stored one)."""
    fresh = MemoryLogTree()
    grow_fully(app, fresh, batch)
    return fresh


def _lookup(store: LogTreeStore) -> Callable[[Node], bytes]:
    def node(wanted: Node) -> bytes:
        found = store.nodes([wanted])
        if wanted not in found:
            raise LookupError(f"the stored tree lacks node {wanted}")
        return found[wanted]

    return node


def root_at(store: LogTreeStore, size: int) -> bytes:
    """The tree hash of the first `size` leaves, from the stored complete subtrees."""
    wanted = merkle.frontier(size)
    found = store.nodes(wanted)
    if len(found) != len(wanted):
        raise LookupError(f"the stored tree does not reach size {size}")
    return merkle.fold([found[n] for n in wanted])


# --- signed tree heads ----------------------------------------------------------------------


def now_for_heads() -> datetime:
    """Heads carry whole seconds in UTC: the signed text is then `isoformat()` everywhere."""
    return datetime.now(UTC).replace(microsecond=0)


def register_key(store: LogTreeStore, signer: HeadSigner, now: datetime) -> None:
    """List the signer's public key (kept, like every earlier key, after rotation)."""
    store.add_key(LogKey(signer.key_id, signer.public_key_pem, now))


def sign_head(
    store: LogTreeStore, signer: HeadSigner, now: datetime, *, force: bool = False
) -> TreeHead | None:
    """Sign and store a head of the tree as it is, unless the latest head has that size."""
    size = store.size()
    latest = store.latest_head()
    if latest is not None and latest.size >= size and not force:
        return None
    root = root_at(store, size).hex()
    at = now.astimezone(UTC).replace(microsecond=0).isoformat()
    signature = signer.sign(head_message(size, root, at)).hex()
    head = TreeHead(size, root, at, signature, signer.key_id)
    store.add_head(head)
    return head


def latest_head(store: LogTreeStore) -> TreeHead:
    head = store.latest_head()
    if head is None:
        raise NotFoundError(
            "No signed tree head yet: the log-heads worker signs the first within seconds "
            "of starting (`crowdfund worker log-heads`)."
        )
    return head


# --- proofs ---------------------------------------------------------------------------------


def _hashes(store: LogTreeStore, ranges: Sequence[merkle.Range]) -> list[str]:
    wanted = [n for start, end in ranges for n in merkle.complete_subtrees(start, end)]
    found = store.nodes(wanted)
    node = found.__getitem__
    return [merkle.range_hash(start, end, node).hex() for start, end in ranges]


def _tree_size(store: LogTreeStore, requested: int | None) -> int:
    if requested is None:
        return latest_head(store).size
    built = store.size()
    if requested > built:
        raise ValidationError(f"treeSize {requested} is beyond the tree, which has {built} "
                              "leaves so far.", field="treeSize")
    return requested


def inclusion_proof(
    store: LogTreeStore, position: int, tree_size: int | None = None
) -> InclusionProof:
    """Proof that the event at `position` is in the tree of `tree_size` (default: the
    latest signed head)."""
    size = _tree_size(store, tree_size)
    if not 1 <= position <= size:
        raise ValidationError(f"position must be between 1 and the tree size {size}.",
                              field="position")
    leaf = store.nodes([(0, position - 1)])[(0, position - 1)]
    path = _hashes(store, merkle.inclusion_ranges(position - 1, size))
    return InclusionProof(position, size, leaf.hex(), path)


def consistency_proof(
    store: LogTreeStore, from_size: int, to_size: int | None = None
) -> ConsistencyProof:
    """Proof that the tree of `to_size` (default: the latest head) extends that of
    `from_size`."""
    size = _tree_size(store, to_size)
    if not 1 <= from_size <= size:
        raise ValidationError(f"fromSize must be between 1 and toSize {size}.",
                              field="fromSize")
    path = _hashes(store, merkle.consistency_ranges(from_size, size))
    return ConsistencyProof(from_size, size, path)


def receipt(store: LogTreeStore, position: int) -> Receipt | None:
    """The latest signed head covering `position` and the event's inclusion proof in it;
    None while no head covers it yet (heads follow the log within seconds)."""
    head = store.latest_head()
    if head is None or position < 1 or head.size < position:
        return None
    return Receipt(head, inclusion_proof(store, position, head.size))
