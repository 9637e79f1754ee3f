"""Our event store recorders keep the eventsourcing library's contracts: the
library's own conformance suites (`eventsourcing.tests.persistence`) run against
`CopyRecorder` on PostgreSQL, `SQLiteRecorder` and `MemoryRecorder`.

The aggregate-recorder suite is the library's contract for recorders whose
`insert_events` answers None (its own `PostgresApplicationRecorder` fails that
suite's first insert too, answering the ids): our recorders are application
recorders, so there they are seen as aggregate recorders (`AsAggregateRecorder`:
the same object, its answer to `insert_events` dropped); the application suite
checks the ids they answer.

Each test gets an empty events table (PostgreSQL: a fresh schema, dropped
afterwards; SQLite: a fresh file), as the suites expect notification ids from 1.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    StoredEvent,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)
from sqlalchemy.engine import make_url

from adapters.event_store import CopyRecorder, MemoryRecorder, SQLiteRecorder
from tests.conftest import POSTGRES_URL


class AsAggregateRecorder(AggregateRecorder):
    """An application recorder through the aggregate recorder's interface."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        self.recorder.insert_events(stored_events, **kwargs)

    def select_events(
        self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
        desc: bool = False, limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        return self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)


class Aggregate:
    def create_recorder(self) -> AggregateRecorder:
        return AsAggregateRecorder(super().create_recorder())  # type: ignore[misc]


class OnPostgres:
    """A fresh schema per test, and `CopyRecorder`s on it."""

    datastores: list[PostgresDatastore]

    def setUp(self) -> None:
        self.schema = f"t_{uuid.uuid4().hex}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')  # type: ignore[call-overload]
        self.datastores = []

    def tearDown(self) -> None:
        for datastore in self.datastores:
            datastore.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')  # type: ignore[call-overload]

    def create_recorder(self) -> CopyRecorder:
        url = make_url(POSTGRES_URL)
        datastore = PostgresDatastore(
            dbname=url.database or "test", host=url.host or "127.0.0.1",
            port=url.port or 5432, user=url.username or "postgres",
            password=url.password or "", schema=self.schema, pool_size=4, max_overflow=12,
        )
        self.datastores.append(datastore)
        recorder = CopyRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        return recorder


class OnSQLite:
    """A fresh database file per test, and `SQLiteRecorder`s on it."""

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="recorder-"))

    def tearDown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def create_recorder(self) -> SQLiteRecorder:
        datastore = SQLiteDatastore(str(self.directory / "events.db"))
        recorder = SQLiteRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        return recorder


class InMemory:
    def create_recorder(self) -> MemoryRecorder:
        return MemoryRecorder()


@pytest.mark.postgres
class TestCopyRecorderAsAggregateRecorder(Aggregate, OnPostgres, AggregateRecorderTestCase):
    pass


@pytest.mark.postgres
class TestCopyRecorderAsApplicationRecorder(OnPostgres, ApplicationRecorderTestCase):
    pass


@pytest.mark.postgres
class TestCopyRecorderNeverInterleavesIds(OnPostgres, NonInterleavingNotificationIDsBaseCase):
    pass


class TestSQLiteRecorderAsAggregateRecorder(Aggregate, OnSQLite, AggregateRecorderTestCase):
    pass


class TestSQLiteRecorderAsApplicationRecorder(OnSQLite, ApplicationRecorderTestCase):
    pass


class TestSQLiteRecorderNeverInterleavesIds(OnSQLite, NonInterleavingNotificationIDsBaseCase):
    pass


class TestMemoryRecorderAsAggregateRecorder(Aggregate, InMemory, AggregateRecorderTestCase):
    pass


class TestMemoryRecorderAsApplicationRecorder(InMemory, ApplicationRecorderTestCase):
    pass


class TestMemoryRecorderNeverInterleavesIds(InMemory, NonInterleavingNotificationIDsBaseCase):
    pass
