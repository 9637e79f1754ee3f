"""Money views of a campaign: cap table, distributions, escrow, platform statistics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.scalars import Long
from api.types import Campaign, User, campaign_from_record, campaign_from_view, load_user
from domain.distribution import DeclaredDistribution
from projections.views import DistributionView


async def load_campaign(info: Info[Any, Any], campaign_id: str) -> Campaign:
    view = await auth.context(info).loaders.campaigns.load(campaign_id)
    if view is not None:
        return campaign_from_view(view)
    services = auth.context(info).services
    record = await services.run(services.app.campaign, campaign_id)
    return campaign_from_record(record, 0, 0)


@strawberry.type
class Holding:
    shares: Long
    amount_invested: Decimal
    backer_id: strawberry.Private[str]

    @strawberry.field
    async def investor(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.backer_id)


@strawberry.type
class CapTable:
    total_shares: Long
    holdings: list[Holding]
    campaign_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        return await load_campaign(info, self.campaign_id)


@strawberry.type
class Payout:
    amount: Decimal
    backer_id: strawberry.Private[str]

    @strawberry.field
    async def investor(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.backer_id)


@strawberry.type
class Distribution:
    id: strawberry.ID
    total: Decimal
    declared_at: datetime
    payouts: list[Payout]
    campaign_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        return await load_campaign(info, self.campaign_id)


def distribution_from_view(view: DistributionView, only_backer: str | None = None) -> Distribution:
    """`only_backer`: a shareholder who is not an insider sees only their own payout."""
    payouts = [
        Payout(amount=p.amount, backer_id=p.backer_id)
        for p in view.payouts
        if only_backer is None or p.backer_id == only_backer
    ]
    return Distribution(
        id=strawberry.ID(view.id), total=view.total, declared_at=view.declared_at,
        payouts=payouts, campaign_id=view.campaign_id,
    )


def distribution_from_declared(declared: DeclaredDistribution) -> Distribution:
    """A distribution as its command declared it (the read models may lag)."""
    return Distribution(
        id=strawberry.ID(declared.id), total=declared.total, declared_at=declared.declared_at,
        payouts=[Payout(amount=a, backer_id=b) for b, a in declared.payouts.items()],
        campaign_id=declared.campaign_id,
    )


@strawberry.type(
    description="What `declareDistribution` would pay each shareholder of `total`, to the "
    "cent, computed by the same rule; nothing is declared."
)
class DistributionPreview:
    total: Decimal
    payouts: list[Payout]
    campaign_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        return await load_campaign(info, self.campaign_id)


@strawberry.type
class EscrowBalance:
    held: Decimal = strawberry.field(description="Funds held for the campaign's open pledges.")
    released_to_issuer: Decimal
    refunded: Decimal
    campaign_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        return await load_campaign(info, self.campaign_id)


@strawberry.type
class PlatformStats:
    live_campaigns: int
    funded_campaigns: int = strawberry.field(
        description="Campaigns that reached their target: FUNDED or SETTLED."
    )
    backers: int = strawberry.field(description="Distinct backers with at least one pledge.")
    pledges: Long = strawberry.field(description="Pledges ever placed, cancelled ones included.")
    raised_usd: Decimal = strawberry.field(description="Sum of `raised` over REG_CF campaigns.")
    raised_eur: Decimal = strawberry.field(description="Sum of `raised` over ECSP campaigns.")
