"""The read-model schema comes from migrations: it equals `tables.metadata`, an old
database made by `create_all` is recognised and migrated, concurrent starts are safe."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crowdfund.bootstrap import read_model_url
from crowdfund.settings import Settings
from projections import schema
from projections import tables as t
from projections.db import make_engine
from tests.conftest import Store


@pytest.fixture
def url(store: Store, tmp_path: Path) -> str:
    return read_model_url(Settings(database_url=store.url, data_dir=tmp_path))


def differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, list(schema.TARGET)))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return schema.current(conn)
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_tables(url: str) -> None:
    schema.upgrade(url)
    assert revision(url) == schema.head()
    assert differences(url) == []
    schema.upgrade(url)  # at head: nothing to do
    assert revision(url) == schema.head()


def test_a_database_made_before_migrations_is_stamped_and_keeps_its_data(url: str) -> None:
    # What `tables.create_all` made: the baseline's tables, no alembic_version.
    engine = make_engine(url, writer=True)
    with engine.begin() as conn:
        options = schema.config()
        options.attributes["connection"] = conn
        command.upgrade(options, schema.BASELINE)
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text(
            "INSERT INTO proj_tracking (partition, partitions, applied) "
            "VALUES (0, 2, 17), (1, 2, 23)"))
        conn.execute(sa.text(
            "INSERT INTO relay_progress (topic, partitions, published) VALUES ('t', 2, 23)"))
    engine.dispose()
    assert revision(url) is None

    schema.upgrade(url)
    assert revision(url) == schema.head()
    assert differences(url) == []
    engine = make_engine(url)
    with engine.connect() as conn:
        tracked = conn.execute(sa.select(t.tracking).order_by(t.tracking.c.partition)).all()
        relay = conn.execute(sa.select(t.relay_progress)).all()
    engine.dispose()
    assert [tuple(r) for r in tracked] == [("projections", 0, 2, 17), ("projections", 1, 2, 23)]
    assert [tuple(r) for r in relay] == [("t", 2, 23)]


def test_processes_starting_together_on_a_new_database(url: str) -> None:
    starting = threading.Barrier(6)
    failures: list[BaseException] = []

    def start() -> None:
        starting.wait()
        try:
            schema.upgrade(url)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert revision(url) == schema.head() and differences(url) == []
