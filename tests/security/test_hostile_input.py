"""Hostile input the fuzzer (test_graphql_fuzz.py) found, beyond tests/api/test_hostile.py:
always a client error, never a masked internal error, nothing stored."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.flows import cast, live_campaign, pledge

BROKEN = ["bm9wZQ", "!!", "cGxlZGdlOng", "x" * 500]


async def test_a_bad_cursor_on_a_campaigns_pledges_is_bad_user_input(api: Api) -> None:
    """`campaigns(after:)` answers BAD_USER_INPUT; the nested `pledges(after:)` must too.

    Found by the fuzzer: an unhandled InvalidCursor, answered "Internal error." (a
    500 in GraphQL clothing) and logged as a bug."""
    team = await cast(api)
    campaign_id = await live_campaign(api, team.founder, team.officer)
    await pledge(api, team.backer, campaign_id, "100.00")
    page = await api.ok("{ campaigns { edges { cursor } } }")
    campaign_cursor = page["campaigns"]["edges"][0]["cursor"]  # the wrong kind here
    head = api.store.head_position()
    queries = (
        ("query($id: ID!, $c: String) { campaign(id: $id) { pledges(after: $c) "
         "{ totalCount } } }", team.founder.token),
        ("query($c: String) { campaigns { edges { node { pledges(after: $c) "
         "{ totalCount } } } } }", team.auditor.token),
    )
    wrong = []
    for cursor in (*BROKEN, campaign_cursor):
        for query, token in queries:
            body = await api.call(query, {"id": campaign_id, "c": cursor}, token)
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
            if codes[:1] != ["BAD_USER_INPUT"]:
                wrong.append((cursor[:12], query[:40], body.get("errors")))
    assert wrong == []
    assert api.store.head_position() == head
