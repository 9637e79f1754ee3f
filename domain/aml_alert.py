"""An anti-money-laundering alert: what a rule saw about a user, and a risk officer's
decision on it. Its own stream, so that raising and deciding are events (audited).

Ids are derived from what triggered the alert (`alert_id_for`): a redelivered
event or a repeated screening names the same alert, and raising it again is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, NotAllowedError, ValidationError


class AlertStatus(Enum):
    OPEN = "OPEN"
    DISMISSED = "DISMISSED"
    ESCALATED = "ESCALATED"


class AlertRule(Enum):
    SANCTIONS_MATCH = "SANCTIONS_MATCH"
    SELF_DEALING = "SELF_DEALING"
    RAPID_CANCEL_CYCLE = "RAPID_CANCEL_CYCLE"
    STRUCTURING = "STRUCTURING"
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    VELOCITY = "VELOCITY"


# What may follow what: an escalation may later be dismissed (the investigation found
# nothing), which lifts the freeze; a dismissal is final.
_NEXT = {
    AlertStatus.OPEN: (AlertStatus.DISMISSED, AlertStatus.ESCALATED),
    AlertStatus.ESCALATED: (AlertStatus.DISMISSED,),
    AlertStatus.DISMISSED: (),
}
MAX_NOTE = 2000


def alert_id_for(rule: AlertRule, trigger: str) -> UUID:
    """The one alert a rule raises for a trigger (an event, a pair of accounts...)."""
    return uuid5(NAMESPACE_URL, f"/crowdfund/aml-alerts/{rule.value}/{trigger}")


def require_note(note: str) -> str:
    note = note.strip()
    if not note or len(note) > MAX_NOTE:
        raise ValidationError(f"Give a note of 1 to {MAX_NOTE} characters: what you checked "
                              "and why you decided so.", "note")
    return note


class AmlAlert(ChainedAggregate):
    id: UUID

    @event("AmlAlertRaised")
    def __init__(
        self, rule: str, subject_id: str, campaign_id: str | None, details: str,
        related_user_ids: list[str], raised_at: datetime,
    ) -> None:
        self.rule = AlertRule(rule)
        self.subject_id = subject_id
        self.campaign_id = campaign_id
        self.details = details
        # Other accounts the alert is about (the founder, the other account of a person).
        self.related_user_ids = list(related_user_ids)
        self.raised_at = raised_at
        self.status = AlertStatus.OPEN
        self.decided_by: str | None = None
        self.decision_note: str | None = None

    def involves(self, user_id: str) -> bool:
        return user_id == self.subject_id or user_id in self.related_user_ids

    def decide(self, officer_id: str, decision: AlertStatus, note: str) -> None:
        """A risk officer's decision; never on an alert about themself."""
        if decision is AlertStatus.OPEN:
            raise ValidationError("Decide DISMISSED or ESCALATED.", "decision")
        note = require_note(note)
        if self.involves(officer_id):
            raise NotAllowedError("A risk officer cannot decide an alert about themself.",
                                  "OWN_ALERT")
        if decision not in _NEXT[self.status]:
            raise InvalidStateError(
                f"This alert is {self.status.value}; it cannot become {decision.value}.",
                "ALERT_DECIDED",
            )
        self._decided(officer_id, decision.value, note)

    @event("AmlAlertDecided")
    def _decided(self, officer_id: str, status: str, note: str) -> None:
        self.status = AlertStatus(status)
        self.decided_by = officer_id
        self.decision_note = note
