"""Pledges: place, cancel, reconfirm; the backer's own pledges."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.inputs import PledgeInput
from api.payloads import PledgeResult, PledgeSaved
from api.resolvers.common import Outcome, mutate
from api.scalars import Long
from api.types import Pledge, pledge_from_record, pledge_from_view
from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest, WrittenPledge
from application.unit_of_work import Written
from domain.user import Role


async def _pledge_saved(info: Info[Any, Any], written: Written[UUID]) -> PledgeSaved:
    """The pledge as the write model has it now (the read models may lag): as the
    batch that placed it left it, or else read from the store."""
    services = auth.context(info).services
    if isinstance(written, WrittenPledge) and written.pledge and written.deadline:
        pledge = pledge_from_record(written.pledge, services.clock.now(), written.deadline)
        return PledgeSaved(pledge=pledge, position=Long(written.position))

    def load() -> Pledge:
        record = services.app.pledge_record(written.value)
        campaign = services.app.campaign(record.campaign_id)
        return pledge_from_record(record, services.clock.now(), campaign.terms.deadline)

    return PledgeSaved(pledge=await services.run(load), position=Long(written.position))


PLEDGE_SAVED = Outcome(PledgeResult, _pledge_saved)


async def pledge(info: Info[Any, Any], input: PledgeInput) -> PledgeResult:
    ctx = auth.context(info)

    async def place(app: Crowdfund, who: Viewer) -> Written[UUID]:
        auth.check_role(who, Role.BACKER, "pledge")
        request = PledgeRequest(who.id, **input.checked().model_dump())
        started = time.perf_counter()
        try:  # through the pledge desk, on the event loop
            return await ctx.services.place_pledge(request)
        finally:
            if ctx.metrics is not None:
                ctx.metrics.pledge_latency.observe(time.perf_counter() - started)

    return await mutate(info, PLEDGE_SAVED, place)


async def cancel_pledge(info: Info[Any, Any], pledge_id: strawberry.ID) -> PledgeResult:
    return await mutate(info, PLEDGE_SAVED, lambda app, who: app.pledges.cancel(
        who.id, str(pledge_id)))


async def reconfirm_pledge(info: Info[Any, Any], pledge_id: strawberry.ID) -> PledgeResult:
    return await mutate(info, PLEDGE_SAVED, lambda app, who: app.pledges.reconfirm(
        who.id, str(pledge_id)))


async def my_pledges(info: Info[Any, Any]) -> list[Pledge]:
    who = auth.require_viewer(info)
    services = auth.context(info).services
    views = await services.run(services.read_models.pledges_for_backer, who.id)
    now = services.clock.now()
    return [pledge_from_view(v, now) for v in views]
