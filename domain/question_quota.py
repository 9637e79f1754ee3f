"""How many questions a member may ask: one small stream per member.

The rule (ours; the Q&A is a public channel, 17 CFR 227.303(c), and a flood of
questions buries the ones backers need answered): at most
`QUESTIONS_PER_HOUR` questions in any rolling hour and `QUESTIONS_PER_DAY` in
any rolling 24 hours, over all campaigns. The quota is saved with the question
it counts, so two questions asked at once by the same member cannot both slip
under the limit (the second save loses the race and is decided again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError

QUESTIONS_PER_HOUR = 5
QUESTIONS_PER_DAY = 20
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def question_quota_id(user_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/crowdfund/question-quotas/{user_id}")


class QuestionQuota(ChainedAggregate):
    id: UUID

    @event("QuestionQuotaOpened")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        # Instants of the questions asked in the last day (older ones are dropped).
        self.asked: list[datetime] = []

    def check(self, now: datetime) -> None:
        recent = [at for at in self.asked if at > now - DAY]
        last_hour = [at for at in recent if at > now - HOUR]
        if len(last_hour) >= QUESTIONS_PER_HOUR:
            raise InvalidStateError(
                f"You can ask at most {QUESTIONS_PER_HOUR} questions an hour; ask again after "
                f"{(min(last_hour) + HOUR).isoformat()}.", "RATE_LIMITED",
            )
        if len(recent) >= QUESTIONS_PER_DAY:
            raise InvalidStateError(
                f"You can ask at most {QUESTIONS_PER_DAY} questions a day; ask again after "
                f"{(min(recent) + DAY).isoformat()}.", "RATE_LIMITED",
            )

    def count(self, question_id: str, now: datetime) -> None:
        self.check(now)
        self._counted(question_id, now)

    @event("QuestionCounted")
    def _counted(self, question_id: str, at: datetime) -> None:
        self.asked = [t for t in self.asked if t > at - DAY] + [at]
