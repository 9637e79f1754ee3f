"""The Q&A and notifications through GraphQL: ask, answer, hide, who may do what,
the rate limit, hostile text; myNotifications and markNotificationsRead."""

from __future__ import annotations

from typing import Any

import pytest

from projections.consumers import NOTIFIER
from projections.projector import Projector
from projections.source import StoreLog
from tests.api.conftest import Api, services_and_url  # noqa: F401  (fixtures)
from tests.api.conftest import api as api
from tests.api.flows import PROBLEM, Account, Cast, cast, live_campaign, pledge
from tests.scenario import register

QUESTION = "id body answer hidden hiddenReason askedAt answeredAt askedByFounder " \
    "askedBy { id displayName } answeredBy { id } campaign { id }"
RESULT = f"__typename ... on QuestionSaved {{ position question {{ {QUESTION} }} }} {PROBLEM}"
ASK = f"mutation($c: ID!, $b: String!) {{ askQuestion(campaignId: $c, body: $b) {{ {RESULT} }} }}"
ANSWER = f"""mutation($q: ID!, $b: String!) {{
  answerQuestion(questionId: $q, body: $b) {{ {RESULT} }} }}"""
HIDE = f"""mutation($q: ID!, $r: String!) {{
  hideQuestion(questionId: $q, reason: $r) {{ {RESULT} }} }}"""
QUESTIONS = f"query($c: ID!) {{ campaign(id: $c) {{ questions {{ {QUESTION} }} }} }}"
NOTICES = """query($first: Int, $after: String, $unread: Boolean) {
  myNotifications(first: $first, after: $after, unreadOnly: $unread) {
    totalCount unreadCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind subject body read position createdAt
      campaign { id title } pledge { id amount } } } } }"""
MARK = f"""mutation($ids: [ID!]!) {{ markNotificationsRead(ids: $ids) {{
  __typename ... on NotificationsRead {{ count }} {PROBLEM} }} }}"""


class World:
    def __init__(self, api: Api, people: Cast, campaign: str) -> None:
        self.api, self.people, self.campaign = api, people, campaign
        self.notifier = Projector(api.projector.engine, NOTIFIER)
        self.notifier.init_tracking(api.count)

    def notify(self) -> None:
        app = self.api.services.app
        self.notifier.catch_up(StoreLog(app), range(self.api.count), self.api.count,
                               app.head_position())

    async def run(self, query: str, who: Account | None, **variables: Any) -> dict[str, Any]:
        data = await self.api.ok(query, variables, who.token if who else None)
        (result,) = data.values()
        assert isinstance(result, dict)
        return result

    async def ask(self, who: Account | None, body: str = "When do you ship?") -> dict[str, Any]:
        return await self.run(ASK, who, c=self.campaign, b=body)

    async def notices(self, who: Account, **variables: Any) -> dict[str, Any]:
        self.notify()
        return await self.run(NOTICES, who, **variables)


@pytest.fixture
async def world(api: Api) -> World:
    people = await cast(api)
    return World(api, people, await live_campaign(api, people.founder, people.officer))


async def test_ask_answer_hide_and_who_reads_what(world: World) -> None:
    p = world.people
    asked = await world.ask(p.outsider, "<script>alert('x')</script> Who audits you?")
    assert asked["__typename"] == "QuestionSaved", asked
    question = asked["question"]
    assert question["body"] == "<script>alert('x')</script> Who audits you?"
    assert question["askedBy"]["id"] == p.outsider.id and not question["askedByFounder"]
    own = await world.ask(p.founder, "FAQ: where are you based?")
    assert own["question"]["askedByFounder"] is True

    answered = await world.run(ANSWER, p.founder, q=question["id"], b="Smith & Co.")
    assert answered["question"]["answer"] == "Smith & Co."
    assert answered["question"]["answeredBy"]["id"] == p.founder.id
    assert answered["question"]["answeredAt"] is not None

    listed = (await world.api.ok(QUESTIONS, {"c": world.campaign}))["campaign"]["questions"]
    assert [q["id"] for q in listed] == [question["id"], own["question"]["id"]]  # oldest first
    assert listed[0]["answer"] == "Smith & Co." and listed[0]["hiddenReason"] is None

    hidden = await world.run(HIDE, p.officer, q=question["id"], r="Off topic")
    assert hidden["question"]["hidden"] is True
    for who, sees in ((None, False), (p.outsider, False), (p.founder, False),
                      (p.backer, False), (p.officer, True), (p.auditor, True),
                      (p.admin, True)):
        data = await world.api.ok(QUESTIONS, {"c": world.campaign}, who.token if who else None)
        first = data["campaign"]["questions"][0]
        assert first["hidden"] is True
        assert (first["body"] is not None, first["answer"] is not None) == (sees, sees), who
        assert (first["hiddenReason"] == "Off topic") is sees


async def test_authorization_matrix(world: World) -> None:
    p = world.people
    asked = await world.ask(p.backer)
    qid = asked["question"]["id"]
    expected = {
        # actor: (ask, answer, hide)
        "anonymous": ("NotAllowed", "NotAllowed", "NotAllowed"),
        "outsider": ("QuestionSaved", "NotAllowed", "NotAllowed"),
        "backer": ("QuestionSaved", "NotAllowed", "NotAllowed"),
        "auditor": ("NotAllowed", "NotAllowed", "NotAllowed"),
        "admin": ("QuestionSaved", "NotAllowed", "NotAllowed"),
        "officer": ("QuestionSaved", "NotAllowed", "QuestionSaved"),
        "founder": ("QuestionSaved", "QuestionSaved", "NotAllowed"),
    }
    for name, (ask, answer, hide) in expected.items():
        who = None if name == "anonymous" else getattr(p, name)
        assert (await world.ask(who))["__typename"] == ask, name
        # Each actor tries a fresh question (from someone new: the rate limit is per asker).
        app = world.api.store
        fresh = str(app.questions.ask(register(app, "asker"), world.campaign, name).value)
        world.api.sync()
        got = await world.run(ANSWER, who, q=fresh, b="An answer")
        assert got["__typename"] == answer, (name, got)
        got = await world.run(HIDE, who, q=fresh, r="A reason")
        assert got["__typename"] == hide, (name, got)
    assert (await world.run(ANSWER, p.founder, q=qid, b="x"))["__typename"] == "QuestionSaved"
    again = await world.run(ANSWER, p.founder, q=qid, b="y")
    assert (again["__typename"], again["code"]) == ("InvalidState", "ALREADY_ANSWERED")
    await world.run(HIDE, p.officer, q=qid, r="Abusive")
    hidden = await world.run(HIDE, p.officer, q=qid, r="Again")
    assert (hidden["__typename"], hidden["code"]) == ("InvalidState", "QUESTION_HIDDEN")


async def test_hostile_bodies_and_ids(world: World) -> None:
    p = world.people
    for body, field in (("", "body"), ("x" * 2001, "body"), ("nul\x00", "body"),
                        ("\u202eevil", "body")):
        got = await world.ask(p.outsider, body)
        assert got["__typename"] == "ValidationProblem" and got["field"] == field, got
    got = await world.run(ASK, p.outsider, c="not-an-id", b="Hello?")
    assert got["__typename"] == "NotFound"
    got = await world.run(ANSWER, p.founder, q="'; DROP TABLE rm_questions; --", b="x")
    assert got["__typename"] == "NotFound"
    got = await world.run(HIDE, p.officer, q=(await world.ask(p.outsider))["question"]["id"],
                          r=" ")
    assert got["__typename"] == "ValidationProblem" and got["field"] == "reason"
    assert (await world.ask(p.outsider, "é" * 2000))["__typename"] == "QuestionSaved"


async def test_the_rate_limit_answers_invalid_state(world: World) -> None:
    p = world.people
    for n in range(5):
        assert (await world.ask(p.backer, f"Question {n}"))["__typename"] == "QuestionSaved"
    refused = await world.ask(p.backer, "One more")
    assert (refused["__typename"], refused["code"]) == ("InvalidState", "RATE_LIMITED")


async def test_notifications_read_and_page(world: World) -> None:
    p, api = world.people, world.api
    assert await api.error_code(NOTICES, {}) == "UNAUTHENTICATED"
    placed = await pledge(api, p.backer, world.campaign, "500.00")
    assert placed["__typename"] == "PledgeSaved"
    await world.ask(p.backer, "Question one?")
    await world.ask(p.outsider, "Question two?")

    mine = await world.notices(p.backer)
    kinds = [e["node"]["kind"] for e in mine["edges"]]
    assert kinds == ["PLEDGE_CONFIRMED", "KYC_VERIFIED"]  # newest first
    confirmed = mine["edges"][0]["node"]
    assert confirmed["pledge"] == {"id": placed["pledge"]["id"], "amount": "500.00"}
    assert confirmed["campaign"]["id"] == world.campaign and "USD 500.00" in confirmed["body"]
    assert mine["unreadCount"] == 2 and mine["totalCount"] == 2

    founder = await world.notices(p.founder)
    assert [e["node"]["kind"] for e in founder["edges"]] == [
        "QUESTION_ASKED", "QUESTION_ASKED", "CAMPAIGN_APPROVED"]
    page = await world.notices(p.founder, first=2)
    assert page["pageInfo"]["hasNextPage"] and len(page["edges"]) == 2
    rest = await world.notices(p.founder, first=2, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["kind"] for e in rest["edges"]] == ["CAMPAIGN_APPROVED"]
    assert not rest["pageInfo"]["hasNextPage"]

    others = [e["node"]["id"] for e in founder["edges"]]
    marked = await world.run(MARK, p.backer, ids=[confirmed["id"], *others])
    assert marked == {"__typename": "NotificationsRead", "count": 1}  # only their own
    again = await world.run(MARK, p.backer, ids=[confirmed["id"]])
    assert again["count"] == 0
    mine = await world.notices(p.backer)
    assert mine["unreadCount"] == 1 and mine["edges"][0]["node"]["read"] is True
    unread = await world.notices(p.backer, unread=True)
    assert [e["node"]["kind"] for e in unread["edges"]] == ["KYC_VERIFIED"]
    assert (await world.notices(p.founder))["unreadCount"] == 3

    too_many = await world.run(MARK, p.backer, ids=[str(n) for n in range(101)])
    assert too_many["__typename"] == "ValidationProblem"
    anonymous = await world.run(MARK, None, ids=[confirmed["id"]])
    assert anonymous["__typename"] == "ValidationProblem"
    assert anonymous["code"] == "UNAUTHENTICATED"
    assert await api.error_code(NOTICES, {"after": "bm90LWEtY3Vyc29y"}, p.backer.token) == \
        "BAD_USER_INPUT"
