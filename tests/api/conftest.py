"""In-process API harness: the real app over httpx's ASGITransport, an event store
on SQLite, read models on SQLite kept current by a synchronous catch-up after every
request (what the projection workers do asynchronously in production).

    async def test_x(api: Api) -> None:
        token = api.token_for(user_id)
        data = await api.ok("query { me { id } }", token=token)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.security import make_hasher
from api.services import Services
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import ApiOptions, build_services, read_model_url
from crowdfund.settings import Settings
from projections.projector import Projector
from projections.source import StoreLog

SECRET = "test-secret-key-that-is-long-enough-for-hs256"
METRICS_TOKEN = "metrics-token-for-the-scraper"
PARTITIONS = 2
# Argon2 at its cheapest: sign-up and sign-in tests stay fast.
CHEAP_HASHER = make_hasher(time_cost=1, memory_cost=8, parallelism=1)


class Api:
    """A client of one in-process platform: GraphQL calls, tokens, read-model sync."""

    def __init__(self, services: Services, app: Starlette, url: str) -> None:
        self.services = services
        self.app = app
        self.projector = Projector(url)
        self.count = self.projector.init_tracking(PARTITIONS)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        self.auto_sync = True

    @property
    def store(self) -> Crowdfund:
        return self.services.app

    @property
    def clock(self) -> SettableClock:
        assert self.services.test_clock is not None
        return self.services.test_clock

    def sync(self) -> None:
        """Bring every read model up to the event store's head."""
        app = self.services.app
        self.projector.catch_up(StoreLog(app), range(self.count), self.count, app.head_position())

    def token_for(self, user_id: UUID | str) -> str:
        user = self.services.app.user(user_id)
        return self.services.tokens.issue(str(user.id), list(user.roles))

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        if self.auto_sync:
            self.sync()
        return response

    async def upload(
        self, query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]],
        token: str | None = None,
    ) -> httpx.Response:
        """A GraphQL multipart request (jaydenseric/graphql-multipart-request-spec):
        `files` maps a variable name to (file name, content, claimed content type)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        operations = {"query": query, "variables": {**variables, **dict.fromkeys(files)}}
        mapping = {str(i): [f"variables.{name}"] for i, name in enumerate(files)}
        parts = {str(i): files[name] for i, name in enumerate(files)}
        response = await self.client.post(
            "/graphql", headers=headers, files=parts,
            data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        )
        if self.auto_sync:
            self.sync()
        return response

    async def call(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = None) -> dict[str, Any]:
        """The whole GraphQL answer (data and errors); the HTTP status must be 200."""
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, query: str, variables: dict[str, Any] | None = None,
                 token: str | None = None) -> dict[str, Any]:
        """`data` of an answer without errors."""
        body = await self.call(query, variables, token)
        assert not body.get("errors"), json.dumps(body["errors"], indent=1)
        data: dict[str, Any] = body["data"]
        return data

    async def error_code(self, query: str, variables: dict[str, Any] | None = None,
                         token: str | None = None) -> str:
        body = await self.call(query, variables, token)
        assert body.get("errors"), body
        code: str = body["errors"][0].get("extensions", {}).get("code", "")
        return code


def make_services(
    app: Crowdfund, clock: SettableClock, data_dir: Path, *, dev: bool = False,
    test_clock: bool = True,
) -> tuple[Services, str]:
    """The API's services as production wires them (`crowdfund.bootstrap`), on the
    test's event store, read models in SQLite beside it, and a cheap password hash."""
    settings = Settings(data_dir=data_dir, secret_key=SECRET, metrics_token=METRICS_TOKEN,
                        database_url=f"sqlite:///{data_dir / 'events.db'}")
    options = ApiOptions(
        dev=dev, test_clock=clock if test_clock else None, broker="127.0.0.1:9092",
        hasher=CHEAP_HASHER, subscription_poll_seconds=0.05, caught_up_poll_seconds=0.01,
    )
    services = build_services(settings, app, clock, options)
    return services, read_model_url(settings)


@pytest.fixture
def services_and_url(
    sqlite_app: Crowdfund, clock: SettableClock, tmp_path: Path
) -> Iterator[tuple[Services, str]]:
    services, url = make_services(sqlite_app, clock, tmp_path)
    yield services, url
    services.read_models.close()


@pytest.fixture
async def api(services_and_url: tuple[Services, str]) -> AsyncIterator[Api]:
    services, url = services_and_url
    client = Api(services, create_app(services), url)
    try:
        yield client
    finally:
        await client.client.aclose()
        client.projector.engine.dispose()
