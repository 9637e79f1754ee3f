"""The relay (`crowdfund worker relay`): the event store's log, in order, onto Kafka.

One message per event: key = stream id, value = the runtime.md envelope without
personal data, partition = murmur2(key) % partitions (Kafka's default, chosen
here so the projections can compute it too). After the broker acknowledged a
batch, the relay records in the read-model database how far it got and, per
partition, the last position it published there. A crash between the two
re-publishes the batch (at least once; the projections deduplicate).

The embedded broker silently accepts produce requests for a topic it lost in a
restart, so the relay checks that the topic exists before every batch and
re-creates it (`ensure_topic`) when it is gone. Anything lost in between is
recovered by the projections from the event store (see docs/projections.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import Engine

from adapters import kafka
from projections import schema
from projections import tables as t
from projections.db import make_engine
from projections.envelope import encode_bounded, partition_for, to_message
from projections.projector import EventLog
from workers.running import KafkaTopic, TopicMissing, keep_running, pause

log = logging.getLogger(__name__)

BATCH = 1000
IDLE_POLL = (0.005, 0.05)  # seconds: the store is polled faster right after activity


@dataclass
class RelayState:
    """How far the relay got: positions <= published are acknowledged by the broker."""

    partitions: int
    published: int = 0
    last: dict[int, int] = field(default_factory=dict)


def load_state(engine: Engine, topic: str, partitions: int) -> RelayState:
    """The recorded progress; a partition-count change keeps `published` and marks
    every partition's last position as `published` (a safe over-estimate)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.relay_progress).where(t.relay_progress.c.topic == topic)
        ).first()
        last = dict(
            conn.execute(
                sa.select(t.relay_partitions.c.partition, t.relay_partitions.c.last_position).where(
                    t.relay_partitions.c.topic == topic
                )
            ).all()
        )
    if row is None:
        return RelayState(partitions)
    if row.partitions != partitions:
        log.warning("topic %s went from %d to %d partitions", topic, row.partitions, partitions)
        return RelayState(
            partitions, int(row.published), {i: int(row.published) for i in range(partitions)}
        )
    return RelayState(partitions, int(row.published), {int(k): int(v) for k, v in last.items()})


def save_state(engine: Engine, topic: str, state: RelayState, changed: Sequence[int]) -> None:
    """Record progress in one transaction; never moves backwards (two relays may race)."""
    progress, parts = t.relay_progress.c, t.relay_partitions.c
    with engine.begin() as conn:
        current = conn.execute(
            sa.select(progress.partitions, progress.published).where(progress.topic == topic)
        ).first()
        if current is None:
            conn.execute(
                sa.insert(t.relay_progress).values(
                    topic=topic, partitions=state.partitions, published=state.published
                )
            )
        elif current.partitions != state.partitions:
            conn.execute(
                sa.update(t.relay_progress)
                .where(progress.topic == topic)
                .values(
                    partitions=state.partitions, published=max(state.published, current.published)
                )
            )
            conn.execute(sa.delete(t.relay_partitions).where(parts.topic == topic))
            changed = sorted(state.last)
        elif state.published > current.published:
            conn.execute(
                sa.update(t.relay_progress)
                .where(progress.topic == topic)
                .values(published=state.published)
            )
        for partition in changed:
            position = state.last[partition]
            done = conn.execute(
                sa.update(t.relay_partitions)
                .where(
                    parts.topic == topic,
                    parts.partition == partition,
                    parts.last_position < position,
                )
                .values(last_position=position)
            )
            if (
                done.rowcount == 0
                and conn.execute(
                    sa.select(parts.last_position).where(
                        parts.topic == topic, parts.partition == partition
                    )
                ).first()
                is None
            ):
                conn.execute(
                    sa.insert(t.relay_partitions).values(
                        topic=topic, partition=partition, last_position=position
                    )
                )


class Relay:
    def __init__(
        self, engine: Engine, log_: EventLog, topic: KafkaTopic, batch: int = BATCH
    ) -> None:
        self.engine = engine
        self.log = log_
        self.topic = topic.name
        self.wanted_partitions = topic.partitions
        self.bootstrap = topic.bootstrap
        self.batch = batch
        self.producer: AIOKafkaProducer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.state = RelayState(topic.partitions)
        self.published_events = 0

    async def connect(self) -> None:
        await kafka.ensure_topic(self.bootstrap, self.topic, self.wanted_partitions)
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="crowdfund-relay-admin"
        )
        await self.admin.start()
        count = await self.partition_count()
        self.producer = kafka.producer(self.bootstrap)
        await self.producer.start()
        self.state = await asyncio.to_thread(load_state, self.engine, self.topic, count)
        log.info(
            "relay publishing to %s (%d partitions) after position %d",
            self.topic,
            count,
            self.state.published,
        )

    async def disconnect(self) -> None:
        producer, admin, self.producer, self.admin = self.producer, self.admin, None, None
        if producer is not None:
            await kafka.close_quietly(producer.stop(), "relay producer")
        if admin is not None:
            await kafka.close_quietly(admin.close(), "relay admin client")

    async def partition_count(self) -> int:
        assert self.admin is not None
        for entry in await self.admin.describe_topics([self.topic]):
            if entry["topic"] == self.topic and entry["error_code"] == 0 and entry["partitions"]:
                return len(entry["partitions"])
        raise TopicMissing(f"topic {self.topic} does not exist")

    async def pump(self, stop: asyncio.Event) -> None:
        """Publish until `stop`; raises on broker trouble (the caller reconnects)."""
        idle = IDLE_POLL[0]
        while not stop.is_set():
            notes = await asyncio.to_thread(self.log.read, self.state.published, self.batch, None)
            if not notes:
                await pause(stop, idle)
                idle = min(idle * 2, IDLE_POLL[1])
                continue
            idle = IDLE_POLL[0]
            if await self.partition_count() != self.state.partitions:
                raise TopicMissing("the topic changed its partition count")
            await self.publish(notes)

    async def publish(self, notes: Sequence[Any]) -> None:
        assert self.producer is not None
        records = await asyncio.to_thread(lambda: [self.log.record(n) for n in notes])
        state = self.state
        last = dict(state.last)
        sends = []
        for record in records:
            partition = partition_for(record.stream_id, state.partitions)
            message = to_message(record, state.partitions, last.get(partition, 0))
            last[partition] = record.position
            sends.append(
                await self.producer.send(
                    self.topic,
                    encode_bounded(message),
                    key=record.stream_id.encode(),
                    partition=partition,
                )
            )
        await asyncio.gather(*sends)  # every message acknowledged (acks=all) before recording
        changed = [p for p, pos in last.items() if state.last.get(p) != pos]
        new = RelayState(state.partitions, notes[-1].id, last)
        await asyncio.to_thread(save_state, self.engine, self.topic, new, changed)
        self.state = new
        self.published_events += len(records)


async def run_relay(
    read_model_url: str, log_: EventLog, topic: KafkaTopic, stop: asyncio.Event,
    *, batch: int = BATCH,
) -> None:
    """Relay the event log to `topic` until `stop` is set, reconnecting after trouble."""
    engine = make_engine(read_model_url, writer=True)
    await asyncio.to_thread(schema.upgrade, engine)
    relay = Relay(engine, log_, topic, batch)

    async def attempt() -> None:
        try:
            await relay.connect()
            await relay.pump(stop)
        finally:
            await relay.disconnect()

    try:
        await keep_running(stop, "relay", attempt)
    finally:
        engine.dispose()
