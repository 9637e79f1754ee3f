"""Campaign lifecycle mutations and the campaign queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.enums import PUBLIC_CAMPAIGN_STATUSES, CampaignStatus
from api.inputs import (
    AmendCampaignInput,
    DraftCampaignInput,
    NewDeadline,
    ReviewChecklistInput,
    UpdateInput,
    check,
    checked_reason,
)
from api.payloads import CampaignResult, CampaignSaved, UpdatePosted, UpdateResult
from api.resolvers.common import Outcome, mutate, read
from api.reviews import checklist_record
from api.scalars import Long
from api.types import (
    Campaign,
    CampaignConnection,
    CampaignEdge,
    CampaignUpdate,
    Issuer,
    PageInfo,
    campaign_from_view,
    clamp_first,
    issuer_from_record,
)
from application.crowdfund import Crowdfund
from application.offerings import IssuerDetails
from application.unit_of_work import Written
from domain.errors import NotFoundError
from domain.user import STAFF, Role
from projections.queries import InvalidCursor
from projections.views import CampaignView, Page


async def _campaign_saved(info: Info[Any, Any], written: Written[UUID]) -> CampaignSaved:
    return CampaignSaved(position=Long(written.position), campaign_id=str(written.value))


async def _update_posted(
    info: Info[Any, Any], posted: tuple[Written[str], CampaignUpdate]
) -> UpdatePosted:
    written, update = posted
    return UpdatePosted(update=update, position=Long(written.position))


CAMPAIGN_SAVED = Outcome(CampaignResult, _campaign_saved)
UPDATE_POSTED = Outcome(UpdateResult, _update_posted)


async def draft_campaign(info: Info[Any, Any], input: DraftCampaignInput) -> CampaignResult:
    def draft(app: Crowdfund, who: Viewer) -> Written[UUID]:
        args = input.checked()
        issuer = None if args.issuer is None else IssuerDetails(**args.issuer.model_dump())
        return app.offerings.draft(who.id, **args.model_dump(exclude={"issuer"}), issuer=issuer)

    return await mutate(info, CAMPAIGN_SAVED, draft)


async def amend_campaign(
    info: Info[Any, Any], id: strawberry.ID, input: AmendCampaignInput
) -> CampaignResult:
    def amend(app: Crowdfund, who: Viewer) -> Written[UUID]:
        changes = input.checked().model_dump(by_alias=True, exclude_none=True)
        return app.offerings.amend(who.id, str(id), changes)

    return await mutate(info, CAMPAIGN_SAVED, amend)


async def submit_campaign(info: Info[Any, Any], id: strawberry.ID) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.submit(
        who.id, str(id)))


ChecklistArgument = Annotated[
    ReviewChecklistInput | None,
    strawberry.argument(description="The due-diligence checklist, recorded in the event. "
                        "To approve, every item must be true (`ValidationProblem` "
                        "DUE_DILIGENCE_INCOMPLETE otherwise); absent, none is recorded."),
]


async def approve_campaign(
    info: Info[Any, Any], id: strawberry.ID, checklist: ChecklistArgument = None
) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.approve(
        who.id, str(id), checklist_record(checklist)))


async def reject_campaign(
    info: Info[Any, Any], id: strawberry.ID, reason: str, checklist: ChecklistArgument = None
) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.reject(
        who.id, str(id), checked_reason(reason), checklist_record(checklist)))


async def launch_campaign(info: Info[Any, Any], id: strawberry.ID) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.launch(
        who.id, str(id)))


async def close_early(
    info: Info[Any, Any], id: strawberry.ID, new_deadline: datetime
) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.close_early(
        who.id, str(id), check(NewDeadline, new_deadline=new_deadline).new_deadline))


async def cancel_campaign(info: Info[Any, Any], id: strawberry.ID, reason: str) -> CampaignResult:
    return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.cancel(
        who.id, str(id), checked_reason(reason)))


async def post_update(
    info: Info[Any, Any], campaign_id: strawberry.ID, input: UpdateInput
) -> UpdateResult:
    def post(app: Crowdfund, who: Viewer) -> tuple[Written[str], CampaignUpdate]:
        args = input.checked()
        written = app.offerings.post_update(
            who.id, str(campaign_id), args.title, args.body, bool(args.material)
        )
        # The campaign's last event is UpdatePosted or, for a material update, a
        # reconfirmation's: either way its timestamp is the posting instant.
        posted_at = app.campaign(str(campaign_id)).modified_on
        update = CampaignUpdate(
            id=strawberry.ID(str(written.value)), posted_at=posted_at, title=args.title,
            body=args.body, material=bool(args.material),
        )
        return written, update

    return await mutate(info, UPDATE_POSTED, post)


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


async def my_campaigns(info: Info[Any, Any]) -> list[Campaign]:
    """The signed-in user's own campaigns (as their founder), every status, newest first."""
    who = auth.require_viewer(info)
    services = auth.context(info).services
    views = await services.run(services.read_models.campaigns_of_founder, who.id)
    return [campaign_from_view(v) for v in views]


async def review_queue(info: Info[Any, Any]) -> list[Campaign]:
    auth.require_role(info, Role.RISK_OFFICER, Role.AUDITOR, doing="see the review queue")
    services = auth.context(info).services
    views = await services.run(services.read_models.review_queue)
    return [campaign_from_view(v) for v in views]


async def issuer(info: Info[Any, Any], id: strawberry.ID) -> Issuer | None:
    """Anyone: an issuer and what it sold in the last 12 months (null if unknown)."""
    services = auth.context(info).services

    def load() -> Issuer | None:
        try:
            return issuer_from_record(services.app.issuer(str(id)), services.clock.now())
        except NotFoundError:
            return None

    return await read(info, load)
