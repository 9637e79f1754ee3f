"""The projection worker (`crowdfund worker NAME`): Kafka -> one consumer's read models.

It runs one consumer group (`projections.consumers`): the projections the API
reads, or any other consumer with read models and tracking of its own. Several
processes share the topic's partitions as one Kafka consumer group. Each
batch is applied in one database transaction that also advances the
partitions' watermarks (projections.projector); offsets are committed to
Kafka afterwards and are only a hint: the watermarks decide what is applied.

Catch-up from the event store happens when
- a message's `partitionPrev` is above the partition's watermark (a gap:
  messages lost by a broker restart, or offsets skipped);
- an assigned partition sits idle below the last position the relay
  published to it (its last messages were lost);
- the broker is unreachable: every partition is caught up to the head, so the
  read models keep up without Kafka (safe: watermarks are locked per row).

A Kafka group that never finishes a rebalance while the broker answers (the
embedded broker can keep a member that left as the group's leader: every new
member waits for that leader's assignment forever) is replaced: after
`STALL_AFTER` seconds without an assignment the worker records a fresh group id
for its consumer in the read-model database, reads the store meanwhile, and
joins the new group; its other workers see the record and follow. A group that
settled on assigning nothing (it rebalanced while a restarted broker had no
topic yet) is joined again by a worker without partitions once partitions have
lagged the relay for `STALL_AFTER` seconds with no watermark moving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from adapters import kafka
from projections import tables as t
from projections.consumers import PROJECTIONS, Consumer
from projections.envelope import Message, decode, partition_for
from projections.projector import EventLog, PartitionCountChanged, Projector
from workers.running import KafkaTopic, Rejoin, keep_running

log = logging.getLogger(__name__)

IDLE_GRACE = 1.0  # seconds a partition may lag the relay before we read the store
IDLE_CHECK = 0.5
POLL_LIMIT = 1.0  # seconds a poll may wait for a rebalance before the loop looks around
# Seconds a rebalance may last before the group counts as stuck: a join waits at most
# a session timeout for members that died plus a rebalance timeout (6 s each).
STALL_AFTER = 20.0


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: ProjectionWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # A rebalance begins (or the first join). Let the batch in flight finish
        # before another member takes its partitions.
        self.worker.joining_since = self.worker.joining_since or time.monotonic()
        async with self.worker.lock:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.joining_since = None  # joined, even with no partition for us
        log.info("assigned partitions %s", sorted(tp.partition for tp in assigned))


class ProjectionWorker:
    def __init__(
        self,
        read_model_url: str,
        log_: EventLog,
        topic: KafkaTopic,
        *,
        consumer: Consumer = PROJECTIONS,
        group: str | None = None,
        idle_grace: float = IDLE_GRACE,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self.kafka_topic = topic
        self.topic = topic.name
        self.log = log_
        self.bootstrap = topic.bootstrap
        self.consumer = consumer
        self.group = group or consumer.group
        self.kafka_group = self.group  # the one joined: `group`, or its replacement
        self.idle_grace = idle_grace
        self.stall_after = stall_after
        self.joining_since: float | None = None
        # (applied events, since when) while nobody applies lagging partitions
        self.unserved_since: tuple[int, float] | None = None
        self.projector = Projector(read_model_url, consumer)
        self.count = 0
        self.lock = asyncio.Lock()
        self.applied_events = 0
        self.assigned: frozenset[int] = frozenset()
        # partition -> (watermark, since when it has lagged the relay at that watermark)
        self._lagging: dict[int, tuple[int, float]] = {}

    # Setup ---------------------------------------------------------------------------

    async def _prepare(self) -> AIOKafkaConsumer:
        await kafka.ensure_topic(self.bootstrap, self.topic, self.kafka_topic.partitions)
        count = await kafka.topic_partitions(self.bootstrap, self.topic)
        if count is None:
            raise kafka.TopicError(f"topic {self.topic} vanished")
        await asyncio.to_thread(self._use_count, count)
        self.kafka_group = await asyncio.to_thread(self.projector.kafka_group, self.group)
        return kafka.consumer(self.bootstrap, self.kafka_group)

    async def _join(self, consumer: AIOKafkaConsumer) -> None:
        """Start, then subscribe: a consumer subscribed before `start()` waits inside
        it until the group assigns its partitions, where neither a stop nor a stuck
        group is noticed."""
        await consumer.start()
        self.joining_since = time.monotonic()
        consumer.subscribe([self.topic], listener=_Listener(self))

    def _use_count(self, partitions: int) -> None:
        current = self.projector.init_tracking(partitions)
        if current != partitions:
            self.projector.normalise(self.log, partitions)
        self.count = partitions

    # The loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        async def attempt() -> None:
            consumer: AIOKafkaConsumer | None = None
            try:
                consumer = await self._prepare()
                await self._join(consumer)
                await self._consume(consumer, stop)
            finally:
                self.assigned = frozenset()
                if consumer is not None:
                    await kafka.close_quietly(consumer.stop(), f"{self.consumer.name} consumer")

        await keep_running(stop, self.consumer.name, attempt, while_down=self._degraded)

    async def _degraded(self) -> None:
        """No broker: keep the read models current straight from the event store."""
        count: int | None = self.count
        if not count:
            count = await asyncio.to_thread(self.projector.partition_count)
        if count:
            head = await asyncio.to_thread(self.log.head)
            await asyncio.to_thread(self.projector.catch_up, self.log, range(count), count, head)

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        next_check = time.monotonic() + IDLE_CHECK
        while not stop.is_set():
            batch = await self._poll(consumer)
            self.assigned = frozenset(tp.partition for tp in consumer.assignment())
            if batch:
                async with self.lock:
                    await asyncio.to_thread(self._process, batch)
                    await self._commit(consumer, batch)
            if time.monotonic() >= next_check:
                async with self.lock:
                    await asyncio.to_thread(self._check_idle, set(self.assigned))
                await self._check_group()
                next_check = time.monotonic() + IDLE_CHECK

    @staticmethod
    async def _poll(consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """The next batch; none while a rebalance is in progress (aiokafka's getmany
        waits for its end, however long, where a stop would go unnoticed)."""
        try:
            return await asyncio.wait_for(
                consumer.getmany(timeout_ms=100, max_records=2000), POLL_LIMIT)
        except TimeoutError:
            return {}

    async def _check_group(self) -> None:
        """Follow the consumer's workers to another group; rejoin a group that serves
        nobody; leave a stuck one."""
        recorded = await asyncio.to_thread(self.projector.kafka_group, self.group)
        if recorded != self.kafka_group:
            raise Rejoin(f"the workers of {self.consumer.name} moved to group {recorded}")
        unserved = self.unserved_since
        if unserved is not None and time.monotonic() - unserved[1] >= self.stall_after:
            self.unserved_since = None
            raise Rejoin(f"partitions lag the relay and nobody in group {self.kafka_group} "
                         "applies them: joining it again")
        since = self.joining_since
        if since is None or time.monotonic() - since < self.stall_after:
            return
        # Only when the broker answers: without one nothing joins, and keep_running
        # reads the store meanwhile.
        if await kafka.topic_partitions(self.bootstrap, self.topic) is None:
            raise kafka.TopicError(f"topic {self.topic} vanished")
        fresh = await asyncio.to_thread(
            self.projector.replace_kafka_group, self.kafka_group, self.group)
        log.warning("no partitions assigned in %.0fs although the broker answers: Kafka group "
                    "%s is stuck; moving to %s", time.monotonic() - since, self.kafka_group, fresh)
        raise Rejoin(f"group {self.kafka_group} is stuck")

    async def _commit(self, consumer: AIOKafkaConsumer, batch: dict[Any, list[Any]]) -> None:
        offsets = {tp: OffsetAndMetadata(ms[-1].offset + 1, "") for tp, ms in batch.items() if ms}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance or a restarted broker: the watermarks rule
            log.info("offset commit skipped: %s", exc)

    # Applying (in a worker thread) ---------------------------------------------------

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        messages: list[Message] = []
        for records in batch.values():
            for raw in records:
                try:
                    messages.append(decode(raw.value))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("skipping an undecodable message at %s: %s", raw.offset, exc)
        messages = self._completed(messages)
        for _attempt in range(3):
            try:
                self._apply(messages)
                return
            except PartitionCountChanged:  # another worker switched the tracking
                self.count = self.projector.partition_count() or self.count
        raise RuntimeError("the projection tracking keeps changing its partition count")

    def _completed(self, messages: list[Message]) -> list[Message]:
        """Messages whose payload the relay left out get the event from the store."""
        if all(m.complete for m in messages):
            return messages
        done = []
        for message in messages:
            if not message.complete:
                position = message.record.position
                (note,) = self.log.read(position - 1, 1, position)
                message = replace(message, record=self.log.record(note), complete=True)
            done.append(message)
        return done

    def _apply(self, messages: list[Message]) -> None:
        pending: dict[int, list[Message]] = defaultdict(list)
        for message in messages:
            if message.partitions != self.count:
                self._other_count(message.partitions)
                if message.partitions != self.count:
                    continue  # stale: published before a partition-count change
            pending[partition_for(message.record.stream_id, self.count)].append(message)
        while pending:
            result = self.projector.apply_messages(dict(pending), self.count)
            self.applied_events += result.applied
            pending = defaultdict(list)
            for gap in result.gaps:
                self.projector.catch_up(self.log, {gap.partition}, self.count, gap.upto)
                pending[gap.partition] = gap.rest

    def _other_count(self, partitions: int) -> None:
        """A message for another partition count: switch if the topic really changed."""
        with self.projector.engine.connect() as conn:
            relay = conn.execute(
                sa.select(t.relay_progress.c.partitions).where(
                    t.relay_progress.c.topic == self.topic
                )
            ).scalar_one_or_none()
        if relay == partitions:
            log.warning("the topic now has %d partitions (was %d)", partitions, self.count)
            self.projector.normalise(self.log, partitions)
            self.count = partitions

    def _check_idle(self, assigned: set[int]) -> None:
        """Catch up assigned partitions that lag the relay with no message coming;
        with none assigned, note whether the group leaves partitions unserved."""
        if not self.count:
            return
        with self.projector.engine.connect() as conn:
            relay = conn.execute(
                sa.select(t.relay_progress.c.partitions).where(
                    t.relay_progress.c.topic == self.topic
                )
            ).scalar_one_or_none()
            last = dict(
                conn.execute(
                    sa.select(
                        t.relay_partitions.c.partition, t.relay_partitions.c.last_position
                    ).where(t.relay_partitions.c.topic == self.topic)
                ).all()
            )
        if relay != self.count:
            return
        marks = self.projector.tracking()
        now = time.monotonic()
        if not assigned:
            self._note_unserved(marks, last, now)
            return
        self.unserved_since = None
        due: set[int] = set()
        for partition in assigned:
            mark = marks.get(partition, 0)
            if last.get(partition, 0) <= mark:
                self._lagging.pop(partition, None)
                continue
            seen = self._lagging.get(partition)
            if seen is None or seen[0] != mark:
                self._lagging[partition] = (mark, now)
            elif now - seen[1] >= self.idle_grace:
                due.add(partition)
        if due:
            upto = max(last[p] for p in due)
            log.info(
                "partitions %s lag the relay with no message coming; reading the store", sorted(due)
            )
            self.projector.catch_up(self.log, due, self.count, upto)
            for partition in due:
                self._lagging.pop(partition, None)

    def _note_unserved(self, marks: dict[int, int], last: dict[int, int], now: float) -> None:
        """Since when partitions have lagged the relay with no watermark moving, while
        this worker has none: a group that assigned nothing (it rebalanced while the
        topic was missing after a broker restart) serves nobody."""
        if all(last.get(p, 0) <= marks.get(p, 0) for p in range(self.count)):
            self.unserved_since = None
            return
        applied = sum(marks.values())
        if self.unserved_since is None or self.unserved_since[0] != applied:
            self.unserved_since = (applied, now)


async def run_projections(
    read_model_url: str, log_: EventLog, topic: KafkaTopic, stop: asyncio.Event,
    *, consumer: Consumer = PROJECTIONS, group: str | None = None,
) -> None:
    """Keep the consumer's read models current from Kafka (and the event store) until
    `stop`; `group` overrides its Kafka consumer group id."""
    worker = ProjectionWorker(read_model_url, log_, topic, consumer=consumer, group=group)
    try:
        await worker.run(stop)
    finally:
        worker.projector.engine.dispose()
