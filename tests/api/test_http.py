"""The HTTP surface besides GraphQL: web page, health, metrics, dev-only tools; and
read-your-writes while the projections lag."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.app import create_app
from api.schema import sdl
from tests.api.conftest import METRICS_TOKEN, Api, make_services
from tests.api.flows import DRAFT, Cast, cast, draft_input, live_campaign, pledge
from tests.conftest import CONTRACT_CHECKER

CHECKER = CONTRACT_CHECKER


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


async def test_web_page_and_static_files(api: Api) -> None:
    page = await api.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script type="module" src="/static/app.js">' in page.text
    script = await api.client.get("/static/app.js")
    assert script.status_code == 200
    assert (await api.client.get("/static/../security.py")).status_code == 404
    assert (await api.client.get("/static/nope.js")).status_code == 404


async def test_healthz_ok(api: Api, team: Cast) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["broker"] == "127.0.0.1:9092"
    assert body["headPosition"] == api.store.head_position() == body["projectionsPosition"]


async def test_healthz_degraded(api: Api, team: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> int:
        raise ConnectionError("read-model database unreachable")

    monkeypatch.setattr(api.services.read_models, "applied_through", down)
    api.services.broker_check = lambda: False
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["projectionsPosition"] is None
    assert set(body["problems"]) == {"projections", "broker"}
    assert body["headPosition"] == api.store.head_position()


async def test_metrics(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    await pledge(api, team.backer, cid, "100.00")
    api.auto_sync = False
    await pledge(api, team.backer, cid, "100.00")  # one event batch the read models lack
    # Only the scraper holding the token reads the metrics.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        assert (await api.client.get("/metrics", headers=headers)).status_code == 404
    text = (await api.client.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
    assert "crowdfund_pledge_seconds_count 2.0" in text
    assert 'crowdfund_http_requests_total{route="/graphql",status="2xx"}' in text
    lag = next(line for line in text.splitlines()
               if line.startswith("crowdfund_projection_lag_events "))
    assert float(lag.split()[1]) > 0


async def test_read_your_writes_while_projections_lag(api: Api, team: Cast) -> None:
    api.auto_sync = False
    data = await api.ok(DRAFT, {"input": draft_input(api, title="Fresh")}, team.founder.token)
    saved = data["draftCampaign"]
    assert saved["campaign"]["title"] == "Fresh"  # from the write model
    behind = await api.ok("query($p: Long!) { caughtUp(position: $p, timeoutMs: 50) }",
                          {"p": saved["position"]})
    assert behind["caughtUp"] is False
    api.sync()
    caught = await api.ok("query($p: Long!) { caughtUp(position: $p, timeoutMs: 50) }",
                          {"p": saved["position"]})
    assert caught["caughtUp"] is True


@pytest.fixture
async def dev_api(api: Api, tmp_path: Path) -> AsyncIterator[Api]:
    services, url = make_services(api.store, api.clock, tmp_path / "dev", dev=True)
    client = Api(services, create_app(services), url)
    yield client
    await client.client.aclose()
    services.read_models.close()


async def test_dev_serves_graphiql_and_introspection(dev_api: Api, api: Api) -> None:
    ide = await dev_api.client.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    types = await dev_api.ok("{ __schema { queryType { name } } }")
    assert types["__schema"]["queryType"]["name"] == "Query"
    closed = await api.call("{ __schema { queryType { name } } }")
    assert closed["errors"]


def test_contract_has_no_gaps(tmp_path: Path) -> None:
    printed = tmp_path / "schema.graphql"
    printed.write_text(sdl())
    run = subprocess.run([sys.executable, str(CHECKER), str(printed)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout
    assert run.stdout.strip().endswith("contract: 0 gap(s)")
