"""`campaignProgress`: the campaign's read model after every change."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.enums import CampaignStatus
from api.progress import ProgressHub
from api.resolvers.campaigns import may_see
from api.scalars import Long
from projections.views import CampaignView


@strawberry.type
class CampaignProgress:
    campaign_id: strawberry.ID
    status: CampaignStatus
    raised: Decimal
    backer_count: int
    position: Long


def progress_of(view: CampaignView) -> CampaignProgress:
    return CampaignProgress(
        campaign_id=strawberry.ID(view.id), status=CampaignStatus(view.status),
        raised=view.raised, backer_count=view.backer_count, position=Long(view.last_position),
    )


async def campaign_progress(
    info: Info[Any, Any], campaign_id: strawberry.ID
) -> AsyncGenerator[CampaignProgress, None]:
    ctx = auth.context(info)
    services = ctx.services
    first = await services.run(services.read_models.campaign, str(campaign_id))
    if first is None or not may_see(ctx.viewer, first):
        raise auth.not_found_error(f"No campaign with id {str(campaign_id)[:64]}.")
    hub = ctx.hub or ProgressHub(services)
    if ctx.metrics is not None:
        ctx.metrics.subscriptions.inc()
    try:
        async for view in hub.watch(first.id, first):
            yield progress_of(view)
    finally:
        if ctx.metrics is not None:
            ctx.metrics.subscriptions.dec()
