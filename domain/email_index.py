"""One stream per e-mail address: saving it with the user makes addresses unique."""

from __future__ import annotations

import hashlib
import hmac
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate


def email_index_id(email: str, key: str | None = None) -> UUID:
    """The index stream's id. Stream ids travel in clear (Kafka keys, audit
    views), so with a key the address is hashed under it: nobody holding a
    candidate address can confirm that it has an account."""
    normalized = email.strip().lower()
    if key:
        normalized = hmac.new(key.encode(), normalized.encode(), hashlib.sha256).hexdigest()
    return uuid5(NAMESPACE_URL, f"/crowdfund/emails/{normalized}")


class EmailIndex(ChainedAggregate):
    id: UUID

    @event("EmailClaimed")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
