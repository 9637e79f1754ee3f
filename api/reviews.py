"""The due-diligence checklist of a campaign review in GraphQL: the `checklist` argument
of `approveCampaign` / `rejectCampaign` and what `Campaign.reviewHistory` shows of it."""

from __future__ import annotations

import strawberry

from api.inputs import ReviewChecklistInput
from domain.review import ReviewChecklist as ChecklistRecord


@strawberry.type(description="A risk officer's due-diligence answers, as recorded in the "
                 "approval or rejection event.")
class ReviewChecklist:
    founders_identified: bool
    offering_statement_consistent: bool
    issuer_limit_checked: bool
    bad_actor_declaration: bool


def checklist_record(given: ReviewChecklistInput | None) -> ChecklistRecord | None:
    """The command's checklist from the mutation's argument (None when absent)."""
    if given is None:
        return None
    return ChecklistRecord(**given.checked().model_dump())


def checklist_view(record: ChecklistRecord | None) -> ReviewChecklist | None:
    return None if record is None else ReviewChecklist(**record.as_event())
