"""Notifications (myNotifications, markNotificationsRead) and the public Q&A
(askQuestion, answerQuestion, hideQuestion, Campaign.questions)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.notice_types import (
    NOTIFICATIONS_READ_PROBLEMS,
    QUESTION_PROBLEMS,
    NotificationConnection,
    NotificationEdge,
    NotificationsRead,
    NotificationsReadResult,
    QuestionResult,
    QuestionSaved,
    notification_from_view,
)
from api.problems import fit, invalid
from api.resolvers.common import read, run_command
from api.scalars import Long
from api.types import PageInfo, clamp_first, question_from_record
from application.unit_of_work import Written
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


async def mark_notifications_read(
    info: Info[Any, Any], ids: list[strawberry.ID]
) -> NotificationsReadResult:
    """The caller's own notices among `ids` (others' are ignored); the count newly read."""
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return fit(who, NOTIFICATIONS_READ_PROBLEMS)  # type: ignore[return-value]
    if len(ids) > MAX_IDS or any(len(i) > 64 or not str(i).isprintable() for i in ids):
        return invalid(f"Give at most {MAX_IDS} notification ids.", "ids")
    services = auth.context(info).services
    count = await services.run(_notices(info).mark_read, who.id, [str(i) for i in ids],
                               services.clock.now())
    return NotificationsRead(count=count)


async def _question_saved(info: Info[Any, Any], written: Written[UUID] | Any) -> QuestionResult:
    if not isinstance(written, Written):
        return written  # type: ignore[no-any-return]
    services = auth.context(info).services
    record = await services.run(services.app.questions.question, written.value)
    return QuestionSaved(question=question_from_record(record), position=Long(written.position))


async def ask_question(
    info: Info[Any, Any], campaign_id: strawberry.ID, body: str
) -> QuestionResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return await _question_saved(info, await run_command(
        info, QUESTION_PROBLEMS, app.questions.ask, who.id, str(campaign_id), body))


async def answer_question(
    info: Info[Any, Any], question_id: strawberry.ID, body: str
) -> QuestionResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return await _question_saved(info, await run_command(
        info, QUESTION_PROBLEMS, app.questions.answer, who.id, str(question_id), body))


async def hide_question(
    info: Info[Any, Any], question_id: strawberry.ID, reason: str
) -> QuestionResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    app = auth.context(info).services.app
    return await _question_saved(info, await run_command(
        info, QUESTION_PROBLEMS, app.questions.hide, who.id, str(question_id), reason))
