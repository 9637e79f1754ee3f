"""Hash-chained aggregates: every event carries a hash of its own content and
of the previous event of its stream, so tampering with a stored event shows."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from copy import deepcopy
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
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


_ISO_TEXT: dict[tuple[datetime, Any], str] = {}
_ISO_TEXT_SIZE = 4096


def iso_text(value: datetime) -> str:
    """`value.isoformat()`, remembered: one pledge writes its instant a dozen times.

    Keyed by instant and UTC offset: equal instants in different offsets are
    equal datetimes but not the same text.
    """
    key = (value, value.utcoffset())
    text = _ISO_TEXT.get(key)
    if text is None:
        if len(_ISO_TEXT) >= _ISO_TEXT_SIZE:
            _ISO_TEXT.clear()
        text = _ISO_TEXT[key] = value.isoformat()
    return text


# Exact types with a fixed JSON form: looked up before the general rules below.
_AS_IS: frozenset[type] = frozenset({str, int, bool, float, type(None)})
_CONVERT: dict[type, Any] = {Decimal: str, datetime: iso_text, UUID: str}


def jsonable(value: Any) -> Any:
    """The canonical JSON form of an event value."""
    cls = type(value)
    if cls in _AS_IS:
        return value
    convert = _CONVERT.get(cls)
    if convert is not None:
        return convert(value)
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
    """What an event says, without its identity and chain fields.

    A field added to an event type later (with a default) is absent from the events
    stored before it: it is not part of what they said, nor of the hash they carry.
    """
    assert is_dataclass(event)
    state = vars(event)
    return {
        f.name: jsonable(state[f.name])
        for f in fields(event)
        if f.name not in ENVELOPE_FIELDS and f.name in state
    }


_canonical = json.JSONEncoder(ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def chain_hash(
    stream_id: Any, version: int, type_name: str, timestamp: datetime,
    payload: dict[str, Any], prev_hash: str,
) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, ASCII) of the event.

    The outer object is written out by hand, its keys already in sorted order:
    the same text `json.dumps(..., sort_keys=True, separators=(",", ":"))` gives.
    """
    body = (
        f'{{"at":{_quote(iso_text(timestamp))},"payload":{_canonical(payload)},'
        f'"prev":{_quote(prev_hash)},"stream":{_quote(str(stream_id))},'
        f'"type":{_quote(type_name)},"version":{int(version)!r}}}'
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


# Values an aggregate's copy may share with it because nobody can change them.
_ATOMS: frozenset[type] = frozenset(
    {str, int, float, bool, bytes, type(None), Decimal, datetime, date, timedelta, UUID}
)
_IMMUTABLE: dict[type, bool] = {}


def is_immutable_type(cls: type) -> bool:
    """Atoms, enums, and frozen dataclasses whose fields are all declared immutable."""
    known = _IMMUTABLE.get(cls)
    if known is None:
        _IMMUTABLE[cls] = False  # a dataclass that refers to itself is not shared
        known = _IMMUTABLE[cls] = _decide_immutable(cls)
    return known


def _decide_immutable(cls: type) -> bool:
    if cls in _ATOMS or issubclass(cls, Enum):
        return True
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or not is_dataclass(cls):
        return False
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return False
    return all(_immutable_hint(hints.get(f.name)) for f in fields(cls))


def _immutable_hint(hint: Any) -> bool:
    if isinstance(hint, type):
        return is_immutable_type(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return all(_immutable_hint(arg) for arg in typing.get_args(hint))
    return False


def _all_immutable(values: typing.Iterable[Any]) -> bool:
    return all(is_immutable_type(cls) for cls in set(map(type, values)))


def _copy_value(value: Any, memo: dict[int, Any]) -> Any:
    cls = type(value)
    if is_immutable_type(cls):
        return value
    if cls is dict and _all_immutable(value):
        if _all_immutable(value.values()):
            return dict(value)  # e.g. a backer's commitments: copied at C speed
        return {k: _copy_value(v, memo) for k, v in value.items()}
    if cls is list:
        if _all_immutable(value):
            return list(value)
        return [_copy_value(v, memo) for v in value]
    return deepcopy(value, memo)


class ChainedAggregate(Aggregate):
    """Base of every aggregate: business-time timestamps and a hash chain."""

    chain_head = GENESIS

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A deep copy that shares immutable values instead of copying them.

        The repository hands out a deep copy of a cached aggregate for every
        command; `copy.deepcopy` walks every Decimal and datetime of a backer's
        commitments, which was the largest cost of a pledge.
        """
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update({k: _copy_value(v, memo) for k, v in self.__dict__.items()})
        return clone

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
