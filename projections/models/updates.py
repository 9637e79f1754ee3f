"""Campaign updates, material-change notices included."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import ReadModel


def apply_many(conn: sa.Connection, events: Sequence[EventRecord]) -> None:
    conn.execute(sa.insert(t.updates), [
        {"id": e.payload["update_id"], "campaign_id": e.stream_id, "posted_at": e.occurred_at,
         "title": e.payload["title"], "body": e.payload["body"],
         "material": bool(e.payload["material"]), "position": e.position}
        for e in events
    ])


MODEL = ReadModel(
    name="updates", tables=(t.updates,), handles=frozenset({"UpdatePosted"}),
    apply_many=apply_many,
)
