"""A question on a campaign's public Q&A (17 CFR 227.303(c)): asked by any member,
answered by the founder, hidden by a risk officer when abusive.

Hiding keeps everything: the events stay in the stream (the audit trail), only
readers who are not staff stop seeing the text.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain import limits
from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, ValidationError


def parse_text(text: str, field: str) -> str:
    """Plain text of 1 to 2,000 characters. Markup is not refused, it is kept as text
    and escaped wherever it is shown; control characters other than line breaks and
    tabs are refused (they hide text from reviewers)."""
    text = text.strip()
    if not text or len(text) > limits.QUESTION:
        raise ValidationError(f"Write 1 to {limits.QUESTION:,} characters.", field)
    if any(not c.isprintable() and c not in "\n\t" for c in text.replace("\r\n", "\n")):
        raise ValidationError("Remove the control characters from the text.", field)
    return text.replace("\r\n", "\n")


class Question(ChainedAggregate):
    id: UUID

    @event("QuestionAsked")
    def __init__(
        self, campaign_id: str, asker_id: str, founder_id: str, by_founder: bool, body: str
    ) -> None:
        self.campaign_id = campaign_id
        self.asker_id = asker_id
        # The campaign's founder when it was asked: who is told, who may answer.
        self.founder_id = founder_id
        # 227.303(c)(3): a founder speaking on their own offering says so.
        self.by_founder = by_founder
        self.body = body
        self.answer: str | None = None
        self.answerer_id: str | None = None
        self.answered_at: datetime | None = None
        self.hidden = False
        self.hidden_reason: str | None = None

    def require_visible(self, doing: str) -> None:
        if self.hidden:
            raise InvalidStateError(
                f"Cannot {doing}: a risk officer hid this question.", "QUESTION_HIDDEN"
            )

    def answer_with(self, founder_id: str, body: str, now: datetime) -> None:
        self.require_visible("answer it")
        if self.answer is not None:
            raise InvalidStateError(
                "This question is answered already; answers are public and final.",
                "ALREADY_ANSWERED",
            )
        self._answered(founder_id, body, now)

    @event("QuestionAnswered")
    def _answered(self, answerer_id: str, body: str, answered_at: datetime) -> None:
        self.answer = body
        self.answerer_id = answerer_id
        self.answered_at = answered_at

    def hide(self, officer_id: str, reason: str) -> None:
        self.require_visible("hide it")
        self._hidden(officer_id, reason)

    @event("QuestionHidden")
    def _hidden(self, officer_id: str, reason: str) -> None:
        self.hidden = True
        self.hidden_reason = reason
