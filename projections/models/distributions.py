"""Distributions and their payouts (reads the cap tables' campaign mapping, which
comes from the same stream and so is always applied first)."""

from __future__ import annotations

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, money
from projections.models.cap_tables import campaign_of


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    distribution_id = p["distribution_id"]
    batch.rows(t.distributions).insert({
        "id": distribution_id, "campaign_id": campaign_of(batch, e.stream_id),
        "total": money(p["total"]), "declared_at": e.occurred_at, "position": e.position,
    })
    payouts = batch.rows(t.payouts)
    for item in p["payouts"]:
        payouts.insert({"distribution_id": distribution_id, "backer_id": item["backer_id"],
                        "amount": money(item["amount"])})


MODEL = ReadModel(
    name="distributions",
    tables=(t.distributions, t.payouts),
    handles=frozenset({"DistributionDeclared"}),
    apply=apply,
)
