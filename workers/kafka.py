"""Kafka clients configured the one way our broker supports.

The embedded broker creates a missing topic (with its own partition count)
whenever a Metadata request allows auto-creation, and aiokafka always allows
it. After a broker restart that would let any producer or consumer recreate
the topic with the wrong number of partitions before the relay's
`ensure_topic`; so our clients ask for metadata with auto-creation off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger("crowdfund.kafka")


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
