"""The event store's global log, read through the eventsourcing application."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from projections.envelope import EventRecord, record_of


class StoreLog:
    """Reads the notification log in order; ids may have gaps, never late-filled ones
    (SQLite has one writer; the PostgreSQL recorder locks the table per insert)."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app

    def read(self, after: int, limit: int, upto: int | None = None) -> Sequence[Notification]:
        return self.app.recorder.select_notifications(
            after, limit, stop=upto, inclusive_of_start=False
        )

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def record(self, notification: Notification) -> EventRecord:
        return record_of(self.app.mapper, notification)
