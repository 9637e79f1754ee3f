"""Shared fixtures: a settable clock, and the write side on SQLite and on PostgreSQL.

- `clock`: a `SettableClock` at `START`, a Monday noon UTC.
- `memory_store` / `memory_app`: the eventsourcing library's in-memory store (`memory://`),
  the fast tier for rules: a test module that checks rules, not persistence, overrides
  `app` with `memory_app`. Each `open` there is a store of its own.
- `sqlite_store` / `postgres_store` / `store` (both): an empty event store. `store.open(clock)`
  gives a `Crowdfund` on it; call it again for a second instance with its own cache (what a
  second process would see). `store.rows(...)`, `store.execute(...)` reach the table with raw SQL.
- `sqlite_app` / `postgres_app` / `app` (both): `store.open(clock)`.
- `module_store` (both, one per module): for tests that only read or are refused.
  `new_store(kind, directory, postgres_url)` makes a store at any scope.

PostgreSQL is not optional: when the server at 127.0.0.1:5432 (user postgres, database `test`)
is not reachable, the PostgreSQL tests FAIL. Start it with `scripts/test-services.sh`.
Each PostgreSQL test gets a fresh schema `t_<hex>`, dropped afterwards. Set
CROWDFUND_TEST_POSTGRES_URL to use another server or database.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The public contract's checker lives in shared/, beside the checkout (and in CI
# beside its clone).
CONTRACT_CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"
if str(ROOT) not in sys.path:  # so that test modules can `from tests.scenario import ...`
    sys.path.insert(0, str(ROOT))

from application.clock import SettableClock  # noqa: E402
from application.crowdfund import Crowdfund  # noqa: E402
from crowdfund.bootstrap import open_application  # noqa: E402
from crowdfund.settings import Settings  # noqa: E402

# A Monday, 12:00:00 UTC: business-day arithmetic in tests starts from a known weekday.
START = datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get(
    "CROWDFUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


class Store:
    """One empty event store, and every `Crowdfund` opened on it (closed at teardown)."""

    def __init__(self, kind: str, url: str, directory: Path, schema: str | None = None) -> None:
        self.kind = kind
        self.url = url
        self.directory = directory  # the data dir of its settings (no dev keys in it)
        self.schema = schema
        self.apps: list[Crowdfund] = []

    def __repr__(self) -> str:
        return f"Store({self.kind}, {self.url})"

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def open(
        self, clock: Any = None, *, cipher_key: str | None = None, **env: str
    ) -> Crowdfund:
        """A new application instance on this store, with its own aggregate cache, built
        as production builds it (`crowdfund.bootstrap`)."""
        if self.is_postgres:
            # Few connections per instance (tests open many instances, and other suites
            # share the server's 100), opened lazily; patient when the machine is busy.
            env = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "9",
                   "POSTGRES_CONNECT_TIMEOUT": "30", **env}
        settings = Settings(database_url=self.url, cipher_key=cipher_key, data_dir=self.directory)
        app = open_application(settings, clock or SettableClock(START), env=env)
        self.apps.append(app)
        return app

    # Raw SQL, beside the application: tampering, pre-inserting, counting. -------------

    @property
    def events_table(self) -> str:
        return f'"{self.schema}".crowdfund_events' if self.is_postgres else "stored_events"

    def stream_key(self, stream_id: UUID | str) -> Any:
        """How the table stores an originator id (SQLite: hex text; PostgreSQL: uuid)."""
        uid = stream_id if isinstance(stream_id, UUID) else UUID(str(stream_id))
        return uid if self.is_postgres else uid.hex

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run `sql` (placeholders `%s`, `{events}` for the events table) in its own
        committed transaction, on a connection the application does not know about."""
        sql = sql.replace("{events}", self.events_table)
        if self.is_postgres:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                cur = conn.execute(sql, params)  # type: ignore[call-overload]
                return list(cur.fetchall()) if cur.description else []
        path = self.url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=10)
        try:
            with conn:
                cur = conn.execute(sql.replace("%s", "?"), tuple(params))
                return list(cur.fetchall())
        finally:
            conn.close()

    def rows(self, stream_id: UUID | str) -> list[tuple[int, str, bytes]]:
        """(version, topic, state) of every stored event of one stream, in order."""
        found = self.execute(
            "SELECT originator_version, topic, state FROM {events} "
            "WHERE originator_id = %s ORDER BY originator_version",
            [self.stream_key(stream_id)],
        )
        return [(int(v), str(t), bytes(s)) for v, t, s in found]

    def set_state(self, stream_id: UUID | str, version: int, state: bytes) -> None:
        self.execute(
            "UPDATE {events} SET state = %s WHERE originator_id = %s AND originator_version = %s",
            [state, self.stream_key(stream_id), version],
        )

    def event_count(self) -> int:
        return int(self.execute("SELECT COUNT(*) FROM {events}")[0][0])

    def close(self) -> None:
        for app in self.apps:
            app.close()
        self.apps.clear()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server the suite must run against; a loud failure when it is down."""
    problem = None
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        problem = str(exc).strip()
    if problem is not None:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem}). The PostgreSQL suite "
            "is required, not optional: start the server with `bash scripts/test-services.sh`.",
            pytrace=False,
        )
    return POSTGRES_URL


@contextmanager
def new_store(kind: str, directory: Path, postgres_url: str | None = None) -> Iterator[Store]:
    """An empty event store of `kind`: in memory, a SQLite file in `directory`, or a fresh
    PostgreSQL schema (dropped, with everything in it, afterwards)."""
    if kind == "memory":
        store = Store("memory", "memory://", directory)
        try:
            yield store
        finally:
            store.close()
        return
    if kind == "sqlite":
        store = Store("sqlite", f"sqlite:///{directory / 'events.db'}", directory)
        try:
            yield store
        finally:
            store.close()
        return
    assert postgres_url is not None
    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[call-overload]
    store = Store("postgres", f"{postgres_url}?schema={schema}", directory, schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[call-overload]


@pytest.fixture
def memory_store(tmp_path: Path) -> Iterator[Store]:
    with new_store("memory", tmp_path) as store:
        yield store


@pytest.fixture
def memory_app(memory_store: Store, clock: SettableClock) -> Crowdfund:
    return memory_store.open(clock)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with new_store("sqlite", tmp_path) as store:
        yield store


@pytest.fixture
def postgres_store(postgres_server: str, tmp_path: Path) -> Iterator[Store]:
    with new_store("postgres", tmp_path, postgres_server) as store:
        yield store


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store per test module and kind, for tests that only read or are refused."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    with new_store(request.param, tmp_path_factory.mktemp("store"), server) as store:
        yield store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """The same test on both event stores."""
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_app(sqlite_store: Store, clock: SettableClock) -> Crowdfund:
    return sqlite_store.open(clock)


@pytest.fixture
def postgres_app(postgres_store: Store, clock: SettableClock) -> Crowdfund:
    return postgres_store.open(clock)


@pytest.fixture
def app(store: Store, clock: SettableClock) -> Crowdfund:
    return store.open(clock)
