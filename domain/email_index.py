"""One stream per e-mail address: saving it with the user makes addresses unique."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate


def email_index_id(email: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/crowdfund/emails/{email.strip().lower()}")


class EmailIndex(ChainedAggregate):
    id: UUID

    @event("EmailClaimed")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
