"""Cap tables, distributions, escrow and platform statistics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.finance import (
    CapTable,
    Distribution,
    DistributionPreview,
    EscrowBalance,
    Holding,
    Payout,
    PlatformStats,
    distribution_from_declared,
    distribution_from_view,
)
from api.inputs import Total, check
from api.payloads import (
    DistributionDeclared,
    DistributionPreviewResult,
    DistributionResult,
)
from api.resolvers.common import Outcome, mutate
from api.scalars import Long
from application.crowdfund import Crowdfund
from application.unit_of_work import Written
from domain.distribution import DeclaredDistribution
from domain.user import Role
from projections.views import CampaignView


async def _campaign_view(info: Info[Any, Any], campaign_id: str) -> CampaignView:
    view = await auth.context(info).loaders.campaigns.load(str(campaign_id))
    if view is None:
        raise auth.not_found_error(f"No campaign with id {str(campaign_id)[:64]}.")
    return view


async def cap_table(info: Info[Any, Any], campaign_id: strawberry.ID) -> CapTable:
    auth.require_viewer(info)
    view = await _campaign_view(info, campaign_id)
    auth.require_insider(info, view.founder_id, "see the cap table")
    services = auth.context(info).services
    holdings = await services.run(services.read_models.holdings, view.id)
    return CapTable(
        total_shares=Long(sum(h.shares for h in holdings)),
        holdings=[
            Holding(shares=Long(h.shares), amount_invested=h.amount_invested,
                    backer_id=h.backer_id)
            for h in holdings
        ],
        campaign_id=view.id,
    )


async def distributions(info: Info[Any, Any], campaign_id: strawberry.ID) -> list[Distribution]:
    """Insiders see every payout; any other signed-in user only their own."""
    who = auth.require_viewer(info)
    view = await _campaign_view(info, campaign_id)
    services = auth.context(info).services
    found = await services.run(services.read_models.distributions, view.id)
    only = None if auth.is_insider(who, view.founder_id) else who.id
    return [distribution_from_view(d, only) for d in found]


async def escrow(info: Info[Any, Any], campaign_id: strawberry.ID) -> EscrowBalance:
    auth.require_viewer(info)
    view = await _campaign_view(info, campaign_id)
    auth.require_insider(info, view.founder_id, "see the escrow account")
    return EscrowBalance(
        held=view.held, released_to_issuer=view.released, refunded=view.refunded,
        campaign_id=view.id,
    )


async def platform_stats(info: Info[Any, Any]) -> PlatformStats:
    auth.require_role(info, Role.ADMIN, Role.AUDITOR, doing="see platform statistics")
    services = auth.context(info).services
    stats = await services.run(services.read_models.platform_stats)
    return PlatformStats(
        live_campaigns=stats.live_campaigns, funded_campaigns=stats.funded_campaigns,
        backers=stats.backers, pledges=Long(stats.pledges), raised_usd=stats.raised_usd,
        raised_eur=stats.raised_eur,
    )


async def _distribution_declared(
    info: Info[Any, Any], written: Written[DeclaredDistribution]
) -> DistributionDeclared:
    return DistributionDeclared(
        distribution=distribution_from_declared(written.value), position=Long(written.position)
    )


DISTRIBUTION_DECLARED = Outcome(DistributionResult, _distribution_declared)


async def declare_distribution(
    info: Info[Any, Any], campaign_id: strawberry.ID, total: Decimal
) -> DistributionResult:
    return await mutate(
        info, DISTRIBUTION_DECLARED, lambda app, who: app.offerings.declare_distribution(
            who.id, str(campaign_id), check(Total, total=total).total),
    )


async def _previewed(
    info: Info[Any, Any], previewed: tuple[str, Decimal, dict[str, Decimal]]
) -> DistributionPreview:
    campaign_id, total, payouts = previewed
    return DistributionPreview(
        total=total, payouts=[Payout(amount=a, backer_id=b) for b, a in payouts.items()],
        campaign_id=campaign_id,
    )


DISTRIBUTION_PREVIEWED = Outcome(DistributionPreviewResult, _previewed)


async def distribution_preview(
    info: Info[Any, Any], campaign_id: strawberry.ID, total: Decimal
) -> DistributionPreviewResult:
    """The founder's dry run of declareDistribution: the same checks and rule (one home:
    `CapTable.payouts_for`), answered with the same problems; nothing is written."""

    def preview(app: Crowdfund, who: Viewer) -> tuple[str, Decimal, dict[str, Decimal]]:
        amount = check(Total, total=total).total
        return str(campaign_id), amount, app.offerings.preview_distribution(
            who.id, str(campaign_id), amount)

    result: DistributionPreviewResult = await mutate(info, DISTRIBUTION_PREVIEWED, preview)
    return result
