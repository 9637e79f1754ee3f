"""Offerings' disclosures (security, valuation, story, use of proceeds, risks, team) and
the documents filed with them."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel


def _prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.offerings).prefetch((e.stream_id,) for e in events)


def _describe(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    valuation = p.get("valuation")
    values = {
        "security_type": p["security_type"],
        "valuation": None if valuation is None else valuation,
        "story": p["story"], "use_of_proceeds": p["use_of_proceeds"], "risks": p["risks"],
        "team": json.dumps(p["team"], ensure_ascii=False), "position": e.position,
    }
    rows = batch.rows(t.offerings)
    row = rows.get(e.stream_id)
    if row is None:
        rows.insert({"campaign_id": e.stream_id, **values})
    else:
        row.update(values)


def _file(conn: sa.Connection, events: Sequence[EventRecord]) -> None:
    conn.execute(sa.insert(t.documents), [
        {"id": e.payload["document_id"], "campaign_id": e.stream_id, "kind": e.payload["kind"],
         "name": e.payload["name"], "content_type": e.payload["content_type"],
         "size": int(e.payload["size"]), "sha256": e.payload["sha256"],
         "uploaded_at": e.occurred_at, "position": e.position}
        for e in events
    ])


OFFERINGS = ReadModel(
    name="offerings", tables=(t.offerings,), handles=frozenset({"OfferingDescribed"}),
    apply=_describe, prefetch=_prefetch,
)
DOCUMENTS = ReadModel(
    name="documents", tables=(t.documents,), handles=frozenset({"DocumentUploaded"}),
    apply_many=_file,
)
