"""One event as the read models see it, from Kafka or straight from the event store.

Both paths produce the same `EventRecord` (payload in its JSON form, personal
data removed), so a projection cannot tell where an event came from and a
rebuild equals the live read models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2
from eventsourcing.persistence import Mapper, Notification

from domain.chain import event_payload
from domain.user import CREDENTIAL_FIELDS

SCHEMA = 1
# Personal data never leaves the event store (HELPERS.md, runtime.md).
PERSONAL_FIELDS = frozenset({
    "email", "password_hash", "legal_name", "date_of_birth", "annual_income", "net_worth",
    "other_reg_cf_investments_12m",
    # The sanctions list entries an investor's name resembles (docs/aml.md).
    "screening_matches",
}) | CREDENTIAL_FIELDS


@dataclass(frozen=True)
class EventRecord:
    position: int
    stream_id: str
    stream_type: str
    version: int
    type: str
    occurred_at: datetime
    payload: dict[str, Any]
    hash: str
    prev_hash: str | None


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in PERSONAL_FIELDS}


def names_of(topic: str) -> tuple[str, str]:
    """(stream type, event type) from a stored event's topic, e.g.
    "domain.campaign:Campaign.PledgeAccepted" -> ("Campaign", "PledgeAccepted")."""
    qualname = topic.rpartition(":")[2]
    stream_type, _, event_type = qualname.rpartition(".")
    return stream_type or event_type, event_type


def record_of(mapper: Mapper[Any], notification: Notification) -> EventRecord:
    """Decode a stored event (decrypting personal data) and keep only what may travel."""
    event: Any = mapper.to_domain_event(notification)
    stream_type, event_type = names_of(notification.topic)
    return EventRecord(
        position=notification.id,
        stream_id=str(notification.originator_id),
        stream_type=stream_type,
        version=int(notification.originator_version),
        type=event_type,
        occurred_at=event.timestamp,
        payload=public_payload(event_payload(event)),
        hash=event.hash,
        prev_hash=event.prev_hash or None,
    )


@lru_cache(maxsize=100_000)
def partition_for(stream_id: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), so any Kafka tool agrees.
    Cached: murmur2 is pure Python, and catch-up asks for every event of the log."""
    return (murmur2(stream_id.encode()) & 0x7FFFFFFF) % partitions


def to_message(record: EventRecord, partitions: int, partition_prev: int) -> dict[str, Any]:
    """The runtime.md envelope plus the partition bookkeeping the projections use."""
    return {
        "schema": SCHEMA,
        "position": record.position,
        "streamId": record.stream_id,
        "streamType": record.stream_type,
        "version": record.version,
        "type": record.type,
        "occurredAt": record.occurred_at.isoformat(),
        "payload": record.payload,
        "hash": record.hash,
        "prevHash": record.prev_hash,
        # Additions: the partition count the relay used, and the position of
        # the previous event it published to this partition (0: none). Any
        # value between the true predecessor and `position` is safe.
        "partitions": partitions,
        "partitionPrev": partition_prev,
    }


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Message:
    """A decoded Kafka message: the event plus the relay's partition bookkeeping."""

    record: EventRecord
    partitions: int
    partition_prev: int
    # False when the relay left the payload out (too large for one Kafka
    # message): the event is then read from the event store.
    complete: bool = True


# Kafka's default limit is 1 MiB per message; a distribution to thousands of
# shareholders can exceed it, and a relay stuck on one message would stop the log.
MAX_MESSAGE_BYTES = 900_000


def encode_bounded(message: dict[str, Any]) -> bytes:
    """The encoded envelope; without its payload if that would be too large."""
    value = encode(message)
    if len(value) <= MAX_MESSAGE_BYTES:
        return value
    return encode({**message, "payload": None, "payloadOmitted": True})


def decode(value: bytes) -> Message:
    data = json.loads(value)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"unknown envelope schema {data.get('schema')!r}")
    record = EventRecord(
        position=int(data["position"]),
        stream_id=str(data["streamId"]),
        stream_type=str(data["streamType"]),
        version=int(data["version"]),
        type=str(data["type"]),
        occurred_at=datetime.fromisoformat(data["occurredAt"]),
        payload=public_payload(dict(data["payload"] or {})),
        hash=str(data["hash"]),
        prev_hash=data.get("prevHash") or None,
    )
    return Message(record, int(data.get("partitions", 0)), int(data.get("partitionPrev", 0)),
                   complete=not data.get("payloadOmitted", False))
