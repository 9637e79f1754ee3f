"""What auditors read: stored events with positions, log pages, chain verification."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.scalars import Long
from application import audit
from domain.user import CREDENTIAL_FIELDS
from projections.envelope import PERSONAL_FIELDS

# What of an event's payload is a person's data as auditors see it (credentials are
# redacted from the audit views, so showing that they changed shows nothing of them).
SHOWN_PERSONAL_FIELDS = PERSONAL_FIELDS - CREDENTIAL_FIELDS


@strawberry.type
class AuditEvent:
    position: Long = strawberry.field(description="Global position in the event log.")
    stream_id: strawberry.ID
    stream_type: str
    version: Long
    type: str
    # Undecodable (tampered) events have no instant; the epoch marks them.
    occurred_at: datetime
    payload: JSON
    hash: str = strawberry.field(
        description="Hash chaining this event to the previous one of the same stream."
    )
    prev_hash: str | None


def personal_data_subjects(events: Iterable[audit.AuditEvent]) -> list[str]:
    """The users whose personal data these events show: only a User stream's events carry
    it, and that stream's id is the user's."""
    return sorted({e.stream_id for e in events if SHOWN_PERSONAL_FIELDS & e.payload.keys()})


EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def audit_event(event: audit.AuditEvent) -> AuditEvent:
    return AuditEvent(
        position=Long(event.position), stream_id=strawberry.ID(event.stream_id),
        stream_type=event.stream_type, version=Long(event.version), type=event.type,
        occurred_at=event.occurred_at or EPOCH, payload=JSON(event.payload), hash=event.hash,
        prev_hash=event.prev_hash,
    )


@strawberry.type
class EventLogPage:
    events: list[AuditEvent]
    next_position: Long | None
    head_position: Long


@strawberry.type
class ChainVerification:
    ok: bool
    checked_events: Long
    first_bad_position: Long | None = strawberry.field(
        description="Position of the first event whose hash does not verify, if any."
    )


@strawberry.type(description="A kind of event the platform records (the event log's filters).")
class AuditEventType:
    stream_type: str
    type: str
