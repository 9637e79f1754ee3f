"""AML alerts as risk officers and auditors list them (the `rm_aml_alerts` read model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import tables as t


@dataclass(frozen=True)
class AlertView:
    id: str
    rule: str
    subject_id: str
    campaign_id: str | None
    related_user_ids: tuple[str, ...]
    details: str
    status: str
    raised_at: datetime
    decided_by: str | None
    decision_note: str | None


def list_alerts(
    engine: Engine, status: str, first: int, rule: str | None = None
) -> list[AlertView]:
    """Alerts in `status` (and of `rule`, when given), oldest first (a queue is worked
    from its oldest end)."""
    a = t.aml_alerts.c
    query = sa.select(t.aml_alerts).where(a.status == status)
    if rule is not None:
        query = query.where(a.rule == rule)
    query = query.order_by(a.seq).limit(first)
    with engine.connect() as conn:
        return [
            AlertView(
                id=r.id, rule=r.rule, subject_id=r.subject_id, campaign_id=r.campaign_id,
                related_user_ids=tuple(u for u in r.related_user_ids.split(",") if u),
                details=r.details, status=r.status, raised_at=r.raised_at,
                decided_by=r.decided_by, decision_note=r.decision_note,
            )
            for r in conn.execute(query)
        ]
