"""Pledges, each from its own stream; `cancellable_until` for REG_CF is derived at
query time from the campaign's current deadline (it moves with early closes)."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, instant, maybe_instant, money

CLOSED = {"PledgeCancelled": "CANCELLED", "PledgeRefunded": "REFUNDED", "PledgeSettled": "SETTLED"}


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.pledges).prefetch((e.stream_id,) for e in events)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    pledges = batch.rows(t.pledges)
    if e.type == "PledgePlaced":
        pledges.insert({
            "id": e.stream_id, "seq": e.position, "campaign_id": p["campaign_id"],
            "backer_id": p["backer_id"], "amount": money(p["amount"]),
            "shares": int(p["shares"]), "status": "ACTIVE",
            "pledged_at": instant(p["pledged_at"]),
            "cancellable_until": maybe_instant(p.get("cancellable_until")),
            "reconfirm_by": None, "regime": p["regime"], "currency": p["currency"],
            "terms_version": int(p["terms_version"]), "last_position": e.position,
        })
        return
    row = pledges.require(e.stream_id)
    row["last_position"] = e.position
    if e.type in CLOSED:
        row["status"], row["reconfirm_by"] = CLOSED[e.type], None
    elif e.type == "ReconfirmationRequested":
        row["status"], row["reconfirm_by"] = "PENDING_RECONFIRMATION", instant(p["reconfirm_by"])
    elif e.type == "PledgeReconfirmed":
        row["status"], row["reconfirm_by"] = "ACTIVE", None
        row["terms_version"] = int(p["terms_version"])


MODEL = ReadModel(
    name="pledges",
    tables=(t.pledges,),
    handles=frozenset({"PledgePlaced", *CLOSED, "ReconfirmationRequested", "PledgeReconfirmed"}),
    apply=apply,
    prefetch=prefetch,
)
