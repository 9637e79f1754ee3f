"""Reading a campaign's public Q&A (rm_questions, the `questions` read model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import tables as t


@dataclass(frozen=True)
class QuestionView:
    id: str
    campaign_id: str
    asker_id: str
    by_founder: bool
    asked_at: datetime
    body: str
    answer: str | None
    answerer_id: str | None
    answered_at: datetime | None
    hidden: bool
    hidden_reason: str | None


def questions_for(engine: Engine, campaign_id: str) -> list[QuestionView]:
    """Oldest first, hidden ones included (the API decides who reads their text)."""
    q = t.questions.c
    query = sa.select(t.questions).where(q.campaign_id == str(campaign_id)).order_by(
        q.position, q.id)
    with engine.connect() as conn:
        return [QuestionView(r.id, r.campaign_id, r.asker_id, r.by_founder, r.asked_at, r.body,
                             r.answer, r.answerer_id, r.answered_at, r.hidden, r.hidden_reason)
                for r in conn.execute(query)]
