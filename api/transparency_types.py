"""The tamper-evident log as the contract shows it: signed tree heads, proofs, keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.scalars import Long
from application import transparency


@strawberry.type(description="A signed head of the Merkle tree over the whole event log "
                 "(RFC 6962); see docs/audit.md.")
class SignedTreeHead:
    size: Long = strawberry.field(description="Number of events covered: log positions 1..size.")
    root_hash: str = strawberry.field(description="Hex Merkle tree hash of those events.")
    at: datetime
    signature: str = strawberry.field(
        description="Hex Ed25519 signature over the UTF-8 bytes of size, rootHash and at "
        "(ISO 8601, as given here), joined by newlines."
    )
    key_id: str


@strawberry.type
class InclusionProof:
    position: Long
    tree_size: Long
    leaf_hash: str = strawberry.field(description="Hex leaf hash of the event at `position`.")
    path: list[str] = strawberry.field(
        description="Hex sibling hashes from the leaf up (RFC 6962 audit path)."
    )


@strawberry.type
class ConsistencyProof:
    from_size: Long
    to_size: Long
    path: list[str] = strawberry.field(description="Hex hashes (RFC 6962 consistency proof).")


@strawberry.type
class LogKey:
    key_id: str
    public_key_pem: str = strawberry.field(
        description="Ed25519 public key, PEM (SubjectPublicKeyInfo)."
    )
    created_at: datetime


def signed_tree_head(head: transparency.TreeHead) -> SignedTreeHead:
    # `at` is kept as signed; serialising the parsed instant gives the same text back.
    return SignedTreeHead(size=Long(head.size), root_hash=head.root_hash,
                          at=datetime.fromisoformat(head.at), signature=head.signature,
                          key_id=head.key_id)


def inclusion_proof(proof: transparency.InclusionProof) -> InclusionProof:
    return InclusionProof(position=Long(proof.position), tree_size=Long(proof.tree_size),
                          leaf_hash=proof.leaf_hash, path=proof.path)


def consistency_proof(proof: transparency.ConsistencyProof) -> ConsistencyProof:
    return ConsistencyProof(from_size=Long(proof.from_size), to_size=Long(proof.to_size),
                            path=proof.path)


def log_key(key: transparency.LogKey) -> LogKey:
    return LogKey(key_id=key.key_id, public_key_pem=key.public_key_pem,
                  created_at=key.created_at)
