"""The auditors' index of the log: identity and hash chain of every event."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import ReadModel


def apply_many(conn: sa.Connection, events: Sequence[EventRecord]) -> None:
    conn.execute(sa.insert(t.events), [
        {"position": e.position, "stream_id": e.stream_id, "stream_type": e.stream_type,
         "version": e.version, "type": e.type, "occurred_at": e.occurred_at, "hash": e.hash,
         "prev_hash": e.prev_hash}
        for e in events
    ])


MODEL = ReadModel(name="event_index", tables=(t.events,), handles=None, apply_many=apply_many)
