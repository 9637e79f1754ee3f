"""The read-model schema, migrated with Alembic (`projections/migrations/`).

Every process that opens the read-model database (the API, each worker, the
rebuild) calls `upgrade` first: the database is brought to the newest revision,
never dropped. Processes starting together on a new database take turns: on
PostgreSQL under an advisory lock held for the migration's transaction (DDL is
transactional there), on SQLite under the write lock (`BEGIN IMMEDIATE`); the
ones that waited find the schema at head and do nothing.

A database made by `tables.create_all` before migrations existed has the tables
but no `alembic_version`: it is stamped with the revision that describes it
(`0001`) and migrated from there.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from projections import tables
from projections.db import EngineOrUrl, is_postgres, make_engine

log = logging.getLogger(__name__)

# Everything in the read-model database: the read models, tracking and relay, and the
# tamper-evident log (kept apart from the read models' metadata).
TARGET = (tables.metadata, tables.log_metadata)
BASELINE = "0001"  # the schema `tables.create_all` made
# A table every database made by `create_all` has.
BASELINE_TABLE = "rm_campaigns"


def config() -> Config:
    options = Config()
    options.set_main_option("script_location", "projections:migrations")
    return options


@cache
def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: EngineOrUrl) -> None:
    """Bring the read-model database at `url` to the newest revision."""
    engine = make_engine(url, writer=True)
    try:
        with engine.begin() as conn:
            if current(conn) == head():  # the usual case: one cheap query
                return
            _lock(conn)
            found = current(conn)
            if found == head():  # another process migrated it while we waited
                return
            options = config()
            options.attributes["connection"] = conn
            if found is None and sa.inspect(conn).has_table(BASELINE_TABLE):
                log.info("read models made before migrations: stamping %s", BASELINE)
                command.stamp(options, BASELINE)
            log.info("migrating the read models from %s to %s", found or "nothing", head())
            command.upgrade(options, "head")
    finally:
        if engine is not url:
            engine.dispose()


def _lock(conn: sa.Connection) -> None:
    """One migrating process per schema (SQLite: BEGIN IMMEDIATE already is)."""
    if not is_postgres(conn.engine):
        return
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    digest = hashlib.blake2b(f"crowdfund-read-models:{schema}".encode(), digest_size=8)
    key = int.from_bytes(digest.digest(), "big", signed=True)
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
