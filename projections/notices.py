"""Reading the notifier's tables: a member's notices (the API) and the mail outbox
(the mail sender). Read marks and delivery records are written here; both are
keyed by the notice's deterministic id, so they survive a rebuild of the notices.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import schema
from projections import tables as t
from projections.db import EngineOrUrl, make_engine
from projections.queries import InvalidCursor
from projections.views import Page

MAX_PAGE = 100
MAX_ERROR = 500


@dataclass(frozen=True)
class NotificationView:
    id: str
    recipient_id: str
    kind: str
    subject: str
    body: str
    campaign_id: str | None
    pledge_id: str | None
    position: int
    created_at: datetime
    read: bool


@dataclass(frozen=True)
class NoticePage:
    page: Page[NotificationView]
    unread_count: int


@dataclass(frozen=True)
class OutboxItem:
    notice: NotificationView
    attempts: int


def _cursor(position: int, notice_id: str) -> str:
    return base64.urlsafe_b64encode(f"notice:{position}:{notice_id}".encode()).decode()


def _uncursor(cursor: str) -> tuple[int, str]:
    try:
        kind, position, notice_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if kind != "notice":
            raise ValueError(kind)
        return int(position), notice_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(cursor) from None


def _view(row: sa.Row[tuple[object, ...]]) -> NotificationView:
    m = row._mapping
    return NotificationView(
        m["id"], m["recipient_id"], m["kind"], m["subject"], m["body"], m["campaign_id"],
        m["pledge_id"], int(m["position"]), m["created_at"], bool(m.get("read_at")),
    )


class Notices:
    """A member's notices, newest first, and their read marks."""

    def __init__(self, engine_or_url: EngineOrUrl) -> None:
        """Shares an engine it is given (the API's read models), or makes its own."""
        schema.upgrade(engine_or_url)
        self.engine: Engine = make_engine(engine_or_url)

    def close(self) -> None:
        self.engine.dispose()

    def _select(self) -> sa.Select[tuple[object, ...]]:
        n, r = t.notifications, t.notification_reads
        return sa.select(n, r.c.read_at).outerjoin(r, r.c.notification_id == n.c.id)

    def page(
        self, recipient_id: str, first: int = 20, after: str | None = None,
        unread_only: bool = False,
    ) -> NoticePage:
        n, r = t.notifications, t.notification_reads
        first = max(0, min(int(first), MAX_PAGE))
        mine = [n.c.recipient_id == recipient_id]
        if unread_only:
            mine.append(r.c.read_at.is_(None))
        conditions = list(mine)
        if after:
            position, notice_id = _uncursor(after)
            conditions.append(sa.or_(n.c.position < position, sa.and_(
                n.c.position == position, n.c.id < notice_id)))
        query = self._select().where(*conditions).order_by(
            n.c.position.desc(), n.c.id.desc()).limit(first + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = conn.execute(sa.select(sa.func.count()).select_from(
                n.outerjoin(r, r.c.notification_id == n.c.id)).where(*mine)).scalar_one()
            unread = self._unread(conn, recipient_id)
        chosen = [_view(row) for row in rows[:first]]
        return NoticePage(Page(
            items=tuple(chosen), cursors=tuple(_cursor(v.position, v.id) for v in chosen),
            total_count=int(total), has_next_page=len(rows) > first,
        ), unread)

    def _unread(self, conn: sa.Connection, recipient_id: str) -> int:
        n, r = t.notifications, t.notification_reads
        mine = sa.select(sa.func.count()).select_from(n).where(n.c.recipient_id == recipient_id)
        read = sa.select(sa.func.count()).select_from(r).where(r.c.recipient_id == recipient_id)
        return int(conn.execute(mine).scalar_one()) - int(conn.execute(read).scalar_one())

    def unread_count(self, recipient_id: str) -> int:
        with self.engine.connect() as conn:
            return self._unread(conn, recipient_id)

    def mark_read(self, recipient_id: str, ids: Sequence[str], now: datetime) -> int:
        """Mark the recipient's own notices among `ids` read; how many were unread.

        One INSERT ... SELECT: the transaction's first statement writes, so SQLite takes
        its write lock (waiting its turn) rather than upgrading a read."""
        n, r = t.notifications, t.notification_reads
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        fresh = sa.select(n.c.id, n.c.recipient_id, sa.literal(now, type_=t.Instant)).where(
            n.c.id.in_(wanted), n.c.recipient_id == recipient_id,
            ~sa.exists().where(r.c.notification_id == n.c.id),
        )
        with self.engine.begin() as conn:
            done = conn.execute(sa.insert(r).from_select(
                ["notification_id", "recipient_id", "read_at"], fresh,
            ).returning(r.c.notification_id)).all()
        return len(done)


class Outbox:
    """The notices waiting to be mailed, and what became of each attempt."""

    def __init__(self, engine_or_url: EngineOrUrl) -> None:
        schema.upgrade(engine_or_url)
        self.engine: Engine = make_engine(engine_or_url, writer=True)

    def close(self) -> None:
        self.engine.dispose()

    def due(self, now: datetime, limit: int = 50) -> list[OutboxItem]:
        """Unsent notices whose next attempt is due, oldest first."""
        n, o = t.notifications, t.notification_outbox
        query = (sa.select(n, o.c.attempts).join(o, o.c.notification_id == n.c.id)
                 .where(o.c.next_attempt_at.is_not(None), o.c.next_attempt_at <= now)
                 .order_by(o.c.next_attempt_at, n.c.position, n.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [OutboxItem(_view(row), int(row.attempts)) for row in conn.execute(query)]

    def _update(self, notice_id: str, **values: object) -> None:
        o = t.notification_outbox
        with self.engine.begin() as conn:
            conn.execute(sa.update(o).where(o.c.notification_id == notice_id).values(**values))

    def sent(self, notice_id: str, message_id: str, now: datetime, attempts: int) -> None:
        self._update(notice_id, sent_at=now, next_attempt_at=None, message_id=message_id,
                     attempts=attempts, last_error=None)

    def retry(self, notice_id: str, attempts: int, error: str, at: datetime) -> None:
        self._update(notice_id, attempts=attempts, last_error=error[:MAX_ERROR],
                     next_attempt_at=at)

    def defer(self, notice_id: str, at: datetime) -> None:
        """Not an attempt: e.g. waiting for a pledge receipt."""
        self._update(notice_id, next_attempt_at=at)

    def give_up(self, notice_id: str, attempts: int, error: str) -> None:
        """No more attempts: the notice stays in the app; the error is kept."""
        self._update(notice_id, attempts=attempts, last_error=error[:MAX_ERROR],
                     next_attempt_at=None)

    def delivered(self) -> dict[str, str]:
        """notice id -> Message-ID of every notice mailed (tests and operators)."""
        o = t.notification_outbox
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(o.c.notification_id, o.c.message_id).where(
                o.c.sent_at.is_not(None))).all())
