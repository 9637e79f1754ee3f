"""Cap tables: shares issued and amount invested per backer of a settled campaign."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, money


def campaign_of(batch: Batch, cap_table_id: str) -> str:
    return str(batch.rows(t.cap_tables).require(cap_table_id)["campaign_id"])


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    tables = batch.rows(t.cap_tables)
    tables.prefetch((e.stream_id,) for e in events)
    opened = {e.stream_id: e.payload["campaign_id"] for e in events
              if e.type == "CapTableOpened"}
    keys = []
    for e in events:
        if e.type == "SharesIssued":
            known = tables.get(e.stream_id)
            campaign_id = opened.get(e.stream_id) or (known and known["campaign_id"])
            keys += [(campaign_id, item["backer_id"]) for item in e.payload["issues"]]
    batch.rows(t.holdings).prefetch(keys)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    if e.type == "CapTableOpened":
        batch.rows(t.cap_tables).insert({
            "id": e.stream_id, "campaign_id": p["campaign_id"], "currency": p["currency"],
            "price_per_share": money(p["price_per_share"]),
        })
    elif e.type == "SharesIssued":
        campaign_id = campaign_of(batch, e.stream_id)
        holdings = batch.rows(t.holdings)
        for item in p["issues"]:
            shares, amount = int(item["shares"]), money(item["amount"])
            row = holdings.get(campaign_id, item["backer_id"])
            if row is None:
                holdings.insert({"campaign_id": campaign_id, "backer_id": item["backer_id"],
                                 "shares": shares, "amount_invested": amount})
            else:
                row["shares"] += shares
                row["amount_invested"] += amount


MODEL = ReadModel(
    name="cap_tables",
    tables=(t.cap_tables, t.holdings),
    handles=frozenset({"CapTableOpened", "SharesIssued"}),
    apply=apply,
    prefetch=prefetch,
)
