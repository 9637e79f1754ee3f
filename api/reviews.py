"""A campaign's review in GraphQL: the due-diligence checklist a risk officer answers
(`approveCampaign` / `rejectCampaign`, argument `checklist`) and the review history
(`Campaign.reviewHistory`) that shows it to the founder, risk officers and auditors."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from api.inputs import ReviewChecklistInput
from domain.review import ReviewChecklist as ChecklistRecord
from domain.review import ReviewStep

if TYPE_CHECKING:
    from api.types import User


@strawberry.enum(description="A step of a campaign's review.")
class ReviewAction(Enum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.type(description="A risk officer's due-diligence answers, as recorded in the "
                 "approval or rejection event.")
class ReviewChecklist:
    founders_identified: bool
    offering_statement_consistent: bool
    issuer_limit_checked: bool
    bad_actor_declaration: bool


@strawberry.type(description="One step of a campaign's review, as its events recorded it.")
class CampaignReview:
    action: ReviewAction
    at: datetime
    reason: str | None = strawberry.field(description="The reviewer's reason (rejections).")
    checklist: ReviewChecklist | None = strawberry.field(
        description="The due-diligence answers; null for a submission, and for a review "
        "recorded before the checklist existed or made without it."
    )
    reviewer_id: strawberry.Private[str | None]
    show_reviewer: strawberry.Private[bool]

    @strawberry.field(description="The risk officer who decided: staff see it, the founder "
                      "does not (null).")
    async def reviewer(
        self, info: Info[Any, Any]
    ) -> Annotated[User, strawberry.lazy("api.types")] | None:
        from api.types import load_user

        if not self.show_reviewer or self.reviewer_id is None:
            return None
        return await load_user(info, self.reviewer_id)


def checklist_record(given: ReviewChecklistInput | None) -> ChecklistRecord | None:
    """The command's checklist from the mutation's argument (None when absent)."""
    if given is None:
        return None
    return ChecklistRecord(**given.checked().model_dump())


def review_from_step(step: ReviewStep, *, show_reviewer: bool) -> CampaignReview:
    answers = step.checklist
    return CampaignReview(
        action=ReviewAction(step.action), at=step.at, reason=step.reason,
        checklist=None if answers is None else ReviewChecklist(**answers.as_event()),
        reviewer_id=step.reviewer_id, show_reviewer=show_reviewer,
    )
