"""The unit of work every command runs in.

A command loads what it needs, lets the aggregates decide, and saves every
aggregate it touched in one atomic `save`. A concurrent writer makes that save
fail with `IntegrityError`; the command then reloads and decides again, so a
pledge that would break the max target or a cap under a race loses cleanly.

The event store behind it is the eventsourcing library's, with our recorders
(`adapters.event_store`) chosen by the environment: they add the two reads this
layer needs beyond the library's interface (`EventLogRecorder`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Notification, Recording

from application.clock import SystemClock
from application.transcodings import domain_transcodings
from domain.campaign import Campaign
from domain.cap_table import CapTable, cap_table_id
from domain.chain import ChainedAggregate
from domain.clock import Clock, business_time
from domain.email_index import EmailIndex, email_index_id
from domain.errors import ConcurrencyConflict, DomainError, NotFoundError
from domain.input import parse_id
from domain.issuer import Issuer
from domain.offering_calendar import CALENDAR_ID, OfferingCalendar
from domain.pledge import Pledge
from domain.rulebook import RULEBOOKS, BusinessCalendar, Regime
from domain.user import Headroom, Role, User

T = TypeVar("T")
A = TypeVar("A", bound=ChainedAggregate)

# What the decision being made has read: (aggregate id, version as loaded). With
# AGGREGATE_CACHE_FASTFORWARD=n another process's writes are invisible to this
# cache: the save's version check catches it for what a command writes, and
# `refresh_if_stale` for what it only read (refusals and no-ops included).
_READ: ContextVar[list[tuple[UUID, int]] | None] = ContextVar("crowdfund_read", default=None)


@runtime_checkable
class EventLogRecorder(Protocol):
    """What the unit of work and the audit reads need of a recorder beyond the
    library's `ApplicationRecorder` (our recorders in `adapters.event_store` have it)."""

    def latest_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]: ...

    def stream_notifications(self, originator_id: UUID) -> list[Notification]: ...

    def notifications_at(self, positions: Sequence[int]) -> list[Notification]:
        """The stored events at these log positions (those that exist), in position order."""
        ...


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command produced and the log position of the last event it wrote."""

    value: T
    position: int


Decision = tuple[T, Sequence[Aggregate]]


class UnitOfWork(Application[UUID]):
    """Loading, deciding under business time, saving atomically, retrying."""

    is_snapshotting_enabled = True
    # Snapshots are taken from the aggregate just saved (see `_snapshot`), never by
    # replaying the store, so the library's own `snapshotting_intervals` stay unset.
    snapshot_intervals: ClassVar[dict[type[Aggregate], int]] = {
        Campaign: 200, User: 100, CapTable: 50, OfferingCalendar: 100, Issuer: 100,
    }
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        # Commands trust their cache: what they write is guarded by the version
        # check on save, what they only read by `refresh_if_stale`.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }
    # How often a command decides again after losing a race before giving up.
    max_attempts = 12

    def __init__(
        self, env: dict[str, str] | None = None, clock: Clock | None = None,
        business_calendars: Mapping[str, BusinessCalendar] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()
        # The holidays of each calendar a rulebook names (crowdfund.bootstrap builds them).
        self.business_calendars: Mapping[str, BusinessCalendar] = business_calendars or {}
        # The at-rest key also keys e-mail index ids (see email_index_id).
        self.email_key: str | None = self.env.get("CIPHER_KEY") or None
        if not isinstance(self.recorder, EventLogRecorder):
            raise TypeError(
                f"{type(self.recorder).__name__} lacks latest_versions/stream_notifications: "
                "configure a recorder of adapters.event_store"
            )
        self.streams: EventLogRecorder = self.recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in domain_transcodings():
            transcoder.register(transcoding)

    # Deciding and saving -------------------------------------------------------------

    def run(self, decide: Callable[[datetime], Decision[T]]) -> Written[T]:
        """`decide(now)` under business time, its aggregates saved atomically; decided
        again from fresh copies after losing a race (bounded: ConcurrencyConflict)."""
        for attempt in range(self.max_attempts):
            now = self.clock.now()
            read: list[tuple[UUID, int]] = []
            token = _READ.set(read)
            try:
                with business_time(now):
                    value, touched = decide(now)
            except DomainError:
                # A refusal must not rest on a copy another process has since changed.
                if self.refresh_if_stale(read):
                    continue
                raise
            finally:
                _READ.reset(token)
            written = {a.id for a in touched if a.pending_events}
            # The save's version check covers what is written; what was only read
            # (all of it, for a no-op) must not be a copy changed elsewhere either:
            # e.g. a pledge read as ACTIVE that another process made PENDING.
            if self.refresh_if_stale([r for r in read if r[0] not in written]):
                continue
            if not written:
                return Written(value, self.head_position())
            try:
                recordings = self.save_all([], touched)
            except IntegrityError:
                self.evict(a.id for a in touched)
                self.evict(uid for uid, _ in read)
                backoff(attempt)
                continue
            return Written(value, max(r.notification.id for r in recordings))
        raise ConcurrencyConflict("Too many people changed this at the same moment; try again.")

    def save_all(
        self, events: Sequence[DomainEventProtocol[UUID]], aggregates: Sequence[Aggregate]
    ) -> list[Recording[UUID]]:
        """`events` (already collected, in the order they were decided), then the pending
        events of `aggregates`, in one transaction; snapshots of those that crossed
        their interval."""
        first = _first_versions(events, aggregates)
        recordings = self.save(*events, *aggregates)
        self._snapshot(aggregates, first)
        return recordings

    def _snapshot(self, aggregates: Iterable[Aggregate], first: dict[UUID, int]) -> None:
        """Snapshot saved aggregates from memory whenever they cross their interval: a
        batch that crosses a multiple needs one snapshot, at its end."""
        if self.snapshots is None:
            return
        for aggregate in aggregates:
            interval = self.snapshot_intervals.get(type(aggregate))
            start = first.get(aggregate.id)
            if interval and start is not None and aggregate.version // interval > (
                start - 1
            ) // interval:
                snapshot_class: Any = getattr(type(aggregate), "Snapshot", self.snapshot_class)
                self.snapshots.put([snapshot_class.take(aggregate)])

    # Freshness of cached copies --------------------------------------------------------

    def refresh_if_stale(self, read: Iterable[tuple[UUID, int]]) -> bool:
        """Evict cached aggregates that have newer events in the store; True if any had.

        Checked on every attempt, not once per command: after an eviction another
        request may cache a copy that a write elsewhere makes stale in turn. The
        attempts are bounded, so a storm of writers ends in ConcurrencyConflict.
        An id read as missing counts as version 0: created meanwhile, it is stale.
        """
        read = list(read)
        if not read:
            return False
        latest = self.streams.latest_versions([uid for uid, _ in read])
        stale = {uid for uid, version in read if latest.get(uid, 0) > version}
        self.evict(stale)
        return bool(stale)

    def evict(self, ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for uid in ids:
            with contextlib.suppress(KeyError):
                cache.get(uid, evict=True)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # Loading -------------------------------------------------------------------------

    def load(self, cls: type[A], aggregate_id: UUID | str, what: str) -> A:
        """The aggregate, recorded as read by the decision in progress."""
        uid = parse_id(aggregate_id, what)
        read = _READ.get()
        try:
            aggregate: Aggregate = self.repository.get(uid)
        except AggregateNotFoundError:
            if read is not None:  # a decision may rest on its absence (a new pledge id)
                read.append((uid, 0))
            raise NotFoundError(f"No {what} with id {aggregate_id}.") from None
        if read is not None:
            read.append((uid, aggregate.version))
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"No {what} with id {aggregate_id}.")
        return aggregate

    def calendar(self) -> OfferingCalendar:
        try:
            return self.load(OfferingCalendar, CALENDAR_ID, "calendar")
        except NotFoundError:
            return OfferingCalendar(id=CALENDAR_ID)  # type: ignore[call-arg]  # id goes to the aggregate metaclass

    def user(self, user_id: UUID | str) -> User:
        return self.load(User, user_id, "user")

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        return self.load(Campaign, campaign_id, "campaign")

    def pledge_record(self, pledge_id: UUID | str) -> Pledge:
        return self.load(Pledge, pledge_id, "pledge")

    def holidays(self, regime: Regime) -> BusinessCalendar:
        """The calendar business days are counted on under `regime`."""
        name = RULEBOOKS[regime].business_calendar
        try:
            return self.business_calendars[name]
        except KeyError:
            raise LookupError(
                f"no {name} business calendar was given to the application "
                "(crowdfund.bootstrap.business_calendars builds them)"
            ) from None

    def issuer(self, issuer_id: UUID | str) -> Issuer:
        return self.load(Issuer, issuer_id, "issuer")

    def cap_table(self, campaign_id: UUID | str) -> CapTable | None:
        try:
            return self.load(CapTable, cap_table_id(str(campaign_id)), "cap table")
        except NotFoundError:
            return None

    def user_by_email(self, email: str) -> User | None:
        try:
            index = self.load(EmailIndex, email_index_id(email, self.email_key), "e-mail")
        except NotFoundError:
            return None
        return self.user(index.user_id)

    def headroom(self, user_id: UUID | str, regime: Regime) -> Headroom:
        """The investor's limit under `regime` and what counts against it, now."""
        return self.user(user_id).headroom(regime, self.clock.now())

    def reg_cf_headroom(self, user_id: UUID | str) -> Headroom:
        return self.headroom(user_id, Regime.REG_CF)

    def require_role(self, user_id: UUID | str, role: Role, doing: str) -> User:
        user = self.user(user_id)
        user.require_role(role, doing)
        return user

    def open_pledge_ids(self, campaign_id: UUID | str) -> list[str]:
        """Pledges still holding funds, read from the campaign's own stream.

        Rare, whole-campaign work (material changes, closing, settlement) pays
        this O(pledges) scan so that the hot pledge path stays O(1).
        """
        uid = parse_id(campaign_id, "campaign")
        open_ids: dict[str, None] = {}
        for ev in self.events.get(uid):
            ev = cast(Any, ev)
            name = type(ev).__name__
            if name == "PledgeAccepted":
                open_ids[ev.pledge_id] = None
            elif name == "PledgeReleased":
                open_ids.pop(ev.pledge_id, None)
            elif name == "EscrowReleased":
                for pid in ev.pledge_ids:
                    open_ids.pop(pid, None)
        return list(open_ids)


def backoff(attempt: int) -> None:
    """A short random pause after a lost race, longer with each attempt."""
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


def _first_versions(
    events: Iterable[DomainEventProtocol[UUID]], aggregates: Iterable[Aggregate]
) -> dict[UUID, int]:
    first: dict[UUID, int] = {}
    for event in events:
        first.setdefault(event.originator_id, event.originator_version)
    for aggregate in aggregates:
        for event in aggregate.pending_events:
            first.setdefault(event.originator_id, event.originator_version)
    return first
