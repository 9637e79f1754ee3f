"""Campaign lifecycle mutations and the campaign queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.enums import PUBLIC_CAMPAIGN_STATUSES, CampaignStatus
from api.inputs import (
    Amend,
    AmendCampaignInput,
    Draft,
    DraftCampaignInput,
    NewDeadline,
    Reason,
    Update,
    UpdateInput,
    check,
)
from api.payloads import (
    CAMPAIGN_PROBLEMS,
    UPDATE_PROBLEMS,
    CampaignResult,
    CampaignSaved,
    UpdatePosted,
    UpdateResult,
)
from api.resolvers.common import read, run_command
from api.scalars import Long
from api.types import (
    Campaign,
    CampaignConnection,
    CampaignEdge,
    CampaignUpdate,
    PageInfo,
    campaign_from_view,
    clamp_first,
)
from application.unit_of_work import Written
from domain.user import Role
from projections.queries import InvalidCursor
from projections.views import CampaignView, Page

STAFF = (Role.ADMIN, Role.RISK_OFFICER, Role.AUDITOR)


def _saved(written: Written[Any] | Any) -> CampaignResult:
    if isinstance(written, Written):
        return CampaignSaved(position=Long(written.position), campaign_id=str(written.value))
    return written  # type: ignore[no-any-return]


async def draft_campaign(info: Info[Any, Any], input: DraftCampaignInput) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(
        Draft, title=input.title, summary=input.summary, regime=input.regime.value,
        minTarget=input.min_target, maxTarget=input.max_target, minPledge=input.min_pledge,
        pricePerShare=input.price_per_share, deadline=input.deadline,
    )
    if not isinstance(args, Draft):
        return args
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.draft, who.id, title=args.title,
        summary=args.summary, regime=args.regime, min_target=args.minTarget,
        max_target=args.maxTarget, min_pledge=args.minPledge,
        price_per_share=args.pricePerShare, deadline=args.deadline,
    ))


async def amend_campaign(
    info: Info[Any, Any], id: strawberry.ID, input: AmendCampaignInput
) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(
        Amend, title=input.title, summary=input.summary, minTarget=input.min_target,
        maxTarget=input.max_target, minPledge=input.min_pledge,
        pricePerShare=input.price_per_share, deadline=input.deadline,
    )
    if not isinstance(args, Amend):
        return args
    changes = {k: v for k, v in args.model_dump().items() if v is not None}
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.amend, who.id, str(id), changes
    ))


async def submit_campaign(info: Info[Any, Any], id: strawberry.ID) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return _saved(await run_command(info, CAMPAIGN_PROBLEMS, app.offerings.submit, who.id, str(id)))


async def approve_campaign(info: Info[Any, Any], id: strawberry.ID) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.approve, who.id, str(id)
    ))


async def reject_campaign(info: Info[Any, Any], id: strawberry.ID, reason: str) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(Reason, reason=reason)
    if not isinstance(args, Reason):
        return args
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.reject, who.id, str(id), args.reason
    ))


async def launch_campaign(info: Info[Any, Any], id: strawberry.ID) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return _saved(await run_command(info, CAMPAIGN_PROBLEMS, app.offerings.launch, who.id, str(id)))


async def close_early(
    info: Info[Any, Any], id: strawberry.ID, new_deadline: datetime
) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(NewDeadline, newDeadline=new_deadline)
    if not isinstance(args, NewDeadline):
        return args
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.close_early, who.id, str(id), args.newDeadline
    ))


async def cancel_campaign(info: Info[Any, Any], id: strawberry.ID, reason: str) -> CampaignResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(Reason, reason=reason)
    if not isinstance(args, Reason):
        return args
    app = auth.context(info).services.app
    return _saved(await run_command(
        info, CAMPAIGN_PROBLEMS, app.offerings.cancel, who.id, str(id), args.reason
    ))


async def post_update(
    info: Info[Any, Any], campaign_id: strawberry.ID, input: UpdateInput
) -> UpdateResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(Update, title=input.title, body=input.body)
    if not isinstance(args, Update):
        return args
    services = auth.context(info).services
    written = await run_command(
        info, UPDATE_PROBLEMS, services.app.offerings.post_update, who.id, str(campaign_id),
        args.title,
        args.body,
    )
    if not isinstance(written, Written):
        return written
    # The UpdatePosted event is the campaign's last: its timestamp is the posting instant.
    record = await services.run(services.app.campaign, str(campaign_id))
    update = CampaignUpdate(
        id=strawberry.ID(str(written.value)), posted_at=record.modified_on, title=args.title,
        body=args.body, material=False,
    )
    return UpdatePosted(update=update, position=Long(written.position))


# Queries ------------------------------------------------------------------------------


def may_see(who: Viewer | None, view: CampaignView) -> bool:
    """Drafts and campaigns under review are their founder's and the staff's business."""
    if CampaignStatus(view.status) in PUBLIC_CAMPAIGN_STATUSES:
        return True
    return who is not None and (who.id == view.founder_id or who.has(*STAFF))


async def campaign(info: Info[Any, Any], id: strawberry.ID) -> Campaign | None:
    view = await auth.context(info).loaders.campaigns.load(str(id))
    if view is None or not may_see(auth.viewer(info), view):
        return None
    return campaign_from_view(view)


def _connection(views: list[CampaignView], cursors: list[str], total: int, more: bool
                ) -> CampaignConnection:
    return CampaignConnection(
        edges=[CampaignEdge(cursor=c, node=campaign_from_view(v))
               for v, c in zip(views, cursors, strict=True)],
        page_info=PageInfo(has_next_page=more, end_cursor=cursors[-1] if cursors else None),
        total_count=total,
    )


async def campaigns(
    info: Info[Any, Any], status: CampaignStatus | None = None, first: int | None = 20,
    after: str | None = None,
) -> CampaignConnection:
    who = auth.viewer(info)
    size = clamp_first(first, 20)
    read_models = auth.context(info).services.read_models
    staff = who is not None and who.has(*STAFF)
    if status is not None and status not in PUBLIC_CAMPAIGN_STATUSES and not staff:
        raise auth.forbidden(
            f"Only staff can list {status.value} campaigns; founders see their own by id."
        )
    statuses = (
        [status.value] if status is not None
        else [None] if staff
        else sorted(s.value for s in PUBLIC_CAMPAIGN_STATUSES)
    )

    def load() -> list[Page[CampaignView]]:
        return [read_models.campaigns(s, size, after) for s in statuses]

    try:
        pages = await read(info, load)
    except InvalidCursor:
        raise auth.bad_input("`after` is not a cursor this API handed out.") from None
    if len(pages) == 1:
        page = pages[0]
        return _connection(list(page.items), list(page.cursors), page.total_count,
                           page.has_next_page)
    # Public listing: merge the per-status pages (cursors share one order: draft position).
    merged = sorted(
        (item for p in pages for item in zip(p.items, p.cursors, strict=True)),
        key=lambda pair: pair[0].seq,
    )
    chosen = merged[:size]
    more = len(merged) > size or any(p.has_next_page for p in pages)
    return _connection([v for v, _ in chosen], [c for _, c in chosen],
                       sum(p.total_count for p in pages), more)


async def review_queue(info: Info[Any, Any]) -> list[Campaign]:
    auth.require_role(info, Role.RISK_OFFICER, Role.AUDITOR, doing="see the review queue")
    services = auth.context(info).services
    views = await services.run(services.read_models.review_queue)
    return [campaign_from_view(v) for v in views]
