"""Anyone's reads of the tamper-evident log: the latest signed head, proofs, keys."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from api import auth
from api import transparency_types as types
from api.resolvers.common import read
from api.scalars import Long
from application import transparency
from application.transparency import LogTreeStore


def _store(info: Info[Any, Any]) -> LogTreeStore:
    store = auth.context(info).services.log_tree
    if store is None:
        raise auth.bad_input("This server does not keep the log's Merkle tree.")
    return store


async def log_head(info: Info[Any, Any]) -> types.SignedTreeHead:
    head = await read(info, transparency.latest_head, _store(info))
    return types.signed_tree_head(head)


async def inclusion_proof(
    info: Info[Any, Any], position: Long, tree_size: Long | None = None
) -> types.InclusionProof:
    proof = await read(info, transparency.inclusion_proof, _store(info), position, tree_size)
    return types.inclusion_proof(proof)


async def consistency_proof(
    info: Info[Any, Any], from_size: Long, to_size: Long | None = None
) -> types.ConsistencyProof:
    proof = await read(info, transparency.consistency_proof, _store(info), from_size, to_size)
    return types.consistency_proof(proof)


async def log_keys(info: Info[Any, Any]) -> list[types.LogKey]:
    keys = await read(info, _store(info).log_keys)
    return [types.log_key(k) for k in keys]
