"""Engines for the read-model database: SQLite in dev, PostgreSQL in production.

A PostgreSQL URL may carry `?schema=NAME` (tests isolate themselves that way):
the parameter is stripped and becomes the connection's search_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

EngineOrUrl = Engine | str | URL


def split_schema(url: str | URL) -> tuple[URL, str | None]:
    """The URL without `schema=`, and that schema (PostgreSQL only)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = parsed.query.get("schema")
    if isinstance(schema, tuple):
        schema = schema[-1]
    if schema is not None:
        parsed = parsed.difference_update_query(["schema"])
    return parsed, schema or None


def make_engine(url: EngineOrUrl, *, writer: bool = False) -> Engine:
    """A sync engine. `writer=True` on SQLite takes the write lock at BEGIN, so two
    processes never deadlock upgrading a read lock (SQLITE_BUSY without waiting)."""
    if isinstance(url, Engine):
        return url
    parsed, schema = split_schema(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, writer=writer)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    if schema:
        _ensure_schema(parsed, schema)
    return engine


def _ensure_schema(url: URL, schema: str) -> None:
    bootstrap = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with bootstrap.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except sa.exc.IntegrityError:
        pass  # a concurrent creator won the race
    finally:
        bootstrap.dispose()


def _sqlite_engine(url: URL, *, writer: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
