"""Notifications (myNotifications, markNotificationsRead) and the public Q&A
(askQuestion, answerQuestion, hideQuestion, Campaign.questions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.notice_types import (
    NotificationConnection,
    NotificationEdge,
    NotificationsRead,
    NotificationsReadResult,
    QuestionResult,
    QuestionSaved,
    notification_from_view,
)
from api.resolvers.common import Outcome, mutate, read
from api.scalars import Long
from api.types import PageInfo, clamp_first, question_from_record
from application.crowdfund import Crowdfund
from application.unit_of_work import Written
from domain.errors import ValidationError
from projections.notices import Notices
from projections.queries import InvalidCursor

MAX_IDS = 100


def _notices(info: Info[Any, Any]) -> Notices:
    notices = auth.context(info).services.notices
    if notices is None:
        raise LookupError("no notices configured")  # a bug of the composition root
    return notices


async def my_notifications(
    info: Info[Any, Any], first: int | None = 20, after: str | None = None,
    unread_only: bool | None = False,
) -> NotificationConnection:
    """The signed-in member's notices, newest first."""
    who = auth.require_viewer(info)
    notices = _notices(info)
    try:
        found = await read(info, notices.page, who.id, clamp_first(first, 20), after,
                           bool(unread_only))
    except InvalidCursor:
        raise auth.bad_input("`after` is not a cursor this API handed out.") from None
    page = found.page
    return NotificationConnection(
        edges=[NotificationEdge(cursor=c, node=notification_from_view(v))
               for v, c in zip(page.items, page.cursors, strict=True)],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        total_count=page.total_count, unread_count=found.unread_count,
    )


def _mark_read(
    info: Info[Any, Any], ids: list[strawberry.ID]
) -> Callable[[Crowdfund, Viewer], int]:
    def command(app: Crowdfund, who: Viewer) -> int:
        if len(ids) > MAX_IDS or any(len(i) > 64 or not str(i).isprintable() for i in ids):
            raise ValidationError(f"Give at most {MAX_IDS} notification ids.", "ids")
        return _notices(info).mark_read(who.id, [str(i) for i in ids], app.clock.now())

    return command


async def _read(info: Info[Any, Any], count: int) -> NotificationsRead:
    return NotificationsRead(count=count)


async def _question_saved(info: Info[Any, Any], written: Written[UUID]) -> QuestionSaved:
    """The question as the write model has it now (the read models may lag)."""
    services = auth.context(info).services
    record = await services.run(services.app.questions.question, written.value)
    return QuestionSaved(question=question_from_record(record), position=Long(written.position))


NOTIFICATIONS_READ = Outcome(NotificationsReadResult, _read)
QUESTION_SAVED = Outcome(QuestionResult, _question_saved)


async def mark_notifications_read(
    info: Info[Any, Any], ids: list[strawberry.ID]
) -> NotificationsReadResult:
    """The caller's own notices among `ids` (others' are ignored); the count newly read."""
    return await mutate(info, NOTIFICATIONS_READ, _mark_read(info, ids))


async def ask_question(
    info: Info[Any, Any], campaign_id: strawberry.ID, body: str
) -> QuestionResult:
    return await mutate(info, QUESTION_SAVED, lambda app, who: app.questions.ask(
        who.id, str(campaign_id), body))


async def answer_question(
    info: Info[Any, Any], question_id: strawberry.ID, body: str
) -> QuestionResult:
    return await mutate(info, QUESTION_SAVED, lambda app, who: app.questions.answer(
        who.id, str(question_id), body))


async def hide_question(
    info: Info[Any, Any], question_id: strawberry.ID, reason: str
) -> QuestionResult:
    return await mutate(info, QUESTION_SAVED, lambda app, who: app.questions.hide(
        who.id, str(question_id), reason))
