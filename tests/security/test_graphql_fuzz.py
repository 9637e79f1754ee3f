"""Property-based fuzzing of the GraphQL API (hypothesis-graphql against the ASGI app).

Documents are generated from the schema: valid ones (every query and mutation with
arbitrary arguments, ids mixed from the real ones and junk, odd decimals and
instants) and invalid ones (Mode.NEGATIVE: wrong types, missing arguments), sent
as anonymous, a garbage token, or a user of each role. For every request:

- never a 5xx, and never a masked "Internal error." (a bug answered with 200);
- the body is a GraphQL response (a JSON object with `data` or `errors`);
- no stored change on any refused request: a query never writes; a mutation
  writes only if some top-level field answered something other than a Problem.

Bounded for CI (`FUZZ_EXAMPLES`, default 1000: about 25 s); derandomized unless
`FUZZ_RANDOM=1`. `caughtUp` (it waits by design) and `setClock` (it would expire
every token) are left out. The session mutations (signOut, changePassword,
enrollTotp, confirmTotp, requestPasswordReset, resetPassword) are in: after one
that may end sessions, every actor gets a fresh token.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from api.app import create_app
from api.schema import sdl
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.user import Role
from projections.queries import encode_cursor
from tests.api.conftest import Api, make_services
from tests.authenticator import enroll
from tests.scenario import file_offering_statement, pass_knowledge_tests

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))
HASH = "$argon2id$v=19$m=8,t=1,p=1$bm90LWEtcmVhbC1zYWx0$bm90LWEtcmVhbC1oYXNo"
PROBLEMS = {"ValidationProblem", "NotAllowed", "NotFound", "InvalidState",
            "InvestmentLimitExceeded", "MaxTargetExceeded", "RiskAcknowledgementRequired"}
SKIPPED = {"caughtUp", "setClock"}
# Mutations that may end the sender's sessions: everyone gets a new token after one.
SESSION_ENDERS = ("signOut", "changePassword", "confirmTotp", "resetPassword")
# Who sends each document: the ones who see the most (insiders) more often.
ACTORS = ("anonymous", "garbage", "pending", "backer", "admin", "founder", "founder",
          "officer", "officer", "auditor", "auditor")
LEAKS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3", "eventsourcing")


class Platform:
    """The in-process API harness (tests/api/conftest.py) and one of everyone."""

    def __init__(self, app: Crowdfund, clock: SettableClock, data_dir: Path) -> None:
        self.app = app
        self.clock = clock
        services, url = make_services(app, clock, data_dir)
        self.api = Api(services, create_app(services), url)
        self.api.auto_sync = False
        self.tokens: dict[str, str | None] = {"anonymous": None, "garbage": "not.a.token"}
        self.ids: list[str] = []

    def sync(self) -> None:
        self.api.sync()

    def token(self, user_id: Any) -> str:
        return self.api.token_for(user_id)

    def new_sessions(self) -> None:
        """A fresh token for everyone (signOut, changePassword and confirmTotp revoke)."""
        for name, uid in self.people.items():
            self.tokens[name] = self.token(uid)

    def populate(self) -> None:
        """One of everyone, and a campaign in each interesting state."""
        app, now = self.app, self.clock.now()
        admin = app.accounts.bootstrap_admin("admin@fuzz.example", HASH)
        officer = app.accounts.register("officer@fuzz.example", "Officer", HASH,
                                    (Role.BACKER, Role.FOUNDER, Role.RISK_OFFICER)).value
        auditor = app.accounts.register("auditor@fuzz.example", "Auditor", HASH,
                                    (Role.BACKER, Role.FOUNDER, Role.AUDITOR)).value
        founder = app.accounts.register("founder@fuzz.example", "Founder", HASH).value
        backer = app.accounts.register("backer@fuzz.example", "Backer", HASH).value
        pending = app.accounts.register("pending@fuzz.example", "Pending", HASH).value
        for staff in (admin, officer, auditor):  # staff act once TOTP is on
            enroll(app, staff)
        for user in (backer, pending):
            app.accounts.submit_investor_profile(
                user, legal_name="Fuzz Person", date_of_birth="1980-01-01", country="US",
                annual_income="90000.00", net_worth="90000.00", knowledge_test_passed=True)
            pass_knowledge_tests(app, user)  # graded by the server
        app.accounts.verify_investor(officer, backer)

        def campaign(regime: str, steps: int) -> str:
            cid = app.offerings.draft(
                founder, title=f"Fuzz {regime} {steps}", summary="S.", regime=regime,
                min_target="1000.00", max_target="20000.00", min_pledge="100.00",
                price_per_share="10.00", deadline=now + timedelta(days=30)).value
            file_offering_statement(app, founder, cid)
            for step in (app.offerings.submit, app.offerings.approve,
                         app.offerings.launch)[:steps]:
                step(officer if step == app.offerings.approve else founder, cid)
            return str(cid)

        live = campaign("REG_CF", 3)
        ecsp = campaign("ECSP", 3)
        drafts = [campaign("REG_CF", 0), campaign("ECSP", 1), campaign("REG_CF", 2)]
        placed = app.pledges.place(backer, live, "200.00", "fuzz-1", True).value
        self.people = {"admin": admin, "officer": officer, "auditor": auditor,
                       "founder": founder, "backer": backer, "pending": pending}
        self.new_sessions()
        self.ids = [str(i) for i in (admin, officer, auditor, founder, backer, pending, live,
                                     ecsp, *drafts, placed)]
        self.sync()


@pytest.fixture
async def platform(sqlite_app: Crowdfund, clock: SettableClock,
                   tmp_path: Path) -> AsyncIterator[Platform]:
    running = Platform(sqlite_app, clock, tmp_path)
    running.populate()
    try:
        yield running
    finally:
        await running.api.client.aclose()
        running.api.projector.engine.dispose()
        running.api.services.read_models.close()


def scalars(platform: Platform) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    now = platform.clock.now()
    text = st.text(max_size=30)
    known = st.sampled_from(platform.ids)
    ids = st.one_of(known, known, known, known, st.uuids().map(str), text)
    # Strings worth trying besides junk: real e-mails, cursors (good, wrong kind, broken),
    # passwords, names, markup.
    cursors = [encode_cursor(kind, n) for kind in ("campaign", "pledge") for n in (0, 1, 3)]
    strings = st.one_of(
        text,
        st.sampled_from([*cursors, "bm9wZQ", "!!", "pledge:1", "admin@fuzz.example",
                         "backer@fuzz.example", "pending@fuzz.example", "new@fuzz.example",
                         "correct horse battery staple", "Solar Co-op", "US", "DE",
                         "1980-01-01", "<script>alert(1)</script>", "' OR 1=1 --", "\u0000",
                         "x" * 300]),
        st.emails().map(str))
    decimals = st.one_of(
        st.sampled_from(["100.00", "200.00", "2500.00", "10", "0.01", "0", "-5.00", "1e6",
                         "NaN", "Infinity", "12.345", "99999999999999999999.99", " 1.00",
                         "1,00", "\u0661\u0660\u0660"]),
        st.decimals(min_value=-10**7, max_value=10**13, places=2, allow_nan=False).map(str),
        text)
    instants = st.one_of(
        st.datetimes(min_value=(now - timedelta(days=400)).replace(tzinfo=None),
                     max_value=(now + timedelta(days=400)).replace(tzinfo=None),
                     timezones=st.just(UTC)).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),  # naive
        st.sampled_from(["2027-13-01T00:00:00Z", "yesterday", "", "0001-01-01T00:00:00+00:00",
                         "9999-12-31T23:59:59+14:00"]),
        text)
    return {
        "String": st.one_of(strings.map(nodes.String), st.integers().map(nodes.Int)),
        "ID": st.one_of(ids.map(nodes.String), st.integers().map(nodes.Int)),
        "Decimal": st.one_of(decimals.map(nodes.String), st.integers().map(nodes.Int),
                             st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float)),
        "DateTime": st.one_of(instants.map(nodes.String), st.integers().map(nodes.Int)),
        "Long": st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(nodes.Int),
                          text.map(nodes.String)),
        "JSON": st.just(nodes.String("{}")),
        # A JSON body cannot carry a file part: whatever stands for it must be refused.
        "Upload": st.one_of(text.map(nodes.String), st.integers().map(nodes.Int)),
    }


def with_typenames(document: str) -> str:
    """Ask for `__typename` of every top-level mutation field, to tell a Problem apart."""
    try:
        tree = graphql.parse(document)
    except graphql.GraphQLError:
        return document
    typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"))

    def field(node: Any) -> Any:
        if not isinstance(node, graphql.FieldNode) or node.selection_set is None:
            return node
        inner = replace(node.selection_set,
                        selections=(*node.selection_set.selections, typename))
        return replace(node, selection_set=inner)

    definitions = []
    for definition in tree.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode) \
                and definition.operation == graphql.OperationType.MUTATION:
            fields = tuple(field(s) for s in definition.selection_set.selections)
            definition = replace(definition, selection_set=replace(
                definition.selection_set, selections=fields))
        definitions.append(definition)
    return graphql.print_ast(replace(tree, definitions=tuple(definitions)))


def wrote_anything(body: dict[str, Any]) -> bool:
    """Could this answer come with a stored change? Only a field that did not refuse,
    or one that ran and then failed in its payload's selection (an error below the
    mutation field, e.g. a nested `pledges(first: -1)`, nulls the whole answer)."""
    if any(len(e.get("path") or ()) > 1 for e in body.get("errors") or []):
        return True
    data = body.get("data")
    if not isinstance(data, dict):
        return False
    return any(isinstance(v, dict) and v.get("__typename") not in PROBLEMS
               for v in data.values())


async def test_no_500_and_no_stored_change_on_refusal(platform: Platform) -> None:
    loop = asyncio.get_running_loop()

    def post(document: str, token: str | None) -> httpx.Response:
        """From Hypothesis's thread, a request on the test's event loop."""
        request = platform.api.client.post(
            "/graphql", json={"query": document},
            headers={"Authorization": f"Bearer {token}"} if token else {})
        return asyncio.run_coroutine_threadsafe(request, loop).result(60)

    schema = graphql.build_schema(sdl())
    assert schema.query_type is not None and schema.mutation_type is not None
    query_fields = [f for f in schema.query_type.fields if f not in SKIPPED]
    mutation_fields = [f for f in schema.mutation_type.fields if f not in SKIPPED]
    custom = scalars(platform)
    # One strategy per root field (deeper documents) and one over all of them, which
    # also makes invalid documents (Mode.NEGATIVE).
    documents: dict[tuple[str, str, Mode], Any] = {}
    for kind, fields, make in (("query", query_fields, queries),
                               ("mutation", mutation_fields, mutations)):
        for mode in (Mode.POSITIVE, Mode.NEGATIVE):
            documents[(kind, "*", mode)] = make(schema, fields=fields, custom_scalars=custom,
                                                mode=mode)
        for name in fields:
            # No nulls: optional arguments get values (nulls come from the others).
            documents[(kind, name, Mode.POSITIVE)] = make(
                schema, fields=[name], custom_scalars=custom, allow_null=False)
    seen: dict[str, int] = {"requests": 0, "writes": 0, "refused mutations": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        kind, name, mode = data.draw(st.sampled_from(sorted(documents, key=str)), label="kind")
        document = with_typenames(str(data.draw(documents[(kind, name, mode)],
                                                label="document")))
        actor = data.draw(st.sampled_from(ACTORS), label="actor")
        token = platform.tokens[actor]
        head = platform.app.head_position()
        response = post(document, token)
        seen["requests"] += 1
        assert response.status_code < 500, (response.status_code, response.text[:300])
        changed = platform.app.head_position() != head
        if response.status_code != 200:
            assert response.status_code in (400, 413), response.status_code
            assert not changed, "a refused request stored something"
            return
        body = response.json()
        assert isinstance(body, dict) and ("data" in body or "errors" in body), body
        messages = [str(e.get("message")) for e in body.get("errors") or []]
        assert "Internal error." not in messages, (document, actor, body)
        assert not [m for m in messages if any(leak in m for leak in LEAKS)], messages
        if kind == "query":
            assert not changed, f"a query stored something: {document}"
        elif wrote_anything(body):
            seen["writes"] += changed
        else:
            seen["refused mutations"] += 1
            assert not changed, f"a refused mutation stored something: {document} -> {body}"
        if changed:
            platform.sync()
        if any(name in document for name in SESSION_ENDERS):
            platform.new_sessions()

    await asyncio.to_thread(fuzz)
    print(seen)
    assert seen["requests"] == EXAMPLES or seen["requests"] > EXAMPLES // 2
