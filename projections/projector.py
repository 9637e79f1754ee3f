"""Applying events to the read models exactly once.

A `Projector` serves one consumer group (`projections.consumers.Consumer`) and
touches only that consumer's models and tracking rows.

Tracking: for every partition `i` of the topic, the consumer's row
`consumer_tracking(consumer, i).applied` is a watermark W with the invariant "the
events of partition i applied to the consumer's models are exactly those with
position <= W". It changes in the same transaction as the rows, under a row
lock, so concurrent workers (a rebalance, a catch-up racing a consumer)
serialise per partition and a redelivered or replayed event (position <= W) is
skipped.

A Kafka message carries `partitionPrev`, an upper bound of the position of the
previous event in its partition. If that is > W, some events of the partition
never reached us (lost by a broker restart, skipped offsets): they are read
from the event store (`catch_up`) before the message is applied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

import sqlalchemy as sa
from eventsourcing.persistence import Notification
from sqlalchemy.engine import Engine

from projections import schema
from projections import tables as t
from projections.consumers import PROJECTIONS, Consumer
from projections.db import EngineOrUrl, is_postgres, make_engine
from projections.envelope import EventRecord, Message, partition_for
from projections.models import ReadModel
from projections.models.base import Batch

log = logging.getLogger(__name__)

CHUNK = 1000


class EventLog(Protocol):
    """The event store's global log, as the projections read it."""

    def read(self, after: int, limit: int, upto: int | None) -> Sequence[Notification]: ...

    def head(self) -> int: ...

    def record(self, notification: Notification) -> EventRecord: ...


class PartitionCountChanged(Exception):
    """A message was published for another partition count than the tracking uses."""

    def __init__(self, partitions: int) -> None:
        super().__init__(f"the topic now has {partitions} partitions")
        self.partitions = partitions


@dataclass
class Gap:
    """Events of `partition` up to `upto` are missing before `rest` can be applied."""

    partition: int
    upto: int
    rest: list[Message] = field(default_factory=list)


@dataclass
class BatchResult:
    applied: int = 0
    skipped: int = 0
    gaps: list[Gap] = field(default_factory=list)


def apply_records(
    conn: sa.Connection, records: Iterable[EventRecord], models: Sequence[ReadModel]
) -> int:
    """Apply events (in log order per stream) to the models, inside the caller's
    transaction: rows are loaded once per batch and written back once."""
    events = list(records)
    batch = Batch(conn)
    for model in models:
        if model.prefetch is not None:
            chosen = [r for r in events if model.wants(r.type)]
            if chosen:
                model.prefetch(batch, chosen)
    for record in events:
        for model in models:
            if model.apply is not None and model.wants(record.type):
                model.apply(batch, record)
    batch.flush()
    for model in models:
        if model.apply_many is not None:
            chosen = [r for r in events if model.wants(r.type)]
            if chosen:
                model.apply_many(conn, chosen)
    return len(events)


class Projector:
    def __init__(
        self, engine: EngineOrUrl, consumer: Consumer = PROJECTIONS,
        *, models: Sequence[ReadModel] | None = None,
    ) -> None:
        schema.upgrade(engine)
        self.engine: Engine = make_engine(engine, writer=True)
        self.consumer = consumer
        # A rebuild of one model replays into that model alone.
        self.models = tuple(consumer.models if models is None else models)

    # Tracking -------------------------------------------------------------------------

    @property
    def _mine(self) -> sa.ColumnElement[bool]:
        return t.tracking.c.consumer == self.consumer.name

    def _rows(self, partitions: int, applied: int) -> list[dict[str, Any]]:
        return [{"consumer": self.consumer.name, "partition": i, "partitions": partitions,
                 "applied": applied} for i in range(partitions)]

    def tracking(self) -> dict[int, int]:
        """partition -> watermark (empty before the first start)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.tracking.c.partition, t.tracking.c.applied).where(self._mine))
            return {r.partition: int(r.applied) for r in rows}

    def partition_count(self) -> int | None:
        with self.engine.connect() as conn:
            return self.tracked_partitions(conn)

    def init_tracking(self, partitions: int) -> int:
        """Create the tracking rows if absent; the partition count in use."""
        try:
            with self.engine.begin() as conn:
                counts = set(conn.execute(
                    sa.select(t.tracking.c.partitions).where(self._mine)).scalars())
                if not counts:
                    conn.execute(sa.insert(t.tracking), self._rows(partitions, 0))
                    return partitions
        except sa.exc.IntegrityError:  # another worker created them first
            return self.partition_count() or -1
        return counts.pop() if len(counts) == 1 else -1

    def start_tracking(self, conn: sa.Connection, partitions: int, applied: int) -> None:
        """Replace the consumer's tracking rows (inside the caller's transaction)."""
        conn.execute(sa.delete(t.tracking).where(self._mine))
        conn.execute(sa.insert(t.tracking), self._rows(partitions, applied))

    def lock_tracking(
        self, conn: sa.Connection, partitions: Iterable[int] | None
    ) -> dict[int, int]:
        query = sa.select(t.tracking.c.partition, t.tracking.c.applied).where(
            self._mine).order_by(t.tracking.c.partition)
        if partitions is not None:
            query = query.where(t.tracking.c.partition.in_(sorted(set(partitions))))
        if is_postgres(self.engine):
            query = query.with_for_update()  # SQLite: BEGIN IMMEDIATE already serialises
        return {r.partition: int(r.applied) for r in conn.execute(query)}

    def _advance(self, conn: sa.Connection, changed: dict[int, int]) -> None:
        for partition, applied in changed.items():
            conn.execute(
                sa.update(t.tracking)
                .where(self._mine, t.tracking.c.partition == partition)
                .values(applied=applied)
            )

    # The Kafka group ---------------------------------------------------------------------

    def kafka_group(self, default: str) -> str:
        """The Kafka consumer group the consumer's workers join: `default`, until a
        stuck one was replaced (`replace_kafka_group`)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(t.consumer_groups.c.kafka_group).where(
                t.consumer_groups.c.consumer == self.consumer.name)).scalar_one_or_none()
        return found or default

    def replace_kafka_group(self, stuck: str, default: str) -> str:
        """Move the consumer's workers off the Kafka group `stuck` to a new one, unless
        another worker did already; the group to join now."""
        groups = t.consumer_groups
        try:
            with self.engine.begin() as conn:
                query = sa.select(groups.c.kafka_group).where(
                    groups.c.consumer == self.consumer.name)
                if is_postgres(self.engine):
                    query = query.with_for_update()
                current = conn.execute(query).scalar_one_or_none()
                if (current or default) != stuck:
                    return current or default
                fresh = f"{default}.{uuid4().hex[:8]}"
                if current is None:
                    conn.execute(sa.insert(groups).values(
                        consumer=self.consumer.name, kafka_group=fresh))
                else:
                    conn.execute(sa.update(groups).where(
                        groups.c.consumer == self.consumer.name).values(kafka_group=fresh))
                return fresh
        except sa.exc.IntegrityError:  # another worker recorded one first: follow it
            return self.kafka_group(default)

    # From Kafka -----------------------------------------------------------------------

    def apply_messages(self, batch: dict[int, list[Message]], partitions: int) -> BatchResult:
        """Apply messages (per partition, in offset order) in one transaction.

        Stops a partition at the first message whose predecessor is missing and
        returns it as a `Gap` for the caller to `catch_up` and retry.
        """
        result = BatchResult()
        if any(m.partitions != partitions for ms in batch.values() for m in ms):
            other = next(m.partitions for ms in batch.values() for m in ms
                         if m.partitions != partitions)
            raise PartitionCountChanged(other)
        with self.engine.begin() as conn:
            watermarks = self.lock_tracking(conn, batch)
            changed: dict[int, int] = {}
            accepted: list[EventRecord] = []
            for partition, messages in sorted(batch.items()):
                if partition not in watermarks:
                    raise PartitionCountChanged(partitions)
                mark = watermarks[partition]
                for index, message in enumerate(messages):
                    position = message.record.position
                    if position <= mark:
                        result.skipped += 1
                        continue
                    if message.partition_prev > mark:
                        result.gaps.append(
                            Gap(partition, message.partition_prev, list(messages[index:]))
                        )
                        break
                    accepted.append(message.record)
                    mark = position
                if mark != watermarks[partition]:
                    changed[partition] = mark
            # In log order: every stream's order is kept, and a consumer that reads a
            # row of another stream (the notifier names a pledge's campaign) sees it as
            # of the event whenever both partitions are in the batch or before it.
            accepted.sort(key=lambda record: record.position)
            result.applied = apply_records(conn, accepted, self.models)
            self._advance(conn, changed)
        return result

    # From the event store -------------------------------------------------------------

    def catch_up(
        self, log_: EventLog, partitions: Iterable[int], count: int, upto: int
    ) -> int:
        """Apply, from the event store, every event of `partitions` with position <= upto
        that is not applied yet; afterwards each watermark is >= upto. Returns how many.

        `upto` must be a position already committed to the store (published by the
        relay, or read as the head): the store has no late-filled gaps, so reading
        up to it sees every event below it.
        """
        wanted = set(partitions)
        marks = self.tracking()
        start = min((marks.get(p, 0) for p in wanted), default=upto)
        applied = 0
        while start < upto:
            notes = log_.read(start, CHUNK, upto)
            end = notes[-1].id if len(notes) >= CHUNK else upto
            records = []
            for note in notes:  # decode only what this catch-up still needs
                partition = partition_for(str(note.originator_id), count)
                if partition in wanted and note.id > marks.get(partition, 0):
                    records.append(log_.record(note))
            with self.engine.begin() as conn:
                marks = self.lock_tracking(conn, wanted)
                fresh = [
                    r for r in records if r.position > marks[partition_for(r.stream_id, count)]
                ]
                applied += apply_records(conn, fresh, self.models)
                self._advance(conn, {p: end for p, mark in marks.items() if mark < end})
            marks = {p: max(m, end) for p, m in marks.items()}
            start = end
        if applied:
            log.info("caught up %d events of partitions %s from the event store up to %d",
                     applied, sorted(wanted), upto)
        return applied

    def normalise(self, log_: EventLog, partitions: int) -> int:
        """Switch the tracking to a new partition count.

        Under the old count, apply everything up to the head (the applied set
        becomes the prefix "<= head" of the whole log, whatever the
        partitioning), then record that prefix for each new partition. One
        transaction holding every tracking row: rare, and no worker races it.
        """
        with self.engine.begin() as conn:
            marks = self.lock_tracking(conn, None)
            old = self.tracked_partitions(conn)
            head = 0
            if marks and old == partitions:
                return partitions
            if marks:
                if old is None or set(marks) != set(range(old)):
                    raise RuntimeError("inconsistent projection tracking; run a rebuild")
                head = log_.head()
                applied = self.replay(conn, log_, head, lambda r: r.position > marks[
                    partition_for(r.stream_id, old)])
                log.info("applied %d events while moving from %d to %d partitions",
                         applied, old, partitions)
            self.start_tracking(conn, partitions, head)
        return partitions

    def tracked_partitions(self, conn: sa.Connection) -> int | None:
        counts = set(conn.execute(sa.select(t.tracking.c.partitions).where(self._mine)).scalars())
        return counts.pop() if len(counts) == 1 else None

    def replay(
        self, conn: sa.Connection, log_: EventLog, upto: int, keep: Any,
        models: Sequence[ReadModel] | None = None,
    ) -> int:
        """Apply events <= upto that `keep` accepts, inside the caller's transaction."""
        start, applied = 0, 0
        while start < upto:
            notes = log_.read(start, CHUNK, upto)
            if not notes:
                break
            records = [r for r in (log_.record(n) for n in notes) if keep(r)]
            applied += apply_records(conn, records, models or self.models)
            start = notes[-1].id
        return applied
