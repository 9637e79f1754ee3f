"""The public Q&A of a campaign (17 CFR 227.303(c)): ask, answer, hide."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from application.unit_of_work import Decision, UnitOfWork, Written
from domain.campaign import CampaignStatus
from domain.errors import NotAllowedError, NotFoundError
from domain.input import require_reason
from domain.question import Question, parse_text
from domain.question_quota import QuestionQuota, question_quota_id
from domain.user import Role


class QuestionCommands:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def question(self, question_id: UUID | str) -> Question:
        return self.uow.load(Question, question_id, "question")

    def ask(self, asker_id: UUID | str, campaign_id: UUID | str, body: str) -> Written[UUID]:
        """Any member, on a LIVE campaign, within their quota (domain.question_quota)."""
        text = parse_text(body, "body")

        def decide(now: datetime) -> Decision[UUID]:
            asker = self.uow.user(asker_id)
            campaign = self.uow.campaign(campaign_id)
            campaign.require_status(CampaignStatus.LIVE, doing="ask a question")
            campaign.require_before_deadline(now, doing="ask a question")
            quota = self._quota(str(asker.id))
            question = Question(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                campaign_id=str(campaign.id), asker_id=str(asker.id),
                founder_id=campaign.founder_id, by_founder=str(asker.id) == campaign.founder_id,
                body=text, id=uuid4(),
            )
            quota.count(str(question.id), now)
            return question.id, [question, quota]

        return self.uow.run(decide)

    def _quota(self, user_id: str) -> QuestionQuota:
        try:
            return self.uow.load(QuestionQuota, question_quota_id(user_id), "question quota")
        except NotFoundError:
            return QuestionQuota(user_id=user_id, id=question_quota_id(user_id))  # type: ignore[call-arg]  # id goes to the aggregate metaclass

    def answer(
        self, founder_id: UUID | str, question_id: UUID | str, body: str
    ) -> Written[UUID]:
        """The campaign's founder; answers are public and final."""
        text = parse_text(body, "body")

        def decide(now: datetime) -> Decision[UUID]:
            question = self.question(question_id)
            campaign = self.uow.campaign(question.campaign_id)
            campaign.require_founder(str(founder_id))
            question.answer_with(str(founder_id), text, now)
            return question.id, [question]

        return self.uow.run(decide)

    def hide(
        self, officer_id: UUID | str, question_id: UUID | str, reason: str
    ) -> Written[UUID]:
        """Risk officers hide an abusive question; it stays in the log."""
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            officer = self.uow.require_role(officer_id, Role.RISK_OFFICER, "hide questions")
            question = self.question(question_id)
            if str(officer.id) == question.founder_id:
                raise NotAllowedError("A risk officer cannot moderate their own campaign's Q&A.")
            question.hide(str(officer.id), reason)
            return question.id, [question]

        return self.uow.run(decide)
