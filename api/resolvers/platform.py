"""Auditors' reads, read-your-writes (`caughtUp`) and the test clock (`setClock`)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api import auth
from api.audit_types import (
    AuditEvent,
    AuditEventType,
    ChainVerification,
    EventLogPage,
    audit_event,
    personal_data_subjects,
)
from api.context import Viewer
from api.inputs import ClockArgs, check
from api.payloads import ClockResult, ClockSet
from api.resolvers.common import Outcome, mutate, read
from api.scalars import InvalidScalar, Long
from api.types import Campaign, campaign_from_record
from application import audit
from application.crowdfund import Crowdfund
from domain.errors import DomainError, NotAllowedError
from domain.input import parse_id
from domain.user import Role
from projections.views import EventFilter

MAX_CAUGHT_UP_MS = 10_000
MAX_LOG_LIMIT = 1000
ZERO_POSITION = Long(0)


def require_instant(value: datetime | InvalidScalar | None, name: str) -> datetime | None:
    if isinstance(value, InvalidScalar):
        raise auth.bad_input(f"{name} {value.reason}.")
    return value


async def audit_trail(
    info: Info[Any, Any], stream_id: strawberry.ID, as_of: datetime | None = None
) -> list[AuditEvent]:
    auth.require_role(info, Role.AUDITOR, doing="read audit trails")
    when = require_instant(as_of, "asOf")
    app = auth.context(info).services.app
    events = await read(info, audit.audit_trail, app, str(stream_id), when)
    await _record_shown(info, events)
    return [audit_event(e) for e in events]


async def _record_shown(info: Info[Any, Any], events: list[audit.AuditEvent]) -> None:
    """A user's stream shows their personal data (a profile's name, birth date, income):
    recorded before it is answered, or not answered (docs/security.md)."""
    # Gathered, so that the page's subjects are one batch (one insert).
    await asyncio.gather(*(auth.shown(info, s) for s in personal_data_subjects(events)))


async def event_log(
    info: Info[Any, Any], after: Long | None = ZERO_POSITION, limit: int | None = 100,
    stream_type: Annotated[str | None, strawberry.argument(
        description="Only events of streams of this type (an aggregate: Campaign, Pledge, "
        "User, …; see auditEventTypes).")] = None,
    event_type: Annotated[str | None, strawberry.argument(
        description="Only events of this type, e.g. PledgeAccepted.")] = None,
    stream_id: Annotated[strawberry.ID | None, strawberry.argument(
        description="Only the events of this stream.")] = None,
    occurred_from: Annotated[datetime | None, strawberry.argument(
        description="Only events that occurred at or after this instant.")] = None,
    occurred_until: Annotated[datetime | None, strawberry.argument(
        description="Only events that occurred at or before this instant.")] = None,
) -> EventLogPage:
    """Without filters, the store's log itself; with any, the auditors' index of the log
    (`rm_events`, as current as the projections) chooses the positions and the store says
    what the events are."""
    auth.require_role(info, Role.AUDITOR, doing="read the event log")
    start = after or 0
    size = 100 if limit is None else limit
    if start < 0 or size < 1:
        raise auth.bad_input("after must be 0 or more and limit at least 1.")
    size = min(size, MAX_LOG_LIMIT)
    where = EventFilter(
        stream_type=_name(stream_type, "streamType"), type=_name(event_type, "eventType"),
        stream_id=_stream(stream_id),
        occurred_from=require_instant(occurred_from, "occurredFrom"),
        occurred_until=require_instant(occurred_until, "occurredUntil"),
    )
    services = auth.context(info).services
    app = services.app
    if where.is_empty:
        events, next_position, head = await read(info, audit.event_log, app, start, size)
    else:
        # One more than the page: whether a next page exists, without a count.
        positions = await read(info, services.read_models.event_positions, where, start,
                               size + 1)
        page = positions[:size]
        events = await read(info, audit.events_at, app, page)
        next_position = page[-1] if len(positions) > size else None
        head = await read(info, app.head_position)
    await _record_shown(info, events)
    return EventLogPage(
        events=[audit_event(e) for e in events],
        next_position=None if next_position is None else Long(next_position),
        head_position=Long(head),
    )


def _name(value: str | None, name: str) -> str | None:
    """A type name as filters take it: blank means no filter."""
    if value is None or not value.strip():
        return None
    if len(value) > 64:
        raise auth.bad_input(f"{name} is at most 64 characters.")
    return value.strip()


def _stream(value: strawberry.ID | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return str(parse_id(str(value).strip(), "stream"))
    except DomainError as error:
        raise auth.bad_input(error.message) from None


async def audit_event_types(info: Info[Any, Any]) -> list[AuditEventType]:
    auth.require_role(info, Role.AUDITOR, doing="read the event log")
    return [AuditEventType(stream_type=k.stream_type, type=k.type) for k in audit.event_kinds()]


async def campaign_as_of(
    info: Info[Any, Any], id: strawberry.ID, as_of: datetime
) -> Campaign | None:
    """Its terms, status and totals as of the instant; nested fields read today's data."""
    auth.require_role(info, Role.AUDITOR, doing="rebuild campaigns as of an instant")
    when = require_instant(as_of, "asOf")
    assert when is not None
    app = auth.context(info).services.app
    found = await read(info, audit.campaign_as_of, app, str(id), when)
    if found is None:
        return None
    return campaign_from_record(found.campaign, found.backer_count, 0)


async def verify_audit_chains(info: Info[Any, Any]) -> ChainVerification:
    auth.require_role(info, Role.AUDITOR, doing="verify the audit chains")
    app = auth.context(info).services.app
    result = await read(info, audit.verify_log, app, app.documents)
    return ChainVerification(
        ok=result.ok, checked_events=Long(result.checked_events),
        first_bad_position=(
            None if result.first_bad_position is None else Long(result.first_bad_position)
        ),
    )


async def caught_up(info: Info[Any, Any], position: Long, timeout_ms: int | None = 2000) -> bool:
    """Polls the read models' watermark; the wait is capped so a request cannot hang."""
    services = auth.context(info).services
    wait = max(0, min(timeout_ms if timeout_ms is not None else 2000, MAX_CAUGHT_UP_MS)) / 1000
    deadline = time.monotonic() + wait
    while True:
        applied = await services.run(services.read_models.applied_through)
        if applied >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(
            min(services.caught_up_poll_seconds, max(0.0, deadline - time.monotonic()))
        )


async def _clock_set(info: Info[Any, Any], moved: tuple[datetime, int]) -> ClockSet:
    wake = auth.context(info).services.extras.get("scheduler_wake")
    if isinstance(wake, asyncio.Event):
        wake.set()  # the scheduler re-reads the clock now rather than at its next tick
    now, position = moved
    return ClockSet(now=now, position=Long(position))


CLOCK_SET = Outcome(ClockResult, _clock_set)


async def set_clock(info: Info[Any, Any], now: datetime) -> ClockResult:
    clock = auth.context(info).services.test_clock

    def move(app: Crowdfund, who: Viewer) -> tuple[datetime, int]:
        if clock is None:
            raise NotAllowedError(
                "The platform clock is real time; start the server with --test-clock to set it.",
                "NO_TEST_CLOCK",
            )
        auth.check_role(who, Role.ADMIN, "set the clock")
        clock.set(check(ClockArgs, now=now).now)
        written = app.due.run()
        return clock.now(), written or app.head_position()

    return await mutate(info, CLOCK_SET, move)
