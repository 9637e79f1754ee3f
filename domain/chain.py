"""Hash-chained aggregates: every event carries a hash of its own content and
of the previous event of its stream, so tampering with a stored event shows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.clock import event_time

GENESIS = ""
# Fields that identify or chain an event rather than describe what happened.
ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "prev_hash", "hash"}
)


def jsonable(value: Any) -> Any:
    """The canonical JSON form of an event value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def event_payload(event: Any) -> dict[str, Any]:
    """What an event says, without its identity and chain fields."""
    assert is_dataclass(event)
    return {
        f.name: jsonable(getattr(event, f.name))
        for f in fields(event)
        if f.name not in ENVELOPE_FIELDS
    }


def chain_hash(
    stream_id: Any, version: int, type_name: str, timestamp: datetime,
    payload: dict[str, Any], prev_hash: str,
) -> str:
    body = json.dumps(
        {
            "stream": str(stream_id),
            "version": version,
            "type": type_name,
            "at": timestamp.isoformat(),
            "payload": payload,
            "prev": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def hash_of(event: Any) -> str:
    """Recompute the hash a stored event should carry."""
    return chain_hash(
        event.originator_id, event.originator_version, type(event).__name__,
        event.timestamp, event_payload(event), event.prev_hash,
    )


def _payload_of_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in kwargs.items() if k not in ENVELOPE_FIELDS}


class ChainedAggregate(Aggregate):
    """Base of every aggregate: business-time timestamps and a hash chain."""

    chain_head = GENESIS

    class Event(Aggregate.Event):
        prev_hash: str
        hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.chain_head = self.hash

    class Created(Event, Aggregate.Created):
        def apply(self, aggregate: Any) -> None:
            aggregate.chain_head = self.hash

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        if id is None:
            raise TypeError(f"{cls.__name__} needs an explicit id")
        at = event_time()
        payload = _payload_of_kwargs(kwargs)
        digest = chain_hash(id, cls.INITIAL_VERSION, event_class.__name__, at, payload, GENESIS)
        return super()._create(
            event_class, id=id, timestamp=at, prev_hash=GENESIS, hash=digest, **kwargs
        )

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        at = event_time()
        payload = _payload_of_kwargs(kwargs)
        prev = self.chain_head
        digest = chain_hash(self.id, self.version + 1, event_class.__name__, at, payload, prev)
        super().trigger_event(event_class, timestamp=at, prev_hash=prev, hash=digest, **kwargs)
