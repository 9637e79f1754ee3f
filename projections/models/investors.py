"""Investment commitments that count against a backer's Reg CF 12-month limit."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, instant, money


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.commitments).prefetch((e.payload["pledge_id"],) for e in events)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    commitments = batch.rows(t.commitments)
    if e.type == "InvestmentCommitted":
        commitments.insert({
            "pledge_id": p["pledge_id"], "backer_id": e.stream_id,
            "campaign_id": p["campaign_id"], "regime": p["regime"],
            "amount": money(p["amount"]), "at": instant(p["at"]),
        })
    elif e.type == "InvestmentReleased":
        commitments.delete(p["pledge_id"])


MODEL = ReadModel(
    name="investor_usage",
    tables=(t.commitments,),
    handles=frozenset({"InvestmentCommitted", "InvestmentReleased"}),
    apply=apply,
    prefetch=prefetch,
)
