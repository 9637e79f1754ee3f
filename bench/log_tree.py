"""What the Merkle tree of the log costs per event, off the write path (issue 18).

    python -m bench.log_tree [--backers 3000] [--batch 2000]

A PostgreSQL event store (personal data encrypted, as in production) gets about four
events per backer in bulk; then the log-heads worker's work is timed on it:
`grow_tree` until the tree covers the log (read and decode each event, two SHA-256 per
leaf on average, node rows inserted), split into decoding alone and hashing alone, the
storage per event, and the latency of an inclusion and a consistency proof. The
pledge command's transaction does none of this: the worker reads the committed log.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import sqlalchemy as sa
from eventsourcing.cipher import AESCipher

from application import transparency
from application.crowdfund import Crowdfund
from bench.common import build_app, bulk_backers, fresh_schema, table, timed, write_result
from domain import merkle
from projections.log_tree import SqlLogTree

SCHEMA = "bench_log_tree"
PROOFS = 200


def decode_only(app: Crowdfund, batch: int) -> int:
    after, count = 0, 0
    while True:
        leaves = list(transparency.log_leaves(app, after, batch))
        if not leaves:
            return count
        count += len(leaves)
        after = leaves[-1][0]


def hashing_only(size: int) -> None:
    leaves = [merkle.leaf_hash(n.to_bytes(32, "big")) for n in range(size)]
    nodes: dict[merkle.Node, bytes] = {}
    for start in range(0, size, 2000):
        nodes.update(merkle.appended_nodes(start, leaves[start:start + 2000],
                                           nodes.__getitem__))


def proof_latency(tree: SqlLogTree, size: int) -> tuple[float, float]:
    inclusion, consistency = [], []
    for n in range(PROOFS):
        position = 1 + (n * 7919) % size
        with timed() as took:
            transparency.inclusion_proof(tree, position, size)
        inclusion.append(took[0])
        with timed() as took:
            transparency.consistency_proof(tree, position, size)
        consistency.append(took[0])
    return statistics.median(inclusion) * 1000, statistics.median(consistency) * 1000


def table_bytes(tree: SqlLogTree) -> int:
    with tree.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_total_relation_size('log_tree_nodes')"))
                   .scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backers", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    url = fresh_schema(SCHEMA)
    app = build_app(url, CIPHER_TOPIC="eventsourcing.cipher:AESCipher",
                    CIPHER_KEY=AESCipher.create_key(num_bytes=32))
    bulk_backers(app, args.backers)
    events = app.head_position()
    tree = SqlLogTree(url.replace("postgresql://", "postgresql+psycopg://", 1), writer=True)
    with timed() as grow:
        size = transparency.grow_fully(app, tree, args.batch)
    with timed() as decode:
        decode_only(app, args.batch)
    with timed() as hashing:
        hashing_only(size)
    inclusion_ms, consistency_ms = proof_latency(tree, size)
    per = {
        "grow_us_per_event": grow[0] / size * 1e6,
        "decode_us_per_event": decode[0] / size * 1e6,
        "hash_us_per_event": hashing[0] / size * 1e6,
        "nodes_per_event": len(tree.all_nodes()) / size,
        "bytes_per_event": table_bytes(tree) / size,
    }
    figures: dict[str, Any] = {"events": events, "tree_size": size, **per,
                               "inclusion_proof_ms_p50": inclusion_ms,
                               "consistency_proof_ms_p50": consistency_ms}
    print(table([
        ("measure", "value"),
        ("events in the log", f"{events:,}"),
        ("grow the tree, all in (µs/event)", f"{per['grow_us_per_event']:.1f}"),
        ("  of which decoding the event (µs/event)", f"{per['decode_us_per_event']:.1f}"),
        ("  of which hashing (µs/event)", f"{per['hash_us_per_event']:.1f}"),
        ("nodes stored per event", f"{per['nodes_per_event']:.2f}"),
        ("storage per event (bytes, with index)", f"{per['bytes_per_event']:.0f}"),
        ("inclusion proof p50 (ms)", f"{inclusion_ms:.2f}"),
        ("consistency proof p50 (ms)", f"{consistency_ms:.2f}"),
    ]))
    print(f"written to {write_result('log_tree', figures)}")
    tree.close()
    app.close()


if __name__ == "__main__":
    main()
