"""The embedded Kafka-compatible broker, against the real Tansu binary."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka import BrokerUnavailable, ensure_topic, wait_for_kafka
from crowdfund.bootstrap import require_kafka
from crowdfund.embedded_broker import BrokerStartError, EmbeddedBroker, free_port
from crowdfund.settings import Settings

pytestmark = pytest.mark.broker


async def leaders(bootstrap: str, topic: str) -> dict[int, int] | None:
    """partition -> leader of `topic`, or None when the broker does not list it.

    Lists topics first: a Metadata request naming a missing topic would make the
    embedded broker auto-create it.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return None
        (described,) = await admin.describe_topics([topic])
        return {p["partition"]: p["leader"] for p in described["partitions"]}
    finally:
        await admin.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_starts_on_a_free_port_and_answers_kafka(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert broker.startup_seconds is not None and broker.startup_seconds < 10
    await wait_for_kafka(broker.bootstrap, timeout=2)


async def test_ensure_topic_creates_every_partition_and_is_idempotent(
    broker: EmbeddedBroker, topic: str
) -> None:
    await ensure_topic(broker.bootstrap, topic, 3)
    await ensure_topic(broker.bootstrap, topic, 3)

    found = await leaders(broker.bootstrap, topic)
    assert found is not None
    assert sorted(found) == [0, 1, 2]
    assert all(leader >= 0 for leader in found.values())


async def test_ensure_topic_keeps_an_existing_topic_and_warns(
    broker: EmbeddedBroker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_topic(broker.bootstrap, topic, 2)
    with caplog.at_level(logging.WARNING, logger="crowdfund.kafka"):
        await ensure_topic(broker.bootstrap, topic, 5)

    found = await leaders(broker.bootstrap, topic)
    assert found is not None and len(found) == 2
    assert "already has 2 partitions, not 5" in caplog.text


async def test_produce_and_consume_round_trip(broker: EmbeddedBroker, topic: str) -> None:
    await ensure_topic(broker.bootstrap, topic, 3)
    sent = [(f"stream-{i % 5}".encode(), f"event-{i}".encode()) for i in range(30)]
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for key, value in sent:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    # No group: Tansu holds a new group's first JoinGroup for session_timeout/2 (5 s).
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 10
        while len(received) < len(sent) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            received += [(m.key, m.value) for ms in batches.values() for m in ms]  # type: ignore[misc]
    finally:
        await consumer.stop()

    assert sorted(received) == sorted(sent)
    for key in {k for k, _ in sent}:  # one stream stays in order: it maps to one partition
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


async def test_restart_comes_back_empty_on_the_same_port(
    broker: EmbeddedBroker, topic: str
) -> None:
    await ensure_topic(broker.bootstrap, topic, 2)
    port, pid = broker.port, broker.pid
    assert pid is not None

    await broker.restart_async()

    assert broker.port == port and broker.pid != pid
    assert _gone(pid)
    assert await leaders(broker.bootstrap, topic) is None
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        assert await admin.list_topics() == []
    finally:
        await admin.close()


async def test_stop_leaves_no_process(broker: EmbeddedBroker) -> None:
    pid = broker.pid
    assert pid is not None and not _gone(pid)

    broker.stop()

    assert not broker.running and broker.pid is None
    assert _gone(pid)  # reaped, so not even a zombie is left
    broker.stop()  # idempotent


async def test_wait_for_kafka_fails_clearly_when_nothing_listens() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    began = time.monotonic()

    with pytest.raises(BrokerUnavailable) as caught:
        await wait_for_kafka(bootstrap, timeout=0.3)

    assert time.monotonic() - began < 3
    message = str(caught.value)
    assert f"no Kafka at {bootstrap}" in message
    assert "CROWDFUND_KAFKA_BOOTSTRAP" in message and "crowdfund dev" in message


async def test_ensure_topic_fails_clearly_when_nothing_listens(topic: str) -> None:
    with pytest.raises(BrokerUnavailable, match="no Kafka at"):
        await ensure_topic(f"127.0.0.1:{free_port()}", topic, 1, timeout=0.3)


async def test_start_reports_the_brokers_output_when_the_port_is_taken() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        embedded = EmbeddedBroker()

        with pytest.raises(BrokerStartError, match="Address in use"):
            await embedded.start_async(port)

    assert not embedded.running


def test_sync_context_manager_and_log_file(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "broker.log"
    with EmbeddedBroker(log_path=log_path) as embedded:
        assert embedded.running
        pid = embedded.pid
    assert pid is not None and _gone(pid)
    assert f"listening on: tcp://{embedded.bootstrap}" in log_path.read_text()


async def test_async_context_manager() -> None:
    async with EmbeddedBroker() as embedded:
        await wait_for_kafka(embedded.bootstrap, timeout=2)
    assert not embedded.running


def test_workers_use_the_configured_kafka() -> None:
    assert require_kafka(Settings(kafka_bootstrap="kafka:9092")) == "kafka:9092"


def test_workers_refuse_to_run_without_kafka() -> None:
    with pytest.raises(BrokerUnavailable, match="CROWDFUND_KAFKA_BOOTSTRAP"):
        require_kafka(Settings(kafka_bootstrap=None))
