"""The Merkle tree of the event log, its signed heads and public keys, in SQL beside
the read models (`application.transparency.LogTreeStore`).

The tree is append-only: a batch of nodes and the new size are written in one
transaction that only succeeds if the size is still the one the batch grew from,
so two workers (or a worker restarted after SIGKILL) never store a node twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from application.transparency import LogKey, TreeHead
from domain.merkle import Node
from projections import schema
from projections import tables as t
from projections.db import EngineOrUrl, make_engine

TREE_ROW = 1
INSERT_CHUNK = 5000


class SqlLogTree:
    def __init__(self, engine_or_url: EngineOrUrl, *, writer: bool = False) -> None:
        schema.upgrade(engine_or_url)
        self.engine = make_engine(engine_or_url, writer=writer)
        self._ensure_row()

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_row(self) -> None:
        with self.engine.connect() as conn:
            if conn.execute(sa.select(t.log_tree.c.size)).first() is not None:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.log_tree).values(id=TREE_ROW, size=0))
        except sa.exc.IntegrityError:
            pass  # another process made it first

    # --- the tree ------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(t.log_tree.c.size)).scalar_one())

    def nodes(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        if not wanted:
            return {}
        c = t.log_tree_nodes.c
        found: dict[Node, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = list(wanted[start:start + 500])
                rows = conn.execute(
                    sa.select(c.level, c.idx, c.hash).where(sa.tuple_(c.level, c.idx).in_(chunk))
                )
                found.update({(int(r.level), int(r.idx)): bytes(r.hash) for r in rows})
        return found

    def extend(self, old_size: int, new_size: int, nodes: Sequence[tuple[Node, bytes]]) -> bool:
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(t.log_tree)
                .where(t.log_tree.c.id == TREE_ROW, t.log_tree.c.size == old_size)
                .values(size=new_size)
            )
            if moved.rowcount != 1:
                conn.rollback()
                return False
            rows = [{"level": level, "idx": idx, "hash": digest}
                    for (level, idx), digest in nodes]
            for start in range(0, len(rows), INSERT_CHUNK):
                conn.execute(sa.insert(t.log_tree_nodes), rows[start:start + INSERT_CHUNK])
        return True

    def leaves(self, start: int, end: int) -> list[bytes]:
        c = t.log_tree_nodes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.hash).where(c.level == 0, c.idx >= start, c.idx < end)
                .order_by(c.idx)
            )
            return [bytes(r.hash) for r in rows]

    def leaf_index(self, leaf: bytes, below: int) -> int | None:
        c = t.log_tree_nodes.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(sa.func.min(c.idx)).where(c.level == 0, c.idx < below, c.hash == leaf)
            ).scalar()
        return None if found is None else int(found)

    # --- heads and keys --------------------------------------------------------------------

    def latest_head(self) -> TreeHead | None:
        heads = self.heads_after(-1, 1, newest=True)
        return heads[0] if heads else None

    def heads_after(self, size: int, limit: int, *, newest: bool = False) -> list[TreeHead]:
        """Heads of a size above `size`, smallest first (or only the newest)."""
        c = t.log_heads.c
        order = c.size.desc() if newest else c.size
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.log_heads).where(c.size > size)
                                .order_by(order).limit(limit))
            return [TreeHead(int(r.size), r.root_hash, r.at, r.signature, r.key_id)
                    for r in rows]

    def add_head(self, head: TreeHead) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.log_heads).values(
                    size=head.size, root_hash=head.root_hash, at=head.at,
                    signature=head.signature, key_id=head.key_id,
                ))
        except sa.exc.IntegrityError:
            pass  # another worker signed this size first

    def log_keys(self) -> list[LogKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.log_keys).order_by(t.log_keys.c.created_at))
            return [LogKey(r.key_id, r.public_key_pem, r.created_at) for r in rows]

    def add_key(self, key: LogKey) -> None:
        with self.engine.connect() as conn:
            known = conn.execute(
                sa.select(t.log_keys.c.key_id).where(t.log_keys.c.key_id == key.key_id)
            ).first()
        if known is not None:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.log_keys).values(
                    key_id=key.key_id, public_key_pem=key.public_key_pem,
                    created_at=key.created_at,
                ))
        except sa.exc.IntegrityError:
            pass

    def all_nodes(self) -> dict[Node, bytes]:
        """Every stored node (tests compare it with a rebuild)."""
        c = t.log_tree_nodes.c
        with self.engine.connect() as conn:
            return {(int(r.level), int(r.idx)): bytes(r.hash)
                    for r in conn.execute(sa.select(c.level, c.idx, c.hash))}
