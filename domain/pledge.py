"""A backer's pledge to a campaign: its own small stream, so that a hot
campaign never carries the state of every pledge."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, NotAllowedError


class PledgeStatus(Enum):
    ACTIVE = "ACTIVE"
    PENDING_RECONFIRMATION = "PENDING_RECONFIRMATION"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    SETTLED = "SETTLED"


OPEN = (PledgeStatus.ACTIVE, PledgeStatus.PENDING_RECONFIRMATION)


def pledge_id_for(backer_id: str, idempotency_key: str) -> UUID:
    """The same key from the same backer always names the same pledge."""
    return uuid5(NAMESPACE_URL, f"/crowdfund/pledges/{backer_id}/{idempotency_key}")


class Pledge(ChainedAggregate):
    id: UUID
    # The reconfirm-by instant the backer was last reminded of (domain.reminders).
    reminded_for: datetime | None = None

    @event("PledgePlaced")
    def __init__(
        self, campaign_id: str, backer_id: str, regime: str, currency: str, amount: Decimal,
        shares: int, pledged_at: datetime, terms_version: int, risk_acknowledged: bool,
        cancellable_until: datetime | None,
    ) -> None:
        self.campaign_id = campaign_id
        self.backer_id = backer_id
        self.regime = regime
        self.currency = currency
        self.amount = amount
        self.shares = shares
        self.pledged_at = pledged_at
        self.terms_version = terms_version
        self.risk_acknowledged = risk_acknowledged
        # ECSP: fixed at placement (reflection period); REG_CF follows the deadline.
        self.cancellable_until = cancellable_until
        self.status = PledgeStatus.ACTIVE
        self.reconfirm_by: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def require_backer(self, user_id: str) -> None:
        if user_id != self.backer_id:
            raise NotAllowedError("Only the backer who made this pledge can change it.")

    def require_open(self, doing: str) -> None:
        if not self.is_open:
            raise InvalidStateError(
                f"Cannot {doing}: the pledge is {self.status.value}.", "PLEDGE_CLOSED"
            )

    def cancel(self, reason: str) -> None:
        self.require_open("cancel the pledge")
        self._cancelled(reason)

    @event("PledgeCancelled")
    def _cancelled(self, reason: str) -> None:
        self.status = PledgeStatus.CANCELLED
        self.reconfirm_by = None

    def request_reconfirmation(self, reconfirm_by: datetime, terms_version: int) -> None:
        self.require_open("ask for reconfirmation")
        self._reconfirmation_requested(reconfirm_by, terms_version)

    @event("ReconfirmationRequested")
    def _reconfirmation_requested(self, reconfirm_by: datetime, terms_version: int) -> None:
        self.status = PledgeStatus.PENDING_RECONFIRMATION
        self.reconfirm_by = reconfirm_by

    def reconfirm(self, terms_version: int) -> None:
        if self.status is not PledgeStatus.PENDING_RECONFIRMATION:
            raise InvalidStateError(
                f"Only a pledge pending reconfirmation can be reconfirmed; this one is "
                f"{self.status.value}.", "NOT_PENDING_RECONFIRMATION",
            )
        self._reconfirmed(terms_version)

    @event("PledgeReconfirmed")
    def _reconfirmed(self, terms_version: int) -> None:
        self.status = PledgeStatus.ACTIVE
        self.terms_version = terms_version
        self.reconfirm_by = None

    def remind_to_reconfirm(self) -> None:
        """Once per reconfirmation window, while the pledge still waits for it."""
        pending = self.status is PledgeStatus.PENDING_RECONFIRMATION
        if pending and self.reconfirm_by is not None and self.reminded_for != self.reconfirm_by:
            self._reconfirmation_reminded(self.reconfirm_by)

    @event("ReconfirmationReminded")
    def _reconfirmation_reminded(self, reconfirm_by: datetime) -> None:
        self.reminded_for = reconfirm_by

    def refund(self, reason: str) -> None:
        self.require_open("refund the pledge")
        self._refunded(reason)

    @event("PledgeRefunded")
    def _refunded(self, reason: str) -> None:
        self.status = PledgeStatus.REFUNDED
        self.reconfirm_by = None

    def settle(self) -> None:
        """Only a confirmed pledge is settled: a pending one lapses at the deadline."""
        if self.status is not PledgeStatus.ACTIVE:
            raise InvalidStateError(
                f"Only an ACTIVE pledge can be settled; this one is {self.status.value}.",
                "PLEDGE_NOT_ACTIVE",
            )
        self._settled()

    @event("PledgeSettled")
    def _settled(self) -> None:
        self.status = PledgeStatus.SETTLED
        self.reconfirm_by = None
