"""What a campaign discloses besides its terms, as GraphQL: the security, the valuation,
the story, the use of proceeds, the risks (Markdown, also rendered to safe HTML), the team
and the documents. `Campaign` (api.types) resolves these fields here.

Read from the read models through the request's loaders, or from the write model when
the campaign itself was (a payload written before the projections caught up, an
auditor's campaign as of an instant).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.enums import DocumentKind, SecurityType
from api.markdown import render_markdown
from api.scalars import Long
from domain.campaign import Campaign as CampaignRecord
from domain.cancellation import cancellable_if_placed_now
from domain.offering import Document as DocumentRecord
from domain.rulebook import Regime as DomainRegime
from projections.views import DocumentView, OfferingView, TeamMemberView


@strawberry.type
class TeamMember:
    name: str
    role: str
    bio: str | None


@strawberry.type
class Document:
    id: strawberry.ID
    kind: DocumentKind
    name: str = strawberry.field(description="The file name as uploaded (sanitised).")
    content_type: str = strawberry.field(
        description="Decided from the content, not from the client's claim: application/pdf, "
        "image/png, image/jpeg or image/webp."
    )
    size: Long
    sha256: str = strawberry.field(
        description="Hex SHA-256 of the content. The event that recorded the upload carries "
        "it, so the audit chain covers the file."
    )
    url: str = strawberry.field(description="Where anyone may GET the file: /documents/<sha256>.")
    uploaded_at: datetime


def document_from_view(view: DocumentView) -> Document:
    return Document(
        id=strawberry.ID(view.id), kind=DocumentKind(view.kind), name=view.name,
        content_type=view.content_type, size=Long(view.size), sha256=view.sha256,
        url=f"/documents/{view.sha256}", uploaded_at=view.uploaded_at,
    )


def document_view_of(campaign_id: str, record: DocumentRecord, position: int = 0) -> DocumentView:
    return DocumentView(
        id=record.id, campaign_id=campaign_id, kind=record.kind.value, name=record.name,
        content_type=record.content_type, size=record.size, sha256=record.sha256,
        uploaded_at=record.uploaded_at, position=position,
    )


def offering_view_of(record: CampaignRecord) -> OfferingView:
    offering = record.offering
    return OfferingView(
        campaign_id=str(record.id), security_type=offering.security_type.value,
        valuation=offering.valuation, story=offering.story,
        use_of_proceeds=offering.use_of_proceeds, risks=offering.risks,
        team=tuple(TeamMemberView(m.name, m.role, m.bio) for m in offering.team),
    )


def disclosure_of(record: CampaignRecord) -> tuple[OfferingView, tuple[DocumentView, ...]]:
    """The write model's disclosure, as the read models would show it."""
    campaign_id = str(record.id)
    return offering_view_of(record), tuple(
        document_view_of(campaign_id, d) for d in record.documents
    )


# --- field resolvers of Campaign (`root` is an api.types.Campaign) ------------------------


async def _offering(root: Any, info: Info[Any, Any]) -> OfferingView:
    if root.offering_snapshot is not None:
        return root.offering_snapshot  # type: ignore[no-any-return]
    found = await auth.context(info).loaders.offerings.load(str(root.id))
    return found or OfferingView.empty(str(root.id))


async def security_type(root: Any, info: Info[Any, Any]) -> SecurityType:
    return SecurityType((await _offering(root, info)).security_type)


async def valuation(root: Any, info: Info[Any, Any]) -> Decimal | None:
    return (await _offering(root, info)).valuation


async def story(root: Any, info: Info[Any, Any]) -> str:
    return (await _offering(root, info)).story


async def story_html(root: Any, info: Info[Any, Any]) -> str:
    return render_markdown((await _offering(root, info)).story)


async def use_of_proceeds(root: Any, info: Info[Any, Any]) -> str:
    return (await _offering(root, info)).use_of_proceeds


async def use_of_proceeds_html(root: Any, info: Info[Any, Any]) -> str:
    return render_markdown((await _offering(root, info)).use_of_proceeds)


async def risks(root: Any, info: Info[Any, Any]) -> str:
    return (await _offering(root, info)).risks


async def risks_html(root: Any, info: Info[Any, Any]) -> str:
    return render_markdown((await _offering(root, info)).risks)


async def team(root: Any, info: Info[Any, Any]) -> list[TeamMember]:
    return [TeamMember(name=m.name, role=m.role, bio=m.bio)
            for m in (await _offering(root, info)).team]


async def documents(root: Any, info: Info[Any, Any]) -> list[Document]:
    if root.documents_snapshot is not None:
        views = list(root.documents_snapshot)
    else:
        views = await auth.context(info).loaders.documents.load(str(root.id))
    return [document_from_view(v) for v in views]


async def pledge_cancellable_until(root: Any, info: Info[Any, Any]) -> datetime | None:
    """For the signed-in investor (ECSP counts in their country's time zone)."""
    if root.status.value != "LIVE":
        return None
    now = auth.context(info).services.clock.now()
    if now >= root.deadline:
        return None
    who = auth.viewer(info)
    record = None if who is None else await auth.context(info).loaders.users.load(who.id)
    country = record.profile.country if record is not None and record.profile else None
    return cancellable_if_placed_now(
        DomainRegime(root.regime.value), root.deadline, now, country
    )
