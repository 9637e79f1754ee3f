"""AML alerts as risk officers and auditors list them: one row per alert stream."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, instant


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.aml_alerts).prefetch((e.stream_id,) for e in events)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    alerts = batch.rows(t.aml_alerts)
    if e.type == "AmlAlertRaised":
        alerts.insert({
            "id": e.stream_id, "seq": e.position, "rule": p["rule"],
            "subject_id": p["subject_id"], "campaign_id": p["campaign_id"],
            "related_user_ids": ",".join(p["related_user_ids"]), "details": p["details"],
            "status": "OPEN", "raised_at": instant(p["raised_at"]), "decided_by": None,
            "decision_note": None, "last_position": e.position,
        })
        return
    row = alerts.require(e.stream_id)
    row.update(status=p["status"], decided_by=p["officer_id"], decision_note=p["note"],
               last_position=e.position)


MODEL = ReadModel(
    name="aml_alerts",
    tables=(t.aml_alerts,),
    handles=frozenset({"AmlAlertRaised", "AmlAlertDecided"}),
    apply=apply,
    prefetch=prefetch,
)
