"""The platform's calendar of campaigns with work falling due: deadlines,
reconfirmation windows, settlements and refunds. One stream, so that the
scheduler finds its work without reading any read model."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate

CALENDAR_ID = uuid5(NAMESPACE_URL, "/crowdfund/offering-calendar")


class OfferingCalendar(ChainedAggregate):
    id: UUID

    @event("CalendarOpened")
    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    def schedule(self, campaign_id: str, due_at: datetime) -> None:
        if self.due.get(campaign_id) != due_at:
            self._scheduled(campaign_id, due_at)

    @event("CampaignScheduled")
    def _scheduled(self, campaign_id: str, due_at: datetime) -> None:
        self.due[campaign_id] = due_at

    def unschedule(self, campaign_id: str) -> None:
        if campaign_id in self.due:
            self._unscheduled(campaign_id)

    @event("CampaignUnscheduled")
    def _unscheduled(self, campaign_id: str) -> None:
        del self.due[campaign_id]

    def due_by(self, now: datetime) -> list[str]:
        return sorted(cid for cid, at in self.due.items() if at <= now)
