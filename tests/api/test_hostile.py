"""Hostile and malformed requests: always a 4xx or a Problem, never a 500, never stored."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from api.app import MAX_BODY_BYTES
from tests.api.conftest import Api
from tests.api.flows import DRAFT, PROBLEM, Cast, cast, draft_input


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


async def raw(api: Api, content: bytes, content_type: str = "application/json",
              token: str | None = None) -> Any:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await api.client.post("/graphql", content=content, headers=headers)


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"[", b"\xff\xfe\x00garbage", b"42", b'"query"', b"null",
    b"[" * 100_00 + b"]" * 100_00, b'[{"query": "{ me { id } }"}]',
    b'{"query": 42}', b'{"query": "{ me { id } }", "variables": []}',
])
async def test_malformed_bodies_are_400(api: Api, body: bytes) -> None:
    response = await raw(api, body)
    assert response.status_code == 400, (body[:40], response.status_code, response.text)


async def test_wrong_content_type_is_400(api: Api) -> None:
    response = await raw(api, b"query=%7Bme%7Bid%7D%7D", "application/x-www-form-urlencoded")
    assert response.status_code == 400


async def test_too_large_body_is_413(api: Api, team: Cast) -> None:
    head = api.store.head_position()
    title = "x" * (MAX_BODY_BYTES + 1)
    response = await api.post(DRAFT, {"input": draft_input(api, title=title)}, team.founder.token)
    assert response.status_code == 413
    # A body that lies about its length (chunked) is cut off too.
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 8192
    chunked = await api.client.post("/graphql", content=chunks(),
                                    headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert api.store.head_position() == head


async def test_no_query_and_unknown_operation(api: Api) -> None:
    assert (await raw(api, b'{"variables": {}}')).status_code == 400
    response = await raw(api, b'{"query": "query A { me { id } }", "operationName": "B"}')
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["errors"]


async def test_deep_query_is_refused(api: Api) -> None:
    deep = "{ campaigns { edges { node { pledges { edges { node { campaign { pledges { edges " \
        "{ node { campaign { founder { id } } } } } } } } } } } } }"
    body = await api.call(deep)
    assert body["errors"] and "depth" in body["errors"][0]["message"]


async def test_many_aliases_are_refused(api: Api) -> None:
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + " }"
    body = await api.call(query)
    assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()


async def test_many_tokens_are_refused(api: Api) -> None:
    query = "{ me { " + " ".join("id" for _ in range(3000)) + " } }"
    body = await api.call(query)
    assert body["errors"] and "token" in body["errors"][0]["message"].lower()


async def test_syntax_errors_and_unknown_fields(api: Api) -> None:
    for query in ("{ me { id ", "{ nothingHere }", "mutation { pledge }",
                  "query($x: Long!) { caughtUp(position: $x) }"):
        body = await api.call(query, {"x": "not a number"})
        assert body["errors"], query


async def test_huge_and_strange_strings(api: Api, team: Cast) -> None:
    head = api.store.head_position()
    for title, field in [
        ("t" * 5000, "title"),
        ("bad\u0000title", "title"),
        ("escape \u001b[31m", "title"),
    ]:
        data = await api.ok(DRAFT, {"input": draft_input(api, title=title)}, team.founder.token)
        assert data["draftCampaign"]["__typename"] == "ValidationProblem"
        assert data["draftCampaign"]["field"] == field
    # A lone surrogate survives JSON but not UTF-8 storage: refused with the field.
    body = (b'{"query": "mutation($t: String!) { postUpdate(campaignId: \\"x\\", input: '
            b'{title: $t, body: \\"b\\"}) { __typename ' + PROBLEM.encode() +
            b' } }", "variables": {"t": "\\ud800"}}')
    response = await raw(api, body, token=team.founder.token)
    assert response.status_code == 200
    assert response.json()["data"]["postUpdate"]["field"] == "title"
    assert api.store.head_position() == head


async def test_injection_looking_text_is_just_text(api: Api, team: Cast) -> None:
    title = "Robert'); DROP TABLE stored_events;-- <script>alert(1)</script> {{7*7}}"
    data = await api.ok(DRAFT, {"input": draft_input(api, title=title)}, team.founder.token)
    assert data["draftCampaign"]["campaign"]["title"] == title
    ids = ['" OR 1=1 --', "../../etc/passwd", "{{7*7}}", "%00"]
    for cid in ids:
        body = await api.call("query($id: ID!) { campaign(id: $id) { id } }", {"id": cid})
        assert body["data"]["campaign"] is None
    stream = await api.call('{ auditTrail(streamId: "\' OR 1=1") { type } }',
                            token=team.auditor.token)
    assert stream["errors"][0]["extensions"]["code"] in ("NOT_FOUND", "BAD_USER_INPUT")


async def test_bad_cursor_and_page_size(api: Api) -> None:
    assert await api.error_code('{ campaigns(after: "bm9wZQ") { totalCount } }') == \
        "BAD_USER_INPUT"
    assert await api.error_code("{ campaigns(first: -1) { totalCount } }") == "BAD_USER_INPUT"
    # Page sizes are capped at 100 wherever a connection takes `first`.
    for query in ("{ campaigns(first: 101) { totalCount } }",
                  "{ campaigns(first: 1000000) { totalCount } }"):
        assert await api.error_code(query) == "BAD_USER_INPUT"
    assert (await api.ok("{ campaigns(first: 100) { totalCount } }"))["campaigns"][
        "totalCount"] == 0


async def test_introspection_is_off_outside_dev(api: Api) -> None:
    body = await api.call("{ __schema { types { name } } }")
    assert body["errors"] and "introspection" in body["errors"][0]["message"].lower()
    # __typename is not introspection: unions need it.
    assert (await api.ok("{ __typename }")) == {"__typename": "Query"}
    assert (await api.client.get("/graphql", headers={"Accept": "text/html"})).status_code \
        in (400, 404, 405)


async def test_internal_errors_are_masked_and_logged_without_personal_data(
    api: Api, team: Cast, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError(f"leaked {team.backer.email}")

    monkeypatch.setattr(api.services.read_models, "platform_stats", explode)
    with caplog.at_level(logging.ERROR):
        body = await api.call("{ platformStats { pledges } }", token=team.admin.token)
    assert body["errors"][0]["message"] == "Internal error."
    assert team.backer.email not in str(body)
    assert "RuntimeError" in caplog.text and team.backer.email not in caplog.text


async def test_bad_scalar_values_explain_themselves(api: Api) -> None:
    body = await api.call("query($p: Long!) { caughtUp(position: $p) }", {"p": 2**70})
    assert "64 bits" in body["errors"][0]["message"]
    body = await api.call("query($p: Long!) { caughtUp(position: $p) }", {"p": 1.5})
    assert "integer" in body["errors"][0]["message"]
