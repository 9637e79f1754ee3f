"""The unit of work every command runs in.

A command loads what it needs, lets the aggregates decide, and saves every
aggregate it touched in one atomic `save`. A concurrent writer makes that save
fail with `IntegrityError`; the command then reloads and decides again, so a
pledge that would break the max target or a cap under a race loses cleanly.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain.campaign import Campaign
from domain.cap_table import CapTable, cap_table_id
from domain.chain import ChainedAggregate
from domain.clock import Clock, SystemClock, business_time
from domain.email_index import EmailIndex, email_index_id
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    NotAllowedError,
    NotFoundError,
)
from domain.input import parse_id
from domain.offering_calendar import CALENDAR_ID, OfferingCalendar
from domain.pledge import Pledge
from domain.transcodings import StoredJSONTranscoder, domain_transcodings
from domain.user import RegCfHeadroom, Role, User

T = TypeVar("T")
A = TypeVar("A", bound=ChainedAggregate)


# What the decision being made has read: (aggregate id, version as loaded). With
# AGGREGATE_CACHE_FASTFORWARD=n another process's writes are invisible to this
# cache: the save's version check catches it for what a command writes, and
# `_refresh_if_stale` for what it only read (refusals and no-ops included).
_READ: ContextVar[list[tuple[UUID, int]] | None] = ContextVar("crowdfund_read", default=None)



@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command produced and the log position of the last event it wrote."""

    value: T
    position: int


Decision = tuple[T, Sequence[Aggregate]]



class UnitOfWork(Application[UUID]):
    """Loading, deciding under business time, saving atomically, retrying."""

    # How often a command decides again after losing a race before giving up.
    max_attempts = 12

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()
        # The at-rest key also keys e-mail index ids (see email_index_id).
        self.email_key: str | None = self.env.get("CIPHER_KEY") or None

    def construct_transcoder(self) -> StoredJSONTranscoder:
        transcoder = StoredJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in domain_transcodings():
            transcoder.register(transcoding)

    # The unit of work ------------------------------------------------------------

    def _run(self, decide: Callable[[datetime], Decision[T]]) -> Written[T]:
        for attempt in range(self.max_attempts):
            now = self.clock.now()
            read: list[tuple[UUID, int]] = []
            token = _READ.set(read)
            try:
                with business_time(now):
                    value, touched = decide(now)
            except DomainError:
                # A refusal must not rest on a copy another process has since changed.
                if self._refresh_if_stale(read):
                    continue
                raise
            finally:
                _READ.reset(token)
            written = {a.id for a in touched if a.pending_events}
            # The save's version check covers what is written; what was only read
            # (all of it, for a no-op) must not be a copy changed elsewhere either:
            # e.g. a pledge read as ACTIVE that another process made PENDING.
            if self._refresh_if_stale([r for r in read if r[0] not in written]):
                continue
            if not written:
                return Written(value, self.head_position())
            try:
                recordings = self.save(*touched)
            except IntegrityError:
                self._evict(touched)
                self._evict_ids(uid for uid, _ in read)
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            return Written(value, max(r.notification.id for r in recordings))
        raise ConcurrencyConflict("Too many people changed this at the same moment; try again.")

    def _refresh_if_stale(self, read: Iterable[tuple[UUID, int]]) -> bool:
        """Evict cached aggregates that have newer events in the store; True if any had.

        Checked on every attempt, not once per command: after an eviction another
        request may cache a copy that a write elsewhere makes stale in turn. The
        attempts are bounded, so a storm of writers ends in ConcurrencyConflict.
        An id read as missing counts as version 0: created meanwhile, it is stale.
        """
        stale = self._newer_in_store(list(read))
        self._evict_ids(stale)
        return bool(stale)

    def _newer_in_store(self, read: Sequence[tuple[UUID, int]]) -> set[UUID]:
        """The aggregates with events after the version read."""
        # Our PostgreSQL recorder answers for many streams in one query.
        latest_versions = getattr(self.recorder, "latest_versions", None)
        if latest_versions is not None and len(read) > 1:
            latest = latest_versions([uid for uid, _ in read])
            return {uid for uid, version in read if latest.get(uid, 0) > version}
        return {
            uid for uid, version in read if self.recorder.select_events(uid, gt=version, limit=1)
        }

    def _evict_ids(self, ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for uid in ids:
            with contextlib.suppress(KeyError):
                cache.get(uid, evict=True)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot saved aggregates from memory whenever they cross their interval.

        The library replays the stream up to each multiple of the interval from
        the store; the aggregate at hand already holds the state just saved,
        and a batch that crosses a multiple needs one snapshot, at its end.
        """
        if self.snapshots is None:
            return
        first_version: dict[UUID, int] = {}
        for event in processing_event.events:
            first_version.setdefault(event.originator_id, event.originator_version)
        for aggregate_id, first in first_version.items():
            aggregate = processing_event.aggregates.get(aggregate_id)
            if not isinstance(aggregate, Aggregate):
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and aggregate.version // interval > (first - 1) // interval:
                snapshot_class: Any = getattr(type(aggregate), "Snapshot", self.snapshot_class)
                self.snapshots.put([snapshot_class.take(aggregate)])

    def _evict(self, aggregates: Iterable[Aggregate]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            with contextlib.suppress(KeyError):
                cache.get(aggregate.id, evict=True)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def _load(self, cls: type[A], aggregate_id: UUID | str, what: str) -> A:
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

    def _calendar(self) -> OfferingCalendar:
        try:
            return self._load(OfferingCalendar, CALENDAR_ID, "calendar")
        except NotFoundError:
            return OfferingCalendar(id=CALENDAR_ID)  # type: ignore[call-arg]  # id goes to the aggregate metaclass

    # Reading the write model -----------------------------------------------------

    def user(self, user_id: UUID | str) -> User:
        return self._load(User, user_id, "user")

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        return self._load(Campaign, campaign_id, "campaign")

    def pledge_record(self, pledge_id: UUID | str) -> Pledge:
        return self._load(Pledge, pledge_id, "pledge")

    def cap_table(self, campaign_id: UUID | str) -> CapTable | None:
        try:
            return self._load(CapTable, cap_table_id(str(campaign_id)), "cap table")
        except NotFoundError:
            return None

    def user_by_email(self, email: str) -> User | None:
        try:
            index = self._load(EmailIndex, email_index_id(email, self.email_key), "e-mail")
        except NotFoundError:
            return None
        return self.user(index.user_id)

    def reg_cf_headroom(self, user_id: UUID | str) -> RegCfHeadroom:
        return self.user(user_id).reg_cf_headroom(self.clock.now())

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

    def _require_role(self, user_id: UUID | str, role: Role, doing: str) -> User:
        user = self.user(user_id)
        if not user.has_role(role):
            raise NotAllowedError(f"Only a user with the {role.value} role can {doing}.")
        return user
