"""Campaigns with their escrow account, counts and terms (also the review queue
and the platform stats, which are queries over these rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, instant, money

MONEY_TERMS = ("min_target", "max_target", "min_pledge", "price_per_share")
STATUS = {
    "CampaignSubmitted": "IN_REVIEW",
    "CampaignApproved": "APPROVED",
    "CampaignRejected": "REJECTED",
    "CampaignCancelled": "CANCELLED",
    "CampaignSettled": "SETTLED",
    "CampaignFunded": "FUNDED",
    "CampaignFailed": "FAILED",
}
BACKERS = ("PledgeAccepted", "PledgeReleased")


def _terms(changes: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in MONEY_TERMS:
            values[name] = money(value)
        elif name == "deadline":
            values[name] = instant(value)
        elif name in ("title", "summary"):
            values[name] = str(value)
    return values


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.campaigns).prefetch((e.stream_id,) for e in events)
    batch.rows(t.campaign_backers).prefetch(
        (e.stream_id, e.payload["backer_id"]) for e in events if e.type in BACKERS
    )


def _count_backer(batch: Batch, row: dict[str, Any], backer_id: str, delta: int) -> None:
    """Keep backer_count = backers with at least one counted (open or settled) pledge."""
    backers = batch.rows(t.campaign_backers)
    entry = backers.get(row["id"], backer_id)
    before = entry["counted_pledges"] if entry else 0
    after = before + delta
    if entry is None:
        backers.insert({"campaign_id": row["id"], "backer_id": backer_id,
                        "counted_pledges": after})
    elif after == 0:
        backers.delete(row["id"], backer_id)
    else:
        entry["counted_pledges"] = after
    if (before > 0) != (after > 0):
        row["backer_count"] += 1 if after > 0 else -1


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    campaigns = batch.rows(t.campaigns)
    if e.type == "CampaignDrafted":
        campaigns.insert({
            "id": e.stream_id, "seq": e.position, "founder_id": p["founder_id"],
            "regime": p["regime"], "currency": p["currency"], "title": p["title"],
            "summary": p["summary"], "status": "DRAFT",
            "min_target": money(p["min_target"]), "max_target": money(p["max_target"]),
            "min_pledge": money(p["min_pledge"]),
            "price_per_share": money(p["price_per_share"]),
            "deadline": instant(p["deadline"]), "launched_at": None,
            "drafted_at": e.occurred_at, "terms_version": 1, "reconfirm_by": None,
            "held": money(0), "released": money(0), "refunded": money(0),
            "backer_count": 0, "pledge_count": 0, "last_position": e.position,
        })
        return
    row = campaigns.require(e.stream_id)
    row["last_position"] = e.position
    if e.type == "CampaignAmended":
        row.update(_terms(p["changes"]))
    elif e.type == "MaterialChangeMade":
        row.update(_terms(p["changes"]))
        row["terms_version"] += 1
        row["reconfirm_by"] = instant(p["reconfirm_by"])
    elif e.type in STATUS:
        row["status"] = STATUS[e.type]
        if e.type in ("CampaignFunded", "CampaignFailed"):
            row["reconfirm_by"] = None
    elif e.type == "CampaignLaunched":
        row["status"], row["launched_at"] = "LIVE", instant(p["launched_at"])
    elif e.type == "EarlyCloseScheduled":
        row["deadline"] = instant(p["new_deadline"])
    elif e.type == "EarlyCloseWithdrawn":  # 227.304(b)(4): back to the original deadline
        row["deadline"] = instant(p["deadline"])
    elif e.type == "ReconfirmationWindowClosed":
        row["reconfirm_by"] = None
    elif e.type == "PledgeAccepted":
        row["held"] += money(p["amount"])
        row["pledge_count"] += 1
        _count_backer(batch, row, p["backer_id"], +1)
    elif e.type == "PledgeReleased":
        amount = money(p["amount"])
        row["held"] -= amount
        row["refunded"] += amount
        _count_backer(batch, row, p["backer_id"], -1)
    elif e.type == "EscrowReleased":
        amount = money(p["amount"])
        row["held"] -= amount
        row["released"] += amount


MODEL = ReadModel(
    name="campaigns",
    tables=(t.campaigns, t.campaign_backers),
    handles=frozenset({
        "CampaignDrafted", "CampaignAmended", "MaterialChangeMade", *STATUS,
        "CampaignLaunched", "EarlyCloseScheduled", "EarlyCloseWithdrawn",
        "ReconfirmationWindowClosed",
        *BACKERS, "EscrowReleased", "UpdatePosted",
    }),
    apply=apply,
    prefetch=prefetch,
)
