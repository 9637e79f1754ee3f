"""The log-heads worker (`crowdfund worker log-heads`): grows the Merkle tree of the
event log, signs a tree head every few seconds while the log grows, and publishes
every head to `crowdfund.log-heads` for witnesses (docs/audit.md).

A worker of its own rather than part of the relay: heads need only the database, so
they keep coming while the broker is away (the publisher catches up afterwards,
oldest head first), and the relay's latency, which is the read-your-writes delay of
every page, pays nothing for the tree. Publication is recorded in `log_heads_published`:
every head of a size <= `published` was acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from adapters import kafka
from application.transparency import (
    HeadSigner,
    TreeHead,
    grow_tree,
    now_for_heads,
    register_key,
    sign_head,
)
from application.unit_of_work import UnitOfWork
from projections import tables as t
from projections.log_tree import SqlLogTree
from workers.running import TopicMissing, keep_running, pause

log = logging.getLogger(__name__)

GROW_BATCH = 5000
IDLE_POLL = 0.2  # seconds between looks at the log while it does not grow
PUBLISH_BATCH = 100


class LogHeads:
    def __init__(
        self, app: UnitOfWork, store: SqlLogTree, signer: HeadSigner,
        now: Callable[[], datetime], interval: float,
    ) -> None:
        self.app = app
        self.store = store
        self.signer = signer
        self.now = now
        self.interval = interval
        self.signed = asyncio.Event()  # wakes the publisher
        self.heads_signed = 0

    def grow_and_sign(self) -> TreeHead | None:
        """Catch the tree up with the log (bounded in time), then sign if it grew (the
        first head of all is signed even for an empty log)."""
        deadline = time.monotonic() + self.interval
        while grow_tree(self.app, self.store, GROW_BATCH) and time.monotonic() < deadline:
            pass
        return sign_head(self.store, self.signer, self.now())

    async def sign_loop(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(register_key, self.store, self.signer, self.now())
        while not stop.is_set():
            began = time.monotonic()
            head = await asyncio.to_thread(self.grow_and_sign)
            if head is not None:
                self.heads_signed += 1
                self.signed.set()
                log.debug("signed tree head %d %s", head.size, head.root_hash)
            await pause(stop, max(IDLE_POLL, self.interval - (time.monotonic() - began))
                        if head is not None else IDLE_POLL)


def published(store: SqlLogTree, topic: str) -> int:
    """The size of the last head the broker acknowledged (-1: none yet)."""
    progress = t.log_heads_published
    with store.engine.connect() as conn:
        value = conn.execute(sa.select(progress.c.published)
                             .where(progress.c.topic == topic)).scalar()
    return int(value if value is not None else -1)


def mark_published(store: SqlLogTree, topic: str, size: int) -> None:
    """Record that heads up to `size` are acknowledged; never moves backwards."""
    progress = t.log_heads_published
    c = progress.c
    with store.engine.begin() as conn:
        done = conn.execute(sa.update(progress).where(c.topic == topic)
                            .where(c.published < size).values(published=size))
        if done.rowcount == 0 and conn.execute(
            sa.select(c.topic).where(c.topic == topic)
        ).first() is None:
            conn.execute(sa.insert(progress).values(topic=topic, published=size))


class HeadPublisher:
    def __init__(self, store: SqlLogTree, bootstrap: str, topic: str,
                 signed: asyncio.Event) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.signed = signed
        self.published_heads = 0

    async def attempt(self, stop: asyncio.Event) -> None:
        await kafka.ensure_topic(self.bootstrap, self.topic, 1)
        producer = kafka.producer(self.bootstrap, client_id="crowdfund-log-heads")
        await producer.start()
        try:
            while not stop.is_set():
                await self.publish_pending(producer)
                self.signed.clear()
                await _wait_either(stop, self.signed, 1.0)
        finally:
            await kafka.close_quietly(producer.stop(), "log-heads producer")

    async def publish_pending(self, producer: AIOKafkaProducer) -> None:
        while True:
            done = await asyncio.to_thread(published, self.store, self.topic)
            heads = await asyncio.to_thread(self.store.heads_after, done, PUBLISH_BATCH)
            if not heads:
                return
            # The embedded broker accepts produce requests for a topic it lost.
            if await kafka.topic_partitions(self.bootstrap, self.topic) is None:
                raise TopicMissing(f"topic {self.topic} does not exist")
            sends = [await producer.send(self.topic, json.dumps(h.to_json()).encode(), partition=0)
                     for h in heads]
            await asyncio.gather(*sends)
            await asyncio.to_thread(mark_published, self.store, self.topic, heads[-1].size)
            self.published_heads += len(heads)


async def _wait_either(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_log_heads(
    app: UnitOfWork, store: SqlLogTree, signer: HeadSigner, bootstrap: str | None,
    topic: str, stop: asyncio.Event, *, interval: float = 2.0,
    now: Callable[[], datetime] | None = None,
) -> None:
    """Grow, sign and (with a broker) publish until `stop`; trouble is retried."""
    heads = LogHeads(app, store, signer, now or now_for_heads, interval)
    tasks = [asyncio.create_task(keep_running(stop, "log heads", lambda: heads.sign_loop(stop)))]
    if bootstrap is not None:
        publisher = HeadPublisher(store, bootstrap, topic, heads.signed)
        tasks.append(asyncio.create_task(
            keep_running(stop, "log-heads publisher", lambda: publisher.attempt(stop))
        ))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
