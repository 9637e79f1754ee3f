"""Pledges: place, cancel, reconfirm; the backer's own pledges."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.inputs import PledgeArgs, PledgeInput, check
from api.payloads import PLEDGE_PROBLEMS, PledgeResult, PledgeSaved
from api.problems import not_allowed
from api.resolvers.common import run_command, timed_command
from api.scalars import Long
from api.types import Pledge, pledge_from_record, pledge_from_view
from application.pledges import PledgeRequest
from application.unit_of_work import Written
from domain.user import Role


async def _saved(info: Info[Any, Any], written: Written[UUID]) -> PledgeSaved:
    """The pledge as the write model has it now (the read models may lag)."""
    services = auth.context(info).services

    def load() -> Pledge:
        record = services.app.pledge_record(written.value)
        campaign = services.app.campaign(record.campaign_id)
        return pledge_from_record(record, services.clock.now(), campaign.terms.deadline)

    return PledgeSaved(pledge=await services.run(load), position=Long(written.position))


async def pledge(info: Info[Any, Any], input: PledgeInput) -> PledgeResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    if not who.has(Role.BACKER):
        return not_allowed("Only a user with the BACKER role can pledge.")
    args = check(
        PledgeArgs, campaignId=str(input.campaign_id), amount=input.amount,
        idempotencyKey=input.idempotency_key, acknowledgeRisk=bool(input.acknowledge_risk),
    )
    if not isinstance(args, PledgeArgs):
        return args
    request = PledgeRequest(
        who.id, args.campaignId, args.amount, args.idempotencyKey, args.acknowledgeRisk
    )
    services = auth.context(info).services
    written = await timed_command(info, PLEDGE_PROBLEMS, services.place_pledge(request))
    if not isinstance(written, Written):
        return written
    return await _saved(info, written)


async def cancel_pledge(info: Info[Any, Any], pledge_id: strawberry.ID) -> PledgeResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    written = await run_command(info, PLEDGE_PROBLEMS, app.pledges.cancel, who.id, str(pledge_id))
    if not isinstance(written, Written):
        return written
    return await _saved(info, written)


async def reconfirm_pledge(info: Info[Any, Any], pledge_id: strawberry.ID) -> PledgeResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    written = await run_command(
        info, PLEDGE_PROBLEMS, app.pledges.reconfirm, who.id, str(pledge_id)
    )
    if not isinstance(written, Written):
        return written
    return await _saved(info, written)


async def my_pledges(info: Info[Any, Any]) -> list[Pledge]:
    who = auth.require_viewer(info)
    services = auth.context(info).services
    views = await services.run(services.read_models.pledges_for_backer, who.id)
    now = services.clock.now()
    return [pledge_from_view(v, now) for v in views]
