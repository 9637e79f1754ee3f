"""The public Q&A's rules on the in-memory store: who may ask, answer and hide, the
rate limit, and hostile text."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.errors import InvalidStateError, NotAllowedError, NotFoundError, ValidationError
from domain.question_quota import QUESTIONS_PER_DAY, QUESTIONS_PER_HOUR
from tests.scenario import Staff, draft_campaign, live_campaign, register, staff

pytestmark = pytest.mark.fast


@pytest.fixture
def app(memory_app: Crowdfund) -> Crowdfund:
    return memory_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


@pytest.fixture
def live(app: Crowdfund, team: Staff) -> UUID:
    return live_campaign(app, team)


def test_ask_answer_hide(app: Crowdfund, team: Staff, live: UUID) -> None:
    asker = register(app, "asker")
    qid = app.questions.ask(asker, live, "  What is the valuation based on?  ").value
    question = app.questions.question(qid)
    assert question.body == "What is the valuation based on?" and not question.by_founder
    assert question.founder_id == str(team.founder)
    app.questions.answer(team.founder, qid, "Revenue multiples of peers.")
    assert app.questions.question(qid).answer == "Revenue multiples of peers."
    with pytest.raises(InvalidStateError, match="answered already"):
        app.questions.answer(team.founder, qid, "Again")
    app.questions.hide(team.risk_officer, qid, "Spam")
    hidden = app.questions.question(qid)
    assert hidden.hidden and hidden.body == "What is the valuation based on?"  # kept
    with pytest.raises(InvalidStateError, match="hid this question"):
        app.questions.hide(team.risk_officer, qid, "Again")
    names = [type(e).__name__ for e in app.events.get(qid)]
    assert names == ["QuestionAsked", "QuestionAnswered", "QuestionHidden"]


def test_the_founder_may_ask_on_their_own_offering_and_says_so(
    app: Crowdfund, team: Staff, live: UUID
) -> None:
    qid = app.questions.ask(team.founder, live, "FAQ: when do shares arrive?").value
    assert app.questions.question(qid).by_founder


def test_who_may_do_what(app: Crowdfund, team: Staff, live: UUID) -> None:
    asker, stranger = register(app, "asker"), register(app, "stranger")
    qid = app.questions.ask(asker, live, "A question").value
    for who in (asker, stranger, team.risk_officer, team.admin):
        with pytest.raises(NotAllowedError):
            app.questions.answer(who, qid, "Not theirs to answer")
    for who in (asker, team.founder, team.admin, stranger):
        with pytest.raises(NotAllowedError):
            app.questions.hide(who, qid, "Not theirs to hide")
    with pytest.raises(NotFoundError):
        app.questions.answer(team.founder, "not-an-id", "x")
    with pytest.raises(NotFoundError):
        app.questions.ask(asker, "00000000-0000-0000-0000-000000000000", "x")


def test_only_live_campaigns_take_questions(app: Crowdfund, team: Staff) -> None:
    draft = draft_campaign(app, team)
    with pytest.raises(InvalidStateError, match="LIVE"):
        app.questions.ask(register(app, "asker"), draft, "Too early?")


def test_hidden_questions_cannot_be_answered(app: Crowdfund, team: Staff, live: UUID) -> None:
    qid = app.questions.ask(register(app, "asker"), live, "Abuse").value
    app.questions.hide(team.risk_officer, qid, "Abusive")
    with pytest.raises(InvalidStateError, match="hid"):
        app.questions.answer(team.founder, qid, "Reply")


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001, "bell\x07", "null\x00byte",
                                  "rtl\u202eoverride"])
def test_hostile_or_empty_text_is_refused(
    app: Crowdfund, team: Staff, live: UUID, body: str
) -> None:
    with pytest.raises(ValidationError):
        app.questions.ask(register(app, "asker"), live, body)


def test_markup_is_kept_as_text(app: Crowdfund, team: Staff, live: UUID) -> None:
    body = "<script>alert(1)</script>\n<img src=x onerror=alert(2)> & 'quotes'"
    qid = app.questions.ask(register(app, "asker"), live, body + "\r\n" + "x" * 10).value
    assert app.questions.question(qid).body == body + "\n" + "x" * 10
    assert len(app.questions.ask(register(app, "long"), live, "y" * 2000).value.hex) == 32


def test_rate_limit_per_hour_and_per_day(
    app: Crowdfund, team: Staff, live: UUID, clock: SettableClock
) -> None:
    asker = register(app, "asker")
    other = live_campaign(app, team)
    for n in range(QUESTIONS_PER_HOUR):
        app.questions.ask(asker, live if n % 2 else other, f"Question {n}")
    with pytest.raises(InvalidStateError, match="an hour") as refused:
        app.questions.ask(asker, live, "One too many")
    assert refused.value.code == "RATE_LIMITED"
    app.questions.ask(register(app, "someone-else"), live, "Others are not limited by it")
    asked = QUESTIONS_PER_HOUR
    while asked < QUESTIONS_PER_DAY:
        clock.advance(hours=1, seconds=1)
        for _ in range(min(QUESTIONS_PER_HOUR, QUESTIONS_PER_DAY - asked)):
            app.questions.ask(asker, live, f"Question {asked}")
            asked += 1
    clock.advance(hours=1, seconds=1)
    with pytest.raises(InvalidStateError, match="a day"):
        app.questions.ask(asker, live, "Over the day's limit")
    clock.advance(days=1)
    app.questions.ask(asker, live, "A new day")


def test_questions_close_with_the_deadline(
    app: Crowdfund, team: Staff, live: UUID, clock: SettableClock
) -> None:
    clock.set(app.campaign(live).terms.deadline + timedelta(seconds=1))
    with pytest.raises(InvalidStateError):
        app.questions.ask(register(app, "late"), live, "Still open?")
