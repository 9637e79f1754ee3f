"""A settled campaign's cap table: shares issued per backer, and distributions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.distribution import DeclaredDistribution, pro_rata
from domain.errors import InvalidStateError


def cap_table_id(campaign_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/crowdfund/cap-tables/{campaign_id}")


class CapTable(ChainedAggregate):
    id: UUID

    @event("CapTableOpened")
    def __init__(self, campaign_id: str, price_per_share: Decimal, currency: str) -> None:
        self.campaign_id = campaign_id
        self.price_per_share = price_per_share
        self.currency = currency
        self.holdings: dict[str, int] = {}
        self.invested: dict[str, Decimal] = {}
        self.distributions = 0

    @property
    def total_shares(self) -> int:
        return sum(self.holdings.values())

    @event("SharesIssued")
    def issue_shares(self, issues: list[dict[str, Any]]) -> None:
        """One entry per settled pledge: pledge_id, backer_id, shares, amount."""
        for item in issues:
            backer = item["backer_id"]
            self.holdings[backer] = self.holdings.get(backer, 0) + int(item["shares"])
            self.invested[backer] = self.invested.get(backer, Decimal("0")) + Decimal(
                str(item["amount"])
            )

    def payouts_for(self, total: Decimal) -> dict[str, Decimal]:
        """What each shareholder would be paid of `total`, to the cent: the rule a
        distribution is declared by, and the founder's preview of it."""
        if not self.holdings:
            raise InvalidStateError("No shares have been issued yet.", "NO_SHAREHOLDERS")
        return pro_rata(total, self.holdings)

    def declare_distribution(self, distribution_id: str, total: Decimal) -> DeclaredDistribution:
        payouts = self.payouts_for(total)
        self._distribution_declared(
            distribution_id, total, [{"backer_id": b, "amount": a} for b, a in payouts.items()]
        )
        return DeclaredDistribution(
            distribution_id, self.campaign_id, total, payouts, self.modified_on
        )

    @event("DistributionDeclared")
    def _distribution_declared(
        self, distribution_id: str, total: Decimal, payouts: list[dict[str, Any]]
    ) -> None:
        self.distributions += 1
