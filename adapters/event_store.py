"""The event store's adapters: which recorder and transcoder the eventsourcing
library uses for a database URL, and our recorders.

Our recorders are the library's, plus the two reads the application layer needs
beyond the library's interface (`application.unit_of_work.EventLogRecorder`): the
latest version of many streams in one query, and one stream's events with their
global positions (the library's `select_events` drops the notification id).

On PostgreSQL the recorder also inserts a batch with binary COPY: the library
inserts a batch as one array of a composite type, which psycopg escapes field by
field in Python (about 8 µs of CPU per event); COPY takes about 1.5 µs per event.
COPY cannot return the notification ids, so the transaction reserves them from
the table's own sequence after taking the library's table lock: nobody else can
insert meanwhile, so the ids still follow commit order. Table, lock, NOTIFY and
the returned ids are the library's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier, Literal
from sqlalchemy.engine import make_url
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from adapters.cipher import encode_keys

BEGIN = SQL("BEGIN")
COMMIT = SQL("COMMIT")

# A connection that broke or a server that restarted: the library's own retry policy.
_transient = retry(
    retry=retry_if_exception_type((InterfaceError, OperationalError)),
    stop=stop_after_attempt(10), wait=wait_fixed(0.2), reraise=True,
)


def eventsourcing_env(
    database_url: str, cipher_key: str | None = None,
    later_cipher_keys: dict[int, str] | None = None, keyring: str | None = None,
) -> dict[str, str]:
    """The eventsourcing library's environment for a database URL: `sqlite:///FILE`,
    `sqlite:///:memory:`, `memory://` (the library's in-memory store) or
    `postgresql://user:pass@host:port/db[?schema=NAME]`. With `cipher_key` (version 1)
    data is encrypted at rest, with the newest of `later_cipher_keys` when there are
    some (`adapters.cipher`)."""
    url = make_url(database_url)
    env: dict[str, str] = {}
    if url.drivername == "memory":
        env["PERSISTENCE_MODULE"] = f"{__name__}:MemoryFactory"
    elif url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=path,
            APPLICATION_RECORDER_TOPIC=f"{__name__}:SQLiteRecorder",
        )
    elif url.get_backend_name() == "postgresql":
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.database or "postgres",
            POSTGRES_HOST=url.host or "127.0.0.1",
            POSTGRES_PORT=str(url.port or 5432),
            POSTGRES_USER=url.username or "postgres",
            POSTGRES_PASSWORD=url.password or "",
            APPLICATION_RECORDER_TOPIC=f"{__name__}:CopyRecorder",
        )
        schema = url.query.get("schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema if isinstance(schema, str) else schema[-1]
    else:
        raise ValueError(
            "the database URL must start with sqlite:/// or postgresql://, "
            f"not {url.drivername}://"
        )
    if cipher_key:
        later = later_cipher_keys or {}
        env.update(CIPHER_TOPIC="adapters.cipher:VersionedCipher", CIPHER_KEY=cipher_key,
                   CIPHER_KEYS=encode_keys(later), CIPHER_ACTIVE_VERSION=str(max([1, *later])),
                   CIPHER_KEYRING=keyring or "")
    return env


# SQLite's default limit of host parameters in one statement is 999.
SQLITE_PARAMETERS = 900


def _chunks(positions: Sequence[int]) -> list[list[int]]:
    wanted = sorted({int(p) for p in positions})
    return [wanted[i:i + SQLITE_PARAMETERS] for i in range(0, len(wanted), SQLITE_PARAMETERS)]


def _as_uuid(stored: Any) -> UUID:
    return stored if isinstance(stored, UUID) else UUID(str(stored))


class SQLiteRecorder(SQLiteApplicationRecorder):
    def _key(self, originator_id: UUID) -> Any:
        return originator_id.hex if self.datastore.originator_id_type == "uuid" else str(
            originator_id
        )

    def latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        statement = (
            f"SELECT MAX(originator_version) AS v FROM {self.events_table_name} "
            "WHERE originator_id=?"
        )
        with self.datastore.transaction(commit=False) as cursor:
            for uid in originator_ids:
                cursor.execute(statement, [self._key(uid)])
                version = cursor.fetchone()["v"]
                if version is not None:
                    found[uid] = int(version)
        return found

    def stream_notifications(self, originator_id: UUID) -> list[Notification]:
        statement = (
            "SELECT rowid, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE originator_id=? ORDER BY originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [self._key(originator_id)])
            return [
                Notification(id=row["rowid"], originator_id=originator_id,
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"]))
                for row in cursor.fetchall()
            ]

    def notifications_at(self, positions: Sequence[int]) -> list[Notification]:
        found: list[Notification] = []
        with self.datastore.transaction(commit=False) as cursor:
            for chunk in _chunks(positions):
                cursor.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE rowid IN "
                    f"({','.join('?' * len(chunk))})", list(chunk),
                )
                found.extend(
                    Notification(id=row["rowid"], originator_id=_as_uuid(row["originator_id"]),
                                 originator_version=row["originator_version"],
                                 topic=row["topic"], state=bytes(row["state"]))
                    for row in cursor.fetchall()
                )
        return sorted(found, key=lambda n: n.id)


class MemoryRecorder(POPOApplicationRecorder):
    """The library's in-memory recorder (the fast test tier)."""

    def latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        for uid in originator_ids:
            last = self.select_events(uid, desc=True, limit=1)
            if last:
                found[uid] = last[0].originator_version
        return found

    def stream_notifications(self, originator_id: UUID) -> list[Notification]:
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            return [
                Notification(id=i + 1, originator_id=originator_id, originator_version=version,
                             topic=self._stored_events[i].topic,
                             state=self._stored_events[i].state)
                for version, i in sorted(index.items())
            ]

    def notifications_at(self, positions: Sequence[int]) -> list[Notification]:
        with self._database_lock:
            count = len(self._stored_events)
            found = []
            for position in sorted({int(p) for p in positions}):
                if 1 <= position <= count:
                    stored = self._stored_events[position - 1]
                    found.append(Notification(
                        id=position, originator_id=stored.originator_id,
                        originator_version=stored.originator_version, topic=stored.topic,
                        state=stored.state))
            return found


class MemoryFactory(POPOFactory):
    def application_recorder(self) -> MemoryRecorder:
        return MemoryRecorder()


class CopyRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        table = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        qualified = f'"{self.datastore.schema}"."{self.events_table_name}"'
        self.reserve_ids_statement = SQL(
            "SELECT nextval(pg_get_serial_sequence({qualified}, 'notification_id')) AS id "
            "FROM generate_series(1, %s)"
        ).format(qualified=Literal(qualified))
        self.copy_statement = SQL(
            "COPY {table} (originator_id, originator_version, topic, state, notification_id) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(table=table)
        self.latest_versions_statement = SQL(
            "SELECT ids.id, (SELECT max(originator_version) FROM {table} "
            "WHERE originator_id = ids.id) AS version FROM unnest(%s::{id_type}[]) AS ids(id)"
        ).format(table=table, id_type=Identifier(self.datastore.originator_id_type))
        self.copy_types = [self.datastore.originator_id_type, "int8", "text", "bytea", "int8"]
        self.stream_statement = SQL(
            "SELECT notification_id, originator_version, topic, state FROM {table} "
            "WHERE originator_id = %s ORDER BY originator_version"
        ).format(table=table)
        self.positions_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {table} WHERE notification_id = ANY(%s::int8[]) ORDER BY notification_id"
        ).format(table=table)

    @_transient
    def latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last version of each stream that has events, in one query (an index
        lookup per stream): how the application checks many cached copies at once."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.latest_versions_statement, (list(originator_ids),), prepare=True)
            return {row["id"]: row["version"] for row in curs.fetchall()
                    if row["version"] is not None}

    @_transient
    def stream_notifications(self, originator_id: UUID) -> list[Notification]:
        key: Any = originator_id if self.datastore.originator_id_type == "uuid" else str(
            originator_id
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.stream_statement, (key,), prepare=True)
            return [
                Notification(id=row["notification_id"], originator_id=originator_id,
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"]))
                for row in curs.fetchall()
            ]

    @_transient
    def notifications_at(self, positions: Sequence[int]) -> list[Notification]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.positions_statement, ([int(p) for p in positions],), prepare=True)
            return [
                Notification(id=row["notification_id"],
                             originator_id=_as_uuid(row["originator_id"]),
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"]))
                for row in curs.fetchall()
            ]

    @_transient
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None  # as the library's recorders answer
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                # One round trip for everything before the rows (COPY cannot be
                # pipelined); BEGIN and COMMIT by hand, as psycopg keeps a
                # transaction opened inside a pipeline in pipeline mode.
                with conn.pipeline():
                    curs.execute(BEGIN)
                    self._insert_events(curs, stored_events, **kwargs)
                    # Lock first: commit order = notification order, as in the library.
                    self._lock_table(curs)
                    self._notify_channel(curs)
                    curs.execute(self.reserve_ids_statement, (len(stored_events),), prepare=True)
                ids = sorted(row["id"] for row in curs.fetchall())
                with curs.copy(self.copy_statement) as copy:
                    copy.set_types(self.copy_types)
                    for event, notification_id in zip(stored_events, ids, strict=True):
                        copy.write_row((
                            event.originator_id, event.originator_version, event.topic,
                            event.state, notification_id,
                        ))
                curs.execute(COMMIT)
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                raise
        return ids
