"""The auditor's view of the event store: streams with their global positions,
the global log, hash-chain verification and a campaign rebuilt as of an instant.

Everything here reads the event store itself (never the read models), so an
auditor sees what was recorded, including events somebody tampered with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Notification

from application.documents import DocumentStore, sha256_of
from application.unit_of_work import UnitOfWork
from domain.campaign import Campaign
from domain.chain import GENESIS, ChainedAggregate, event_payload, hash_of
from domain.input import parse_id
from domain.user import CREDENTIAL_FIELDS

# A type name for events the store holds but cannot decode (tampered ciphertext
# or JSON): the log stays browsable and `verify_chains` reports the position.
UNDECODABLE = "UNDECODABLE"
PAGE = 1000
MAX_LOG_LIMIT = 1000


@dataclass(frozen=True)
class AuditEvent:
    """One stored event as auditors see it (the contract's `AuditEvent`)."""

    position: int
    stream_id: str
    stream_type: str
    version: int
    type: str
    occurred_at: datetime | None
    payload: dict[str, Any]
    hash: str
    # None for the first event of a stream (its stored prev hash is the empty genesis).
    prev_hash: str | None

    def to_json(self) -> dict[str, Any]:
        """The contract's field names, JSON-ready (one line of `json_lines`)."""
        return {
            "position": self.position,
            "streamId": self.stream_id,
            "streamType": self.stream_type,
            "version": self.version,
            "type": self.type,
            "occurredAt": self.occurred_at.isoformat() if self.occurred_at else None,
            "payload": self.payload,
            "hash": self.hash,
            "prevHash": self.prev_hash,
        }


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked_events: int
    first_bad_position: int | None


@dataclass(frozen=True)
class CampaignAsOf:
    """A campaign replayed from its events up to an instant, with its totals then."""

    campaign: Campaign
    version: int
    raised: Decimal
    backer_count: int


# --- decoding ----------------------------------------------------------------------------


def stream_type_of(event: Any) -> str:
    """The aggregate class an event belongs to: `Campaign.PledgeAccepted` -> `Campaign`."""
    return type(event).__qualname__.split(".")[0]


def _decode(app: UnitOfWork, notification: Notification) -> Any | None:
    """The domain event, or None when the stored bytes no longer decode."""
    try:
        return app.mapper.to_domain_event(notification)
    except Exception:  # any failure to decrypt/decompress/parse means tampering or damage
        return None


REDACTED = "[credential: not shown]"


def _without_credentials(payload: dict[str, Any]) -> dict[str, Any]:
    """Auditors see that a password or second factor changed, never the secret itself
    (the hash chain, checked on the stored event, still covers it)."""
    return {k: REDACTED if k in CREDENTIAL_FIELDS else v for k, v in payload.items()}


def _audit_event(app: UnitOfWork, notification: Notification) -> AuditEvent:
    event = _decode(app, notification)
    if event is None:
        return AuditEvent(
            position=notification.id, stream_id=str(notification.originator_id),
            stream_type=UNDECODABLE, version=notification.originator_version,
            type=UNDECODABLE, occurred_at=None,
            payload={"error": "the stored event cannot be decoded"}, hash="", prev_hash=None,
        )
    return AuditEvent(
        position=notification.id,
        stream_id=str(event.originator_id),
        stream_type=stream_type_of(event),
        version=event.originator_version,
        type=type(event).__name__,
        occurred_at=event.timestamp,
        payload=_without_credentials(event_payload(event)),
        hash=event.hash,
        prev_hash=event.prev_hash or None,
    )


# --- one stream, with positions --------------------------------------------------------------


def audit_trail(
    app: UnitOfWork, stream_id: UUID | str, as_of: datetime | None = None
) -> list[AuditEvent]:
    """One stream's events in order; with `as_of`, only those that occurred up to then.

    An unknown stream gives an empty list; a malformed id raises NotFoundError.
    """
    _require_aware(as_of)
    uid = parse_id(stream_id, "stream")
    events = [_audit_event(app, n) for n in app.streams.stream_notifications(uid)]
    if as_of is None:
        return events
    return [e for e in events if e.occurred_at is not None and e.occurred_at <= as_of]


def json_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """Events as JSON Lines: one JSON object per line, non-ASCII text as is."""
    for event in events:
        yield json.dumps(event.to_json(), ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class StreamExport:
    """A stream's export: the events it holds and their JSON Lines."""

    events: list[AuditEvent]
    text: str


def stream_export(
    app: UnitOfWork, stream_id: UUID | str, as_of: datetime | None = None
) -> StreamExport | None:
    """One stream's events in order as JSON Lines, with `as_of` only those that occurred
    up to then: what `crowdfund audit replay` prints and `GET /audit/streams/<id>.jsonl`
    answers, byte for byte (UTF-8). None when the stream has no events at all.

    A malformed id raises NotFoundError.
    """
    _require_aware(as_of)
    events = audit_trail(app, stream_id)
    if not events:
        return None
    kept = events if as_of is None else [
        e for e in events if e.occurred_at is not None and e.occurred_at <= as_of
    ]
    return StreamExport(kept, "".join(json_lines(kept)))


# --- the global log -------------------------------------------------------------------------


def event_log(
    app: UnitOfWork, after: int = 0, limit: int = 100
) -> tuple[list[AuditEvent], int | None, int]:
    """Events after position `after`: (events, next `after` or None at the head, head).

    Positions may have gaps (rolled-back transactions); `next_position` is the
    last position returned, so a client passes it back as `after`.
    """
    limit = max(1, min(int(limit), MAX_LOG_LIMIT))
    head = app.head_position()
    notifications = app.recorder.select_notifications(
        max(0, int(after)), limit, inclusive_of_start=False
    )
    events = [_audit_event(app, n) for n in notifications]
    last = events[-1].position if events else None
    next_position = last if last is not None and last < head else None
    return events, next_position, head


def events_at(app: UnitOfWork, positions: Sequence[int]) -> list[AuditEvent]:
    """The stored events at these log positions, in position order (an index of the log,
    such as the read models' `rm_events`, chose them; the store says what they are)."""
    wanted = sorted({int(p) for p in positions})
    if not wanted:
        return []
    return [_audit_event(app, n) for n in app.streams.notifications_at(wanted)]


@dataclass(frozen=True)
class EventKind:
    """A kind of event the platform records: the stream type and the event type."""

    stream_type: str
    type: str


def event_kinds() -> list[EventKind]:
    """Every (stream type, event type) the domain's aggregates can record, sorted: what
    the event log's filters offer. Read from the aggregate classes, so never out of date."""
    kinds: set[EventKind] = set()
    for aggregate in _aggregates(ChainedAggregate):
        for name in dir(aggregate):
            member = getattr(aggregate, name, None)
            if (isinstance(member, type) and issubclass(member, ChainedAggregate.Event)
                    and member.__qualname__ == f"{aggregate.__name__}.{member.__name__}"
                    and member.__name__ not in ("Event", "Created")):
                kinds.add(EventKind(aggregate.__name__, member.__name__))
    return sorted(kinds, key=lambda k: (k.stream_type, k.type))


def _aggregates(base: type) -> Iterator[type]:
    subclasses: list[type] = base.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from _aggregates(sub)


def _all_notifications(app: UnitOfWork) -> Iterator[Notification]:
    after = 0
    while True:
        page = app.recorder.select_notifications(after, PAGE, inclusive_of_start=False)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


# --- hash chains ----------------------------------------------------------------------------


@dataclass
class _StreamHead:
    version: int
    # None after an undecodable event: the next event's link cannot be checked.
    hash: str | None


def verify_chains(app: UnitOfWork) -> ChainVerification:
    """Walk the whole log in order and check every stream's hash chain.

    An event is bad when it does not decode, when its stored hash differs from
    the recomputed one, or when it does not link to the previous event of its
    stream (a prev hash or version that does not follow: a changed, inserted or
    deleted event).
    """
    heads: dict[str, _StreamHead] = {}
    checked = 0
    first_bad: int | None = None
    for notification in _all_notifications(app):
        checked += 1
        stream = str(notification.originator_id)
        head = heads.get(stream)
        good, stored_hash = _check_one(app, notification, head)
        heads[stream] = _StreamHead(notification.originator_version, stored_hash)
        if not good and first_bad is None:
            first_bad = notification.id
    return ChainVerification(first_bad is None, checked, first_bad)


def _check_one(
    app: UnitOfWork, notification: Notification, head: _StreamHead | None
) -> tuple[bool, str | None]:
    """(does it verify, the hash it stores) for one event given its stream's head."""
    event = _decode(app, notification)
    if event is None:
        return False, None
    stored_hash = getattr(event, "hash", None)
    prev_hash = getattr(event, "prev_hash", None)
    if not isinstance(stored_hash, str) or not isinstance(prev_hash, str):
        return False, None
    try:
        recomputed = hash_of(event)
    except Exception:  # a payload the canonical form cannot express was not written by us
        return False, stored_hash
    if recomputed != stored_hash:
        return False, stored_hash
    if head is None:
        linked = prev_hash == GENESIS and notification.originator_version == 1
    else:
        linked = notification.originator_version == head.version + 1 and (
            head.hash is None or prev_hash == head.hash
        )
    return linked, stored_hash


# --- documents ------------------------------------------------------------------------------

_DOCUMENT_TOPIC = ":Campaign.DocumentUploaded"


@dataclass(frozen=True)
class DocumentMismatch:
    """A recorded document whose kept bytes no longer hash to what its event says."""

    position: int
    campaign_id: str
    name: str
    sha256: str
    # "missing": no file kept under that hash; "changed": the file's SHA-256 differs.
    problem: str

    def describe(self) -> str:
        what = "is missing" if self.problem == "missing" else "was changed (its SHA-256 differs)"
        return (
            f"document {self.name!r} of campaign {self.campaign_id} (recorded at position "
            f"{self.position}, sha256 {self.sha256}) {what}"
        )


def verify_documents(app: UnitOfWork, store: DocumentStore) -> list[DocumentMismatch]:
    """Recompute the SHA-256 of every recorded document's kept bytes, in log order."""
    mismatches: list[DocumentMismatch] = []
    checked: dict[str, str | None] = {}
    for notification in _all_notifications(app):
        if not notification.topic.endswith(_DOCUMENT_TOPIC):
            continue
        event = _decode(app, notification)
        if event is None:
            continue  # verify_chains reports it
        sha256 = str(event.sha256)
        if sha256 not in checked:
            content = store.read(sha256)
            checked[sha256] = None if content is None else sha256_of(content)
        actual = checked[sha256]
        if actual != sha256:
            mismatches.append(DocumentMismatch(
                notification.id, str(event.originator_id), str(event.name), sha256,
                "missing" if actual is None else "changed",
            ))
    return mismatches


def verify_log(app: UnitOfWork, store: DocumentStore | None) -> ChainVerification:
    """Every stream's chain and every recorded document's bytes: the first position of
    an event that does not verify or whose document no longer matches its hash."""
    chains = verify_chains(app)
    mismatches = verify_documents(app, store) if store is not None else []
    bad = [m.position for m in mismatches]
    if chains.first_bad_position is not None:
        bad.append(chains.first_bad_position)
    return ChainVerification(not bad, chains.checked_events, min(bad) if bad else None)


# --- a campaign as of an instant -------------------------------------------------------------


def campaign_as_of(
    app: UnitOfWork, campaign_id: UUID | str, as_of: datetime
) -> CampaignAsOf | None:
    """The campaign replayed from the events it had at `as_of` (None: not yet drafted).

    Replays the longest prefix of the stream whose events all occurred by `as_of`
    (never snapshots or the cache), so the state is exactly what was recorded then.
    """
    _require_aware(as_of)
    uid = parse_id(campaign_id, "campaign")
    prefix: list[Any] = []
    for stored in app.recorder.select_events(uid):
        event: Any = app.mapper.to_domain_event(stored)
        if event.timestamp > as_of:
            break
        prefix.append(event)
    if not prefix or stream_type_of(prefix[0]) != Campaign.__name__:
        return None
    aggregate: Any = None
    for event in prefix:
        aggregate = event.mutate(aggregate)
    campaign = cast(Campaign, aggregate)
    return CampaignAsOf(
        campaign=campaign, version=campaign.version, raised=campaign.raised,
        backer_count=_backer_count(prefix),
    )


def _backer_count(events: Sequence[Any]) -> int:
    """Distinct backers with open or settled pledges after these campaign events."""
    backer_of: dict[str, str] = {}
    for event in events:
        name = type(event).__name__
        if name == "PledgeAccepted":
            backer_of[event.pledge_id] = event.backer_id
        elif name == "PledgeReleased":
            backer_of.pop(event.pledge_id, None)
        # EscrowReleased settles pledges: they still count as raised and backed.
    return len(set(backer_of.values()))


def _require_aware(instant: datetime | None) -> None:
    if instant is not None and instant.tzinfo is None:
        raise ValueError("the instant needs a timezone offset, e.g. 2027-03-01T12:00:00+00:00")
