"""What every read model is: a name, its tables and a function of events.

Events are applied to rows held in memory for the length of a batch
(`Batch`): each touched row is read at most once (models prefetch the keys a
batch needs in one query per table) and written back once at the end with
executemany. The result is exactly that of applying the events one by one,
with a handful of statements per batch instead of several per event.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa

from projections.envelope import EventRecord

Row = dict[str, Any]
Key = tuple[Any, ...]
LOAD_CHUNK = 500


class Rows:
    """The rows of one table that a batch touches, by primary key."""

    def __init__(self, conn: sa.Connection, table: sa.Table) -> None:
        self.conn = conn
        self.table = table
        self.pk = tuple(c.name for c in table.primary_key.columns)
        self._key = operator.itemgetter(*self.pk)
        self.rows: dict[Key, Row | None] = {}  # None: known not to exist
        self.original: dict[Key, Row | None] = {}

    def key_of(self, row: Row) -> Key:
        key = self._key(row)
        return key if len(self.pk) > 1 else (key,)

    def prefetch(self, keys: Iterable[Key]) -> None:
        missing = sorted({k for k in keys if k not in self.rows}, key=repr)
        columns = [self.table.c[c] for c in self.pk]
        for start in range(0, len(missing), LOAD_CHUNK):
            chunk = missing[start:start + LOAD_CHUNK]
            if len(columns) == 1:
                where = columns[0].in_([k[0] for k in chunk])
            else:
                where = sa.tuple_(*columns).in_(chunk)
            for found in self.conn.execute(sa.select(self.table).where(where)).mappings():
                row = dict(found)
                self.rows[self.key_of(row)] = row
                self.original[self.key_of(row)] = dict(row)
            for key in chunk:
                if key not in self.rows:
                    self.rows[key] = self.original[key] = None

    def get(self, *key: Any) -> Row | None:
        if key not in self.rows:
            self.prefetch([key])
        return self.rows[key]

    def require(self, *key: Any) -> Row:
        row = self.get(*key)
        if row is None:
            raise LookupError(f"{self.table.name} has no row {key}")
        return row

    def insert(self, row: Row) -> None:
        """A new row (unknown keys are assumed new; the flush fails if one is not)."""
        key = self.key_of(row)
        if self.rows.get(key) is not None:
            raise LookupError(f"{self.table.name} already has row {key}")
        self.original.setdefault(key, None)
        self.rows[key] = row

    def delete(self, *key: Any) -> None:
        self.require(*key)
        self.rows[key] = None

    def flush(self) -> None:
        deletes, inserts, updates = [], [], []
        for key, row in self.rows.items():
            before = self.original[key]
            if row is None and before is not None:
                deletes.append({f"k_{c}": v for c, v in zip(self.pk, key, strict=True)})
            elif row is not None and before is None:
                inserts.append(row)
            elif row is not None and row != before:
                params = {f"k_{c}": v for c, v in zip(self.pk, key, strict=True)}
                params.update({f"v_{c}": row[c] for c in _values(self.table)})
                updates.append(params)
        if deletes:
            self.conn.execute(_delete(self.table), deletes)
        if inserts:
            self.conn.execute(sa.insert(self.table), inserts)
        if updates:
            self.conn.execute(_update(self.table), updates)
        self.original = {k: None if r is None else dict(r) for k, r in self.rows.items()}


@cache
def _values(table: sa.Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if not c.primary_key)


def _where(table: sa.Table) -> list[Any]:
    return [c == sa.bindparam(f"k_{c.name}", type_=c.type) for c in table.primary_key.columns]


@cache
def _update(table: sa.Table) -> sa.Update:
    values = {c: sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in _values(table)}
    return sa.update(table).where(*_where(table)).values(values)


@cache
def _delete(table: sa.Table) -> sa.Delete:
    return sa.delete(table).where(*_where(table))


class Batch:
    """The rows a batch of events touches, table by table, inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._tables: dict[str, Rows] = {}

    def rows(self, table: sa.Table) -> Rows:
        rows = self._tables.get(table.name)
        if rows is None:
            rows = self._tables[table.name] = Rows(self.conn, table)
        return rows

    def flush(self) -> None:
        for rows in self._tables.values():
            rows.flush()


Apply = Callable[[Batch, EventRecord], None]
Prefetch = Callable[[Batch, Sequence[EventRecord]], None]
ApplyMany = Callable[[sa.Connection, Sequence[EventRecord]], None]


@dataclass(frozen=True)
class ReadModel:
    name: str
    tables: tuple[sa.Table, ...]
    # Event types it reacts to; None means every event.
    handles: frozenset[str] | None
    # One event at a time, in log order, against the batch's rows ...
    apply: Apply | None = None
    # ... after loading, in one query per table, the rows the batch will touch;
    prefetch: Prefetch | None = None
    # or a whole batch at once (insert-only models).
    apply_many: ApplyMany | None = None

    def wants(self, event_type: str) -> bool:
        return self.handles is None or event_type in self.handles


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def maybe_instant(value: Any) -> datetime | None:
    return None if value is None else instant(value)
