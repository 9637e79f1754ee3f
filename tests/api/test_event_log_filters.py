"""The auditor's event log with filters (stream type, event type, stream, time range), the
kinds of events it offers, and a stream's export as JSON Lines (`/audit/streams/<id>.jsonl`).

The oracle for every filter is the unfiltered log, walked page by page from the event store
and filtered here: a filtered page (chosen by the read models' index of the log) must be
exactly the matching events, in order, with the same contents.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api.conftest import Api
from tests.api.flows import (
    Account,
    Cast,
    cast,
    grant,
    live_campaign,
    pledge,
    sign_up,
    verified_backer,
)

EVENT = "position streamId streamType version type occurredAt payload hash prevHash"
LOG = f"""query($after: Long, $limit: Int, $streamType: String, $eventType: String,
  $streamId: ID, $from: DateTime, $until: DateTime) {{
  eventLog(after: $after, limit: $limit, streamType: $streamType, eventType: $eventType,
           streamId: $streamId, occurredFrom: $from, occurredUntil: $until) {{
    events {{ {EVENT} }} nextPosition headPosition }} }}"""
TRAIL = f"query($id: ID!) {{ auditTrail(streamId: $id) {{ {EVENT} }} }}"
KINDS = "{ auditEventTypes { streamType type } }"


class World:
    def __init__(self, team: Cast, first: str, second: str, day_two: datetime) -> None:
        self.team, self.first, self.second, self.day_two = team, first, second, day_two


@pytest.fixture
async def world(api: Api) -> World:
    """Two live campaigns with pledges on day one, and one more pledge a day later."""
    team = await cast(api)
    first = await live_campaign(api, team.founder, team.officer, title="Caf\u00e9 Solaire")
    second = await live_campaign(api, team.founder, team.officer)
    other = await verified_backer(api, team.officer, "other")
    for backer, campaign, amount in ((team.backer, first, "100.00"),
                                     (other, first, "200.00"), (other, second, "300.00")):
        assert (await pledge(api, backer, campaign, amount))["__typename"] == "PledgeSaved"
    day_two = api.clock.now() + timedelta(days=1)
    api.clock.set(day_two)
    assert (await pledge(api, team.backer, first, "150.00"))["__typename"] == "PledgeSaved"
    return World(team, first, second, day_two)


async def whole_log(api: Api, token: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = (await api.ok(LOG, {"after": after, "limit": 50}, token))["eventLog"]
        events += page["events"]
        after = page["nextPosition"]
    return events


async def filtered(api: Api, token: str, limit: int = 100, **where: Any) -> list[dict[str, Any]]:
    """Every page of a filtered log, following nextPosition."""
    events: list[dict[str, Any]] = []
    after: int | None = 0
    pages = 0
    while after is not None:
        page = (await api.ok(LOG, {"after": after, "limit": limit, **where}, token))["eventLog"]
        assert len(page["events"]) <= limit
        events += page["events"]
        after = page["nextPosition"]
        pages += 1
        assert pages < 200, "the pages never end"
    return events


async def test_each_filter_gives_exactly_the_matching_events(api: Api, world: World) -> None:
    token = world.team.auditor.token
    log = await whole_log(api, token)
    day_two = world.day_two.isoformat()
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"eventType": "PledgeAccepted"}, lambda e: e["type"] == "PledgeAccepted"),
        ({"streamType": "Pledge"}, lambda e: e["streamType"] == "Pledge"),
        ({"streamType": "Campaign", "eventType": "PledgeAccepted", "streamId": world.first},
         lambda e: e["type"] == "PledgeAccepted" and e["streamId"] == world.first),
        ({"streamId": world.second}, lambda e: e["streamId"] == world.second),
        ({"from": day_two}, lambda e: e["occurredAt"] >= day_two),
        ({"until": day_two, "eventType": "PledgeAccepted"},
         lambda e: e["occurredAt"] <= day_two and e["type"] == "PledgeAccepted"),
        ({"streamType": "User", "eventType": "PledgeAccepted"}, lambda e: False),
    ]
    for where, keep in cases:
        expected = [e for e in log if keep(e)]
        assert await filtered(api, token, **where) == expected, where
        # Paged one event at a time, the same events (the last page says there is no more).
        assert await filtered(api, token, limit=1, **where) == expected, where
    pledges = await filtered(api, token, eventType="PledgeAccepted", streamId=world.first)
    assert [e["payload"]["amount"] for e in pledges] == ["100.00", "200.00", "150.00"]
    late = await filtered(api, token, eventType="PledgeAccepted", **{"from": day_two})
    assert [(e["streamId"], e["payload"]["amount"]) for e in late] == [(world.first, "150.00")]


async def test_a_filtered_page_says_where_the_next_one_starts(api: Api, world: World) -> None:
    token = world.team.auditor.token
    first = (await api.ok(LOG, {"limit": 2, "eventType": "PledgeAccepted"}, token))["eventLog"]
    assert [e["type"] for e in first["events"]] == ["PledgeAccepted"] * 2
    assert first["nextPosition"] == first["events"][-1]["position"]
    assert first["headPosition"] == api.store.head_position()
    rest = (await api.ok(LOG, {"after": first["nextPosition"], "limit": 2,
                               "eventType": "PledgeAccepted"}, token))["eventLog"]
    assert len(rest["events"]) == 2 and rest["nextPosition"] is None
    # Blank filters are no filters: the store's own log.
    blank = (await api.ok(LOG, {"limit": 3, "eventType": " ", "streamType": ""}, token))
    assert [e["position"] for e in blank["eventLog"]["events"]] == [1, 2, 3]


async def test_bad_filters_are_refused(api: Api, world: World) -> None:
    token = world.team.auditor.token
    assert await api.error_code(LOG, {"streamId": "not-a-stream"}, token) == "BAD_USER_INPUT"
    assert await api.error_code(LOG, {"eventType": "x" * 65}, token) == "BAD_USER_INPUT"
    body = await api.call(LOG, {"from": "2027-03-01T12:00:00"}, token)
    assert body.get("errors"), body


async def test_only_auditors_read_the_filtered_log_and_its_kinds(api: Api, world: World) -> None:
    team = world.team
    pending = await sign_up(api, "pending-auditor")
    admin_granted = await api.ok(
        "mutation($e: String!) { grantRole(email: $e, role: AUDITOR) { __typename } }",
        {"e": pending.email}, team.admin.token)
    assert admin_granted["grantRole"]["__typename"] == "RoleGranted"
    without_totp = Account(pending.id, pending.email, api.token_for(pending.id))
    for query, variables in ((LOG, {"eventType": "PledgeAccepted"}), (KINDS, {})):
        assert await api.error_code(query, variables) == "UNAUTHENTICATED"
        for who in (team.outsider, team.backer, team.founder, team.officer, team.admin,
                    without_totp):
            assert await api.error_code(query, variables, who.token) == "FORBIDDEN", who
        assert await api.ok(query, variables, team.auditor.token)


async def test_the_kinds_of_events_come_from_the_domain(api: Api, world: World) -> None:
    kinds = (await api.ok(KINDS, token=world.team.auditor.token))["auditEventTypes"]
    pairs = [(k["streamType"], k["type"]) for k in kinds]
    assert pairs == sorted(pairs)
    # Every kind the log holds is offered.
    log = await whole_log(api, world.team.auditor.token)
    assert {(e["streamType"], e["type"]) for e in log} <= set(pairs)
    assert ("Campaign", "PledgeAccepted") in pairs and ("Pledge", "PledgeCancelled") in pairs


# ------------------------------------------------------------------------------ the export


async def export(api: Api, stream_id: str, token: str | None, as_of: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"asOf": as_of} if as_of else {}
    return await api.client.get(f"/audit/streams/{stream_id}.jsonl", headers=headers,
                                params=params)


async def test_the_export_is_the_stream_as_json_lines(api: Api, world: World) -> None:
    token = world.team.auditor.token
    response = await export(api, world.first, token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jsonl; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="stream-{world.first}.jsonl"')
    assert response.headers["cache-control"] == "no-store"
    body = response.content
    assert body.endswith(b"\n")
    lines = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    trail = (await api.ok(TRAIL, {"id": world.first}, token))["auditTrail"]
    assert lines == trail
    # Text is UTF-8 as is, not \u escapes (what `crowdfund audit replay` prints).
    assert "Café Solaire".encode() in body and b"\\u00e9" not in body

    cut = await export(api, world.first, token, as_of=world.day_two.isoformat())
    kept = [json.loads(line) for line in cut.text.splitlines()]
    assert kept == lines  # the last pledge occurred at day two itself
    before = (world.day_two - timedelta(seconds=1)).isoformat()
    earlier = [json.loads(line) for line in (await export(api, world.first, token,
                                                          as_of=before)).text.splitlines()]
    assert earlier == lines[:-1] and lines[-1]["type"] == "PledgeAccepted"


async def test_the_export_is_for_auditors_only(api: Api, world: World) -> None:
    team = world.team
    assert (await export(api, world.first, None)).status_code == 401
    assert (await export(api, world.first, "garbage")).status_code == 401
    for who in (team.outsider, team.backer, team.founder, team.officer, team.admin):
        assert (await export(api, world.first, who.token)).status_code == 403, who
    pending = await sign_up(api, "pending-auditor")
    await api.ok("mutation($e: String!) { grantRole(email: $e, role: AUDITOR) { __typename } }",
                 {"e": pending.email}, team.admin.token)
    waiting = await export(api, world.first, api.token_for(pending.id))
    assert waiting.status_code == 403 and "two-factor" in waiting.text
    auditor = await grant(api, team.admin, await sign_up(api, "auditor2"), "AUDITOR")
    assert (await export(api, world.first, auditor.token)).status_code == 200


async def test_the_export_refuses_what_it_cannot_answer(api: Api, world: World) -> None:
    token = world.team.auditor.token
    assert (await export(api, "00000000-0000-0000-0000-000000000000", token)).status_code == 404
    assert (await export(api, "nope", token)).status_code == 404
    naive = await export(api, world.first, token, as_of="2027-03-01T12:00:00")
    assert naive.status_code == 400 and "offset" in naive.text
    assert (await export(api, world.first, token, as_of="yesterday")).status_code == 400


# ------------------------------------------------------------ personal data on the audit paths

ACCESS_LOG = "query L($id: ID!) { dataAccessLog(userId: $id) { purpose viewer { id } } }"


async def accesses(api: Api, subject: Account) -> list[tuple[str, str]]:
    data = await api.ok(ACCESS_LOG, {"id": subject.id}, subject.token)
    return [(a["viewer"]["id"], a["purpose"]) for a in data["dataAccessLog"]]


async def test_a_users_stream_is_recorded_before_an_auditor_sees_it(
    api: Api, world: World
) -> None:
    """A user's stream holds their profile (legal name, birth date, income): every audit
    path that shows it records the read first; a campaign's stream records nothing."""
    auditor, backer = world.team.auditor, world.team.backer
    before = await accesses(api, backer)
    trail = (await api.ok(TRAIL, {"id": backer.id}, auditor.token))["auditTrail"]
    assert any(e["payload"].get("legal_name") == "Ada Investor" for e in trail)
    page = await filtered(api, auditor.token, streamId=backer.id,
                          eventType="InvestorProfileSubmitted")
    assert [e["payload"]["legal_name"] for e in page] == ["Ada Investor"]
    response = await export(api, backer.id, auditor.token)
    assert response.status_code == 200 and b"Ada Investor" in response.content
    assert (await export(api, world.first, auditor.token)).status_code == 200
    assert (await api.ok(TRAIL, {"id": world.first}, auditor.token))["auditTrail"]
    after = await accesses(api, backer)
    assert after[: len(after) - len(before)] == [
        (auditor.id, "GET /audit/streams/<id>.jsonl"), (auditor.id, "eventLog"),
        (auditor.id, "auditTrail")]


async def test_an_export_that_cannot_be_recorded_shows_nothing(api: Api, world: World) -> None:
    with api.services.read_models.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE data_access_log"))
    auditor = world.team.auditor
    refused = await export(api, world.team.backer.id, auditor.token)
    assert refused.status_code == 503 and b"Ada Investor" not in refused.content
    body = await api.call(TRAIL, {"id": world.team.backer.id}, auditor.token)
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert "Ada Investor" not in str(body)
    # A campaign's stream holds no one's personal data: it is still exported.
    assert (await export(api, world.first, auditor.token)).status_code == 200
