"""`campaignProgress` over graphql-transport-ws (Starlette's TestClient)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from tests.api.conftest import Api
from tests.api.flows import PLEDGE, Cast, cast, draft, live_campaign

SUBSCRIBE = """
subscription($id: ID!) {
  campaignProgress(campaignId: $id) { campaignId status raised backerCount position }
}"""


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(create_app(api.services)) as test_client:
        yield test_client


def connect(ws: Any, token: str | None = None) -> None:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    ws.send_json({"type": "connection_init", "payload": payload})
    assert ws.receive_json()["type"] == "connection_ack"


def next_payload(ws: Any) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    data: dict[str, Any] = message["payload"]
    return data


async def test_progress_emits_on_a_pledge(api: Api, team: Cast, client: TestClient) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, team.backer.token)
        ws.send_json({"id": "1", "type": "subscribe",
                      "payload": {"query": SUBSCRIBE, "variables": {"id": cid}}})
        first = next_payload(ws)["data"]["campaignProgress"]
        assert (first["campaignId"], first["status"], first["raised"], first["backerCount"]) \
            == (cid, "LIVE", "0.00", 0)

        answer = client.post(
            "/graphql",
            json={"query": PLEDGE, "variables": {"input": {
                "campaignId": cid, "amount": "300.00", "idempotencyKey": "ws",
                "acknowledgeRisk": True}}},
            headers={"Authorization": f"Bearer {team.backer.token}"},
        ).json()
        assert answer["data"]["pledge"]["__typename"] == "PledgeSaved"
        api.sync()  # what the projection workers do
        second = next_payload(ws)["data"]["campaignProgress"]
        assert (second["raised"], second["backerCount"]) == ("300.00", 1)
        assert second["position"] > first["position"]

        ws.send_json({"id": "1", "type": "complete"})
        hub = client.app.state.hub  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while hub.subscribers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hub.subscribers == 0  # unsubscribed cleanly


async def test_disconnect_ends_the_subscription(
    api: Api, team: Cast, client: TestClient
) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    hub = client.app.state.hub  # type: ignore[attr-defined]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws)
        ws.send_json({"id": "1", "type": "subscribe",
                      "payload": {"query": SUBSCRIBE, "variables": {"id": cid}}})
        next_payload(ws)
        assert hub.subscribers == 1
    deadline = time.monotonic() + 5
    while hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.subscribers == 0


async def test_anonymous_may_watch_public_campaigns(
    api: Api, team: Cast, client: TestClient
) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws)
        ws.send_json({"id": "a", "type": "subscribe",
                      "payload": {"query": SUBSCRIBE, "variables": {"id": cid}}})
        assert next_payload(ws)["data"]["campaignProgress"]["status"] == "LIVE"


async def test_drafts_and_unknown_campaigns_are_not_found(
    api: Api, team: Cast, client: TestClient
) -> None:
    drafted = await draft(api, team.founder)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws)
        for sid, cid in (("1", drafted), ("2", "00000000-0000-4000-8000-000000000000")):
            ws.send_json({"id": sid, "type": "subscribe",
                          "payload": {"query": SUBSCRIBE, "variables": {"id": cid}}})
            message = ws.receive_json()
            assert message["type"] == "next", message
            assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            assert ws.receive_json() == {"id": sid, "type": "complete"}


async def test_an_invalid_token_closes_the_socket(api: Api, client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
