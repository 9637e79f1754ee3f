"""Notifications and the public Q&A as GraphQL types (contract: Notification,
NotificationKind, NotificationConnection, Question)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api import auth
from api.problems import InvalidState, NotAllowed, NotFound, ValidationProblem
from api.scalars import Long
from api.types import Campaign, PageInfo, Pledge, Question, campaign_from_view
from api.types import pledge_from_view as _pledge_from_view
from application.notification_rules import NotificationKind as Kind
from projections.notices import NotificationView

NotificationKind = strawberry.enum(Kind, name="NotificationKind", description=(
    "What a notice is about. Beyond the contract: RECONFIRMATION_REMINDER, "
    "CANCELLATION_WINDOW_CLOSING and DEADLINE_REACHED, the scheduler's reminders."))


async def _campaign(info: Info[Any, Any], campaign_id: str | None) -> Campaign | None:
    if campaign_id is None:
        return None
    view = await auth.context(info).loaders.campaigns.load(campaign_id)
    return campaign_from_view(view) if view is not None else None


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: NotificationKind  # type: ignore[valid-type]
    created_at: datetime
    subject: str
    body: str = strawberry.field(description="Plain text, the same as the e-mail's.")
    read: bool
    position: Long = strawberry.field(description="Log position of the event that caused it.")
    campaign_id: strawberry.Private[str | None]
    pledge_id: strawberry.Private[str | None]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign | None:
        return await _campaign(info, self.campaign_id)

    @strawberry.field
    async def pledge(self, info: Info[Any, Any]) -> Pledge | None:
        if self.pledge_id is None:
            return None
        services = auth.context(info).services
        view = await services.run(services.read_models.pledge, self.pledge_id)
        return _pledge_from_view(view, services.clock.now()) if view is not None else None


def notification_from_view(view: NotificationView) -> Notification:
    return Notification(
        id=strawberry.ID(view.id), kind=Kind(view.kind), created_at=view.created_at,
        subject=view.subject, body=view.body, read=view.read, position=Long(view.position),
        campaign_id=view.campaign_id, pledge_id=view.pledge_id,
    )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    total_count: int
    unread_count: int


@strawberry.type
class NotificationsRead:
    count: int


NotificationsReadResult = Annotated[
    NotificationsRead | ValidationProblem, strawberry.union("NotificationsReadResult")
]


@strawberry.type
class QuestionSaved:
    question: Question
    position: Long


QuestionResult = Annotated[
    QuestionSaved | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("QuestionResult"),
]
