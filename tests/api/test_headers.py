"""Security headers on every HTTP response; what the static folder serves; HSTS only
behind an https public URL; /metrics only for the token holder."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.headers import PAGE_POLICY
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import ApiOptions, build_services
from crowdfund.settings import Settings
from tests.api.conftest import CHEAP_HASHER, SECRET, Api
from tests.api.flows import cast, live_campaign

PATHS = ("/", "/static/app.js", "/static/style.css", "/healthz", "/metrics", "/nowhere",
         "/static/TESTIDS.md")


async def test_every_response_carries_the_headers(api: Api) -> None:
    responses = [await api.client.get(path) for path in PATHS]
    responses.append(await api.client.post("/graphql", json={"query": "{ __typename }"}))
    responses.append(await api.client.post("/graphql", content=b"{not json"))
    for response in responses:
        where = f"{response.request.method} {response.request.url.path}"
        assert response.headers["content-security-policy"] == PAGE_POLICY, where
        assert response.headers["x-frame-options"] == "DENY", where
        assert response.headers["x-content-type-options"] == "nosniff", where
        assert response.headers["referrer-policy"] == "no-referrer", where
        assert "strict-transport-security" not in response.headers, where  # plain http
    assert responses[-2].headers["cache-control"] == "no-store"  # answers carry tokens


def test_the_page_policy_is_strict() -> None:
    directives = dict(d.split(" ", 1) for d in PAGE_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in PAGE_POLICY


async def test_only_the_page_files_are_served(api: Api) -> None:
    assert (await api.client.get("/static/TESTIDS.md")).status_code == 404
    assert (Path(__file__).parents[2] / "api" / "static" / "TESTIDS.md").exists()
    script = await api.client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await api.client.get("/static/../security.py")).status_code == 404


@pytest.fixture
def https_services(sqlite_app: Crowdfund, clock: SettableClock, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key=SECRET, public_url="https://invest.example",
                    database_url=f"sqlite:///{tmp_path / 'events.db'}")


async def test_hsts_behind_an_https_public_url_and_metrics_closed_without_a_token(
    sqlite_app: Crowdfund, clock: SettableClock, https_services: Settings
) -> None:
    services = build_services(https_services, sqlite_app, clock, ApiOptions(hasher=CHEAP_HASHER))
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
            page = await client.get("/")
            assert page.headers["strict-transport-security"].startswith("max-age=63072000")
            # No CROWDFUND_METRICS_TOKEN outside dev: /metrics is not there at all.
            metrics = await client.get("/metrics", headers={"Authorization": "Bearer x"})
            assert metrics.status_code == 404
    finally:
        services.read_models.close()


async def test_graphiql_alone_gets_a_looser_policy_in_dev(
    sqlite_app: Crowdfund, clock: SettableClock, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=SECRET,
                        database_url=f"sqlite:///{tmp_path / 'events.db'}")
    services = build_services(settings, sqlite_app, clock,
                              ApiOptions(dev=True, hasher=CHEAP_HASHER))
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ide = await client.get("/graphql", headers={"Accept": "text/html"})
            assert ide.status_code == 200
            assert "'unsafe-inline'" in ide.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in ide.headers["content-security-policy"]
            page = await client.get("/")
            assert page.headers["content-security-policy"] == PAGE_POLICY
            assert (await client.get("/metrics")).status_code == 200  # dev: open
    finally:
        services.read_models.close()


async def test_page_sizes_are_capped_for_nested_connections_too(api: Api) -> None:
    team = await cast(api)
    campaign_id = await live_campaign(api, team.founder, team.officer)
    query = "query($id: ID!, $n: Int) { campaign(id: $id) { pledges(first: $n) { totalCount } } }"
    assert await api.error_code(query, {"id": campaign_id, "n": 101},
                                team.founder.token) == "BAD_USER_INPUT"
    page = await api.ok(query, {"id": campaign_id, "n": 100}, team.founder.token)
    assert page["campaign"]["pledges"]["totalCount"] == 0
