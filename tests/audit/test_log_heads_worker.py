"""`crowdfund worker log-heads` as a real process on PostgreSQL with a real broker: heads
keep being signed while the broker is away and are published once it is back; a
SIGKILLed worker picks up where the tree was, and the tree still equals a rebuild."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from adapters import kafka
from adapters.signing import load_signer, new_signing_key, verify_signature
from application.clock import SettableClock
from application.head_check import check_head
from application.transparency import TreeHead, consistency_proof, rebuild_tree
from crowdfund.bootstrap import read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from domain import merkle
from projections.log_tree import SqlLogTree
from tests.conftest import Store
from tests.projections.conftest import Worker, make_settings
from tests.scenario import live_campaign, pledge, staff, verified_backer

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(start_timeout=30) as running:
        yield running


async def eventually(check: Callable[[], Any], timeout: float, what: str,
                     worker: Worker) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{worker.log()}")


async def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every head on the topic now (empty if the topic is not there)."""
    if await kafka.topic_partitions(bootstrap, topic) is None:
        return []
    consumer = kafka.consumer(bootstrap, None)
    await consumer.start()
    try:
        part = TopicPartition(topic, 0)
        consumer.assign([part])
        await consumer.seek_to_beginning(part)
        end = (await consumer.end_offsets([part]))[part]
        heads: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while await consumer.position(part) < end and time.monotonic() < deadline:
            batch = await consumer.getmany(part, timeout_ms=500)
            heads += [json.loads(m.value) for m in batch.get(part, [])]
        return heads
    finally:
        await consumer.stop()


async def test_heads_survive_broker_loss_and_sigkill(
    postgres_store: Store, clock: SettableClock, broker: EmbeddedBroker, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = postgres_store
    key = new_signing_key()
    topic = f"heads-{uuid.uuid4().hex[:8]}"
    # What the worker process reads besides the settings `Worker` passes it.
    monkeypatch.setenv("CROWDFUND_LOG_SIGNING_KEY", key)
    monkeypatch.setenv("CROWDFUND_LOG_HEADS_TOPIC", topic)
    monkeypatch.setenv("CROWDFUND_LOG_HEADS_INTERVAL", "0.3")
    settings = make_settings(store, tmp_path, broker.bootstrap)
    tree = SqlLogTree(read_model_url(settings))
    worker = Worker("log-heads", settings, tmp_path)
    app = store.open(clock)
    team = staff(app)
    campaign = live_campaign(app, team, max_target="4000000.00")
    backers = [verified_backer(app, team, accredited=True) for _ in range(4)]
    done = threading.Event()

    def write() -> None:
        n = 0
        while not done.is_set():
            pledge(app, backers[n % 4], campaign, "100.00")
            n += 1
            time.sleep(0.02)

    def latest_size() -> int:
        head = tree.latest_head()
        return -1 if head is None else head.size

    worker.start()
    writing = asyncio.create_task(asyncio.to_thread(write))
    try:
        await eventually(lambda: latest_size() > 0, 60, "a first head", worker)
        before = await eventually(
            lambda: asyncio.run(read_topic(broker.bootstrap, topic)), 30,
            "a head on the topic", worker)
        assert before[0]["keyId"] == load_signer(key).key_id

        # The broker goes away: heads keep being signed and stored.
        port = broker.port
        await asyncio.to_thread(broker.stop, 0.2)
        during = latest_size()
        await eventually(lambda: latest_size() > during, 30, "heads while the broker is down",
                         worker)
        signed_meanwhile = [h.size for h in tree.heads_after(during, 1000)]
        await broker.start_async(port)  # back, and empty
        published = await eventually(
            lambda: [h for h in asyncio.run(read_topic(broker.bootstrap, topic))
                     if h["size"] == signed_meanwhile[0]],
            60, "the heads signed meanwhile to be published", worker)
        assert TreeHead.from_json(published[0]) in tree.heads_after(during, 1000)

        # SIGKILL mid-stream, then a new worker process.
        worker.kill()
        killed_at = latest_size()
        worker.start()
        await eventually(lambda: latest_size() > killed_at, 60, "heads after SIGKILL", worker)
    finally:
        done.set()
        await writing
    try:
        head = app.head_position()
        await eventually(lambda: latest_size() == head, 60, "a head of the whole log", worker)
    finally:
        worker.stop()

    heads = tree.heads_after(-1, 100_000)
    public = load_signer(key).public_key_pem
    assert all(verify_signature(public, h.message, bytes.fromhex(h.signature)) for h in heads)
    for old, new in pairwise(heads[1:]):  # heads[0] is the empty tree
        path = consistency_proof(tree, old.size, new.size).path
        assert merkle.verify_consistency(old.size, new.size, bytes.fromhex(old.root_hash),
                                         bytes.fromhex(new.root_hash),
                                         [bytes.fromhex(x) for x in path])
    assert rebuild_tree(app).all_nodes() == tree.all_nodes()
    first = TreeHead.from_json(before[0])
    assert check_head(app, tree, first, verify_signature).ok
    with contextlib.suppress(Exception):
        tree.close()
