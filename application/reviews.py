"""A campaign's review history, read from its own events: when the founder submitted
it, and what the risk officers decided (with the reason of a rejection).

Reviews happen before launch (a campaign is submitted, approved or rejected only
while it is not yet live), so the stream is read in pages up to `CampaignLaunched`
and no further: a live campaign's pledges are never read for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from application.unit_of_work import UnitOfWork
from domain.input import parse_id
from domain.review import ReviewChecklist

PAGE = 100


class ReviewAction(Enum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


REVIEW_EVENTS = {
    "CampaignSubmitted": ReviewAction.SUBMITTED,
    "CampaignApproved": ReviewAction.APPROVED,
    "CampaignRejected": ReviewAction.REJECTED,
}
LAUNCHED = "CampaignLaunched"


@dataclass(frozen=True)
class ReviewStep:
    """One step of a review (`reason`: the officer's, on a rejection)."""

    action: ReviewAction
    at: datetime
    reason: str | None
    # The deciding officer and the due-diligence answers (domain.review); None for a
    # submission, and for a decision stored before the checklist existed or without it.
    reviewer_id: str | None = None
    checklist: ReviewChecklist | None = None


def review_history(app: UnitOfWork, campaign_id: UUID | str) -> list[ReviewStep]:
    """The campaign's submissions and review decisions, oldest first."""
    uid = parse_id(campaign_id, "campaign")
    steps: list[ReviewStep] = []
    after: int | None = None
    while True:
        page = app.recorder.select_events(uid, gt=after, limit=PAGE)
        for stored in page:
            event: Any = app.mapper.to_domain_event(stored)
            name = type(event).__name__
            if name == LAUNCHED:
                return steps
            action = REVIEW_EVENTS.get(name)
            if action is not None:
                state = vars(event)  # an event stored before a field existed lacks it
                steps.append(ReviewStep(
                    action, event.timestamp, state.get("reason"), state.get("officer_id"),
                    ReviewChecklist.from_event(state.get("checklist")),
                ))
        if len(page) < PAGE:
            return steps
        after = page[-1].originator_version
