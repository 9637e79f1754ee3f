"""Kafka: the clients configured the one way our brokers support, probing, and
topic administration.

Clients must keep `enable_idempotence=False`: the embedded broker (Tansu, dev and
tests) supports neither idempotent producers nor transactions.

The embedded broker creates a missing topic (with its own partition count)
whenever a Metadata request allows auto-creation, and aiokafka always allows
it. After a broker restart that would let any producer or consumer recreate
the topic with the wrong number of partitions before the relay's
`ensure_topic`; so our clients ask for metadata with auto-creation off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger("crowdfund.kafka")

HINT = "set CROWDFUND_KAFKA_BOOTSTRAP or run `crowdfund dev` to start the embedded broker"
TOPIC_ALREADY_EXISTS = 36


class BrokerUnavailable(RuntimeError):
    """No Kafka answers at the configured address (or none is configured)."""


class TopicError(RuntimeError):
    """Kafka refused to create the topic, or its partitions never got leaders."""


class _NoAutoCreate(MetadataRequest):
    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
    ) -> None:
        super().__init__(topics, False)


def forbid_topic_autocreation() -> None:
    """Idempotent, process-wide: every aiokafka client stops auto-creating topics."""
    aiokafka.client.MetadataRequest = _NoAutoCreate  # type: ignore[misc]
    aiokafka.admin.client.MetadataRequest = _NoAutoCreate  # type: ignore[misc]


def producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    forbid_topic_autocreation()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "crowdfund-relay",
        # The embedded broker has no InitProducerId: no idempotence, no transactions.
        "enable_idempotence": False,
        "acks": "all",
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "metadata_max_age_ms": 5_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(bootstrap: str, group: str | None, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer without subscriptions: call `subscribe(..., listener=...)` or `assign`."""
    forbid_topic_autocreation()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "client_id": "crowdfund-projections",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # Notice a re-created topic (broker restart) within seconds, not 5 minutes.
        "metadata_max_age_ms": 2_000,
        # The embedded broker answers a JoinGroup after half the session timeout;
        # 6 s is the lowest a stock Kafka accepts (group.min.session.timeout.ms).
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 1_000,
        "rebalance_timeout_ms": 6_000,
        "max_poll_records": 2_000,
        # The embedded broker holds an empty fetch for the whole wait even when
        # messages arrive meanwhile: keep it short, it is the read-your-writes latency.
        "fetch_max_wait_ms": 20,
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


async def topic_partitions(bootstrap: str, topic: str, timeout: float = 10.0) -> int | None:
    """The topic's partition count, or None if the broker does not have it."""
    forbid_topic_autocreation()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="crowdfund-admin",
        request_timeout_ms=int(timeout * 1000),
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        described = await asyncio.wait_for(admin.describe_topics([topic]), timeout)
    finally:
        await admin.close()
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0 and entry["partitions"]:
            return len(entry["partitions"])
    return None


async def close_quietly(closing: Awaitable[object], what: str, timeout: float = 10) -> None:
    """Close a Kafka client that is being discarded, bounded in time. After the
    broker vanished aiokafka can end a close in a CancelledError of its own inner
    tasks: that one is not ours to pass on, while a cancellation of this task is."""
    try:
        await asyncio.wait_for(closing, timeout)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:
        log.debug("%s did not close cleanly", what, exc_info=True)


# --- probing ---------------------------------------------------------------------------


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    """`host:port[,host:port]` into pairs; IPv6 hosts may be written `[::1]:9092`."""
    pairs: list[tuple[str, int]] = []
    for item in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Kafka bootstrap must be host:port[,host:port], got {bootstrap!r}")
        pairs.append((host.strip("[]"), int(port)))
    if not pairs:
        raise ValueError("Kafka bootstrap is empty")
    return pairs


def kafka_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """Whether some bootstrap host accepts a TCP connection: the API's health probe."""
    for host, port in _hosts(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


async def _tcp_reachable(bootstrap: str, timeout: float) -> None:
    """Raise OSError unless some bootstrap host accepts a TCP connection.

    Checked before aiokafka connects because aiokafka logs an ERROR per refused
    connection, which would flood the log while we poll.
    """
    last: Exception = OSError(f"nothing listens at {bootstrap}")
    for host, port in _hosts(bootstrap):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            last = exc
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise OSError(describe_error(last))


async def _probe(bootstrap: str, timeout: float) -> None:
    """One Metadata round trip: proves the broker answers Kafka requests."""
    await _tcp_reachable(bootstrap, timeout)
    admin = _admin(bootstrap, timeout)
    try:
        await asyncio.wait_for(admin.start(), timeout)
    finally:
        await admin.close()


def _admin(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="crowdfund-admin",
        request_timeout_ms=max(100, int(timeout * 1000)),
    )


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def poll_until_ready(
    bootstrap: str, timeout: float, check: Callable[[], None] | None = None
) -> BaseException | None:
    """Probe with backoff until the broker answers; return the last error on timeout.

    `check` runs every 50 ms, also during a probe, and may raise to abort early
    (the embedded broker died: the port's other owner may be holding the probe).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.02
    while True:
        remaining = deadline - loop.time()
        try:
            await _watched(_probe(bootstrap, max(0.05, min(2.0, remaining))), check)
            return None
        except (OSError, KafkaError, TimeoutError) as exc:
            last: BaseException = exc
        if loop.time() + delay >= deadline:
            return last
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _watched(work: Coroutine[Any, Any, None], check: Callable[[], None] | None) -> None:
    """Await `work`, calling `check` before and every 50 ms while it runs."""
    if check is None:
        return await work
    check()
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait([task], timeout=0.05)
            if not task.done():
                check()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.result()


async def wait_for_kafka(bootstrap: str, timeout: float) -> None:
    """Wait up to `timeout` seconds until Kafka at `bootstrap` answers a Metadata request."""
    error = await poll_until_ready(bootstrap, timeout)
    if error is not None:
        raise BrokerUnavailable(f"no Kafka at {bootstrap}: {describe_error(error)}; {HINT}")


# --- topics ----------------------------------------------------------------------------


async def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    *,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> None:
    """Create `topic` if missing and wait until every partition has a leader.

    Idempotent and safe to race: "already exists" counts as success. A topic
    that already exists with another partition count is kept (Kafka cannot
    shrink partitions) and logged as a warning.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await wait_for_kafka(bootstrap, timeout)
    admin = _admin(bootstrap, min(timeout, 10.0))
    try:
        await admin.start()
        new = NewTopic(topic, partitions, replication_factor)
        created = await _create_topic(admin, new, deadline)
        count = await _await_leaders(admin, topic, partitions if created else None, deadline)
    finally:
        await admin.close()
    if count != partitions:
        log.warning("topic %s already has %d partitions, not %d", topic, count, partitions)


async def _create_topic(admin: AIOKafkaAdminClient, new: NewTopic, deadline: float) -> bool:
    """CreateTopics, retrying retriable errors; True if we created it, False if it existed."""
    loop = asyncio.get_running_loop()
    while True:
        response = await admin.create_topics([new])
        code, message = _topic_error(response.topic_errors, new.name)
        if code == 0:
            log.info("created topic %s with %d partitions", new.name, new.num_partitions)
            return True
        if code == TOPIC_ALREADY_EXISTS:
            return False
        error = for_code(code)
        if not error.retriable or loop.time() >= deadline:
            raise TopicError(
                f"cannot create topic {new.name!r}: {error.__name__} ({code}) {message or ''}"
            )
        await asyncio.sleep(0.2)


def _topic_error(topic_errors: Any, name: str) -> tuple[int, str | None]:
    """(error_code, message) for `name` in a CreateTopics response of any version."""
    for entry in topic_errors:
        if entry[0] == name:
            return int(entry[1]), entry[2] if len(entry) > 2 else None
    raise TopicError(f"CreateTopics response does not mention {name!r}")


async def _await_leaders(
    admin: AIOKafkaAdminClient, topic: str, expected: int | None, deadline: float
) -> int:
    """Poll metadata until the topic has `expected` partitions (any, if None), all led.

    Only called once the topic exists, so aiokafka's auto-create flag in the
    Metadata request cannot create it with the wrong partition count.
    """
    loop = asyncio.get_running_loop()
    while True:
        count = _led_partitions(await admin.describe_topics([topic]), topic)
        if count and (expected is None or count == expected):
            return count
        if loop.time() >= deadline:
            raise TopicError(f"topic {topic!r} still lacks a leader for some partition")
        await asyncio.sleep(0.1)


def _led_partitions(described: list[Any], topic: str) -> int:
    """Number of partitions of `topic`, or 0 while any partition lacks a leader."""
    for entry in described:
        if entry["topic"] != topic or entry["error_code"] != 0:
            continue
        parts = entry["partitions"]
        if parts and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts):
            return len(parts)
    return 0
