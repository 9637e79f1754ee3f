"""Pledge commands: place one, place many in one transaction (group commit),
cancel, reconfirm. The rules are the domain's (`domain.pledging`,
`domain.cancellation`); this layer loads, decides in order and saves."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording

from application.due_work import DueWork
from application.unit_of_work import Decision, UnitOfWork, Written, backoff
from domain.campaign import Campaign, CampaignStatus
from domain.cancellation import require_cancellable
from domain.clock import business_time
from domain.errors import ConcurrencyConflict, DomainError, InvalidStateError, NotFoundError
from domain.input import parse_id, parse_idempotency_key
from domain.money import parse_amount
from domain.pledge import Pledge, pledge_id_for
from domain.pledging import (
    KnownPledge,
    Pledging,
    check_pledge,
    place_pledge,
    require_same_pledge,
    revoke_pledge,
)
from domain.user import User

# Pledges a batch can recognise as repeated without reading the store: about half
# a minute at the peak rate, ~100 bytes each. Older repeats cost one retried batch.
RECENT_PLEDGES = 250_000


@dataclass(frozen=True)
class PledgeRequest:
    """A pledge as a caller asks for it, before any input is checked."""

    backer_id: UUID | str
    campaign_id: UUID | str
    amount: object
    idempotency_key: str
    acknowledge_risk: bool = False


@dataclass(frozen=True, eq=False)
class WrittenPledge(Written[UUID]):
    """The answer to a pledge its batch placed: besides the pledge id and position, the
    pledge as its decision left it and the campaign's deadline then, so an answer can
    show the pledge without reading it and its campaign back from the store. The
    pledge aggregate is this answer's alone: the batch that made it is done with it."""

    pledge: Pledge | None = None
    deadline: datetime | None = None

    # It is the same answer as the plain `Written`: it compares as one.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Written):
            return (self.value, self.position) == (other.value, other.position)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.value, self.position))


def parse_pledge(request: PledgeRequest) -> Pledging:
    """Input checks of a pledge: refused before anything is loaded or stored."""
    value = parse_amount(request.amount, "amount")
    key = parse_idempotency_key(request.idempotency_key)
    # Canonical id: any spelling of the backer's UUID names the same pledge.
    backer_id = parse_id(request.backer_id, "user")
    return Pledging(
        backer_id=backer_id, campaign_id=request.campaign_id, amount=value,
        pledge_id=pledge_id_for(str(backer_id), key),
        acknowledge_risk=bool(request.acknowledge_risk),
    )


@dataclass(frozen=True)
class PlacedPledge:
    id: UUID
    campaign_id: str
    amount: Decimal


class RecentPledges:
    """The pledges this process placed lately, as much as an idempotency check needs.

    A batch takes an id missing here (and from the cache) to be new; if it is
    not, the insert conflicts and the batch is decided again from the store.
    Whole `Pledge` aggregates are not cached for this: at thousands a second
    they would push the backers out of the aggregate cache.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._placed: dict[UUID, PlacedPledge] = {}
        self._lock = threading.Lock()

    def get(self, pledge_id: UUID) -> PlacedPledge | None:
        return self._placed.get(pledge_id)

    def remember(self, pledges: Iterable[Pledge]) -> None:
        with self._lock:
            for pledge in pledges:
                self._placed[pledge.id] = PlacedPledge(pledge.id, pledge.campaign_id, pledge.amount)
            excess = len(self._placed) - self.size
            if excess > 0:  # oldest first: a dict keeps insertion order
                for stale in list(itertools.islice(self._placed, excess)):
                    del self._placed[stale]


class PledgeSource(Protocol):
    """Where a pledge decision gets its aggregates: the store, or a batch's working set."""

    def earlier_pledge(self, pledge_id: UUID) -> KnownPledge | None: ...

    def user(self, user_id: UUID | str) -> User: ...

    def campaign(self, campaign_id: UUID | str) -> Campaign: ...


class PledgeCommands:
    def __init__(self, uow: UnitOfWork, due: DueWork) -> None:
        self.uow = uow
        self.due = due
        self.recent = RecentPledges(RECENT_PLEDGES)

    def place(
        self, backer_id: UUID | str, campaign_id: UUID | str, amount: object,
        idempotency_key: str, acknowledge_risk: bool = False,
    ) -> Written[UUID]:
        """One pledge in its own transaction (`place_many` groups many into one)."""
        pledging = parse_pledge(
            PledgeRequest(backer_id, campaign_id, amount, idempotency_key, acknowledge_risk)
        )
        return self.uow.run(lambda now: decide_pledge(pledging, now, _StoreSource(self)))

    def place_many(
        self, requests: Sequence[PledgeRequest | Pledging]
    ) -> list[Written[UUID] | DomainError]:
        """Group commit: each pledge decided in arrival order, all saved in one transaction.

        Every request gets exactly the result it would have had alone after the
        ones before it: the same pledge id, or the same `DomainError`. All
        requests of the batch see the same campaign and backer aggregates, each
        loaded once. A concurrent writer elsewhere makes the save fail; the
        whole batch is then decided again from the store.
        """
        pledgings = [_parsed_or_error(request) for request in requests]
        conflicted = False
        for attempt in range(self.uow.max_attempts):
            # Until an insert conflicts, a pledge id unknown to this process is taken
            # to be new; if it exists after all, the insert conflicts and from then
            # on every id is looked up in the store.
            batch = _PledgeBatch(self, trust_cache=not conflicted)
            outcomes = batch.decide_all(pledgings)
            # A refusal must not rest on a copy changed elsewhere. Only what refused
            # pledges read is checked, in one query, and not what this batch writes:
            # the save's version check covers that. (A repeated key refuses or
            # answers on the pledge's own facts, which never change.)
            if self.uow.refresh_if_stale(batch.suspects()):
                conflicted = True  # e.g. a pledge id taken to be new exists after all
                continue
            if not batch.events:
                head = self.uow.head_position()
                return [o if isinstance(o, DomainError) else Written(o, head) for o in outcomes]
            try:
                # Each pledge's events stay together, in decision order: the log reads
                # as if the pledges had been made one at a time. New pledges are
                # remembered in `recent`, not cached (see there).
                recordings = self.uow.save_all(batch.events, batch.loaded())
            except IntegrityError:
                conflicted = True
                self.uow.evict(a.id for a in batch.loaded())
                backoff(attempt)
                continue
            self.recent.remember(batch.new_pledges.values())
            return batch.results(outcomes, recordings)
        return [
            ConcurrencyConflict("Too many people changed this at the same moment; try again.")
            for _ in requests
        ]

    def find(self, pledge_id: UUID) -> Pledge | None:
        try:
            return self.uow.pledge_record(pledge_id)
        except NotFoundError:
            return None

    def cancel(self, backer_id: UUID | str, pledge_id: UUID | str) -> Written[UUID]:
        """Within a cancellation window (`domain.cancellation`); after the deadline only
        an ECSP reflection period, and the campaign fails if that takes it below target."""
        uow = self.uow

        def decide(now: datetime) -> Decision[tuple[UUID, bool]]:
            pledge = uow.pledge_record(pledge_id)
            pledge.require_backer(str(backer_id))
            pledge.require_open("cancel the pledge")
            campaign = uow.campaign(pledge.campaign_id)
            require_cancellable(campaign, pledge, now)
            backer = uow.user(pledge.backer_id)
            touched = revoke_pledge(campaign, pledge, backer, now)
            failed = campaign.status is CampaignStatus.FAILED
            if failed:  # every other backer is refunded now
                calendar = uow.calendar()
                calendar.schedule(str(campaign.id), now)
                touched.append(calendar)
            return (pledge.id, failed), touched

        written = uow.run(decide)
        pledge_id_, failed = written.value
        position = written.position
        if failed:
            position = max(position, self.due.run_for(uow.pledge_record(pledge_id_).campaign_id))
        return Written(pledge_id_, position)

    def reconfirm(self, backer_id: UUID | str, pledge_id: UUID | str) -> Written[UUID]:
        uow = self.uow

        def decide(now: datetime) -> Decision[UUID]:
            pledge = uow.pledge_record(pledge_id)
            pledge.require_backer(str(backer_id))
            campaign = uow.campaign(pledge.campaign_id)
            campaign.require_status(CampaignStatus.LIVE, doing="reconfirm a pledge")
            campaign.require_before_deadline(now, doing="reconfirm a pledge")
            if pledge.reconfirm_by is not None and now >= pledge.reconfirm_by:
                raise InvalidStateError(
                    f"The reconfirmation window ended at {pledge.reconfirm_by.isoformat()}.",
                    "RECONFIRMATION_EXPIRED",
                )
            pledge.reconfirm(campaign.terms_version)
            return pledge.id, [pledge]

        return uow.run(decide)


def decide_pledge(pledging: Pledging, now: datetime, source: PledgeSource) -> Decision[UUID]:
    """The one decision for a pledge, alone or in a batch: every check, then every event.

    Nothing is mutated before the last check has passed, so a refused pledge
    leaves the aggregates of a batch as they were.
    """
    earlier = source.earlier_pledge(pledging.pledge_id)
    if earlier is not None:
        require_same_pledge(earlier, pledging)
        return earlier.id, []
    backer = source.user(pledging.backer_id)
    backer.require_not_staff("pledge")
    backer.require_verified_investor()
    campaign = source.campaign(pledging.campaign_id)
    shares = check_pledge(pledging, backer, campaign, now)
    return pledging.pledge_id, place_pledge(pledging, backer, campaign, shares, now)


def _parsed_or_error(request: PledgeRequest | Pledging) -> Pledging | DomainError:
    if isinstance(request, Pledging):
        return request  # parsed already, e.g. on the caller's thread by the pledge desk
    try:
        return parse_pledge(request)
    except DomainError as error:
        return error


class _StoreSource:
    """A single pledge's aggregates, freshly loaded from the repository."""

    def __init__(self, commands: PledgeCommands) -> None:
        self.commands = commands

    def earlier_pledge(self, pledge_id: UUID) -> KnownPledge | None:
        return self.commands.find(pledge_id)

    def user(self, user_id: UUID | str) -> User:
        return self.commands.uow.user(user_id)

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        return self.commands.uow.campaign(campaign_id)


class _PledgeBatch:
    """The working set of one group commit: each aggregate loaded once, the
    events of every accepted pledge collected in decision order."""

    def __init__(self, commands: PledgeCommands, *, trust_cache: bool) -> None:
        self.commands = commands
        self.uow = commands.uow
        self.trust_cache = trust_cache and self.uow.repository.cache is not None
        self.users: dict[UUID, User] = {}
        self.campaigns: dict[UUID, Campaign] = {}
        self.new_pledges: dict[UUID, Pledge] = {}
        self.events: list[DomainEventProtocol[UUID]] = []
        # Index in `events` of the last event of each pledge placed in this batch.
        self.last_event: dict[UUID, int] = {}
        # Freshness of refusals: versions as loaded, what the decision in progress
        # reads, what refused decisions read, what accepted ones write.
        self.loaded_version: dict[UUID, int] = {}
        self.reading: list[UUID] = []
        self.read_by_refusals: set[UUID] = set()
        self.written: set[UUID] = set()

    # PledgeSource ------------------------------------------------------------------

    def earlier_pledge(self, pledge_id: UUID) -> KnownPledge | None:
        placed = self.new_pledges.get(pledge_id)
        if placed is not None:
            return placed
        found = self._earlier_pledge(pledge_id)
        if found is None:
            # Taken to be new: a refusal resting on that must check the store.
            self.reading.append(pledge_id)
            self.loaded_version.setdefault(pledge_id, 0)
        return found

    def _earlier_pledge(self, pledge_id: UUID) -> KnownPledge | None:
        if not self.trust_cache:
            return self.commands.find(pledge_id)
        recent = self.commands.recent.get(pledge_id)
        if recent is not None:
            return recent
        cache = self.uow.repository.cache
        assert cache is not None
        try:
            cached = cache.get(pledge_id)  # e.g. placed by `pledge`; read only: no copy
        except KeyError:
            return None
        return cached if isinstance(cached, Pledge) else None

    def user(self, user_id: UUID | str) -> User:
        uid = parse_id(user_id, "user")
        self.reading.append(uid)
        user = self.users.get(uid)
        if user is None:
            user = self.users[uid] = self.uow.user(uid)
            self.loaded_version[uid] = user.version
        return user

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        uid = parse_id(campaign_id, "campaign")
        self.reading.append(uid)
        campaign = self.campaigns.get(uid)
        if campaign is None:
            campaign = self.campaigns[uid] = self.uow.campaign(uid)
            self.loaded_version[uid] = campaign.version
        return campaign

    # Deciding ----------------------------------------------------------------------

    def decide_all(self, pledgings: Sequence[Pledging | DomainError]) -> list[UUID | DomainError]:
        return [self._decide(p) if isinstance(p, Pledging) else p for p in pledgings]

    def _decide(self, pledging: Pledging) -> UUID | DomainError:
        now = self.uow.clock.now()
        self.reading.clear()
        try:
            with business_time(now):
                pledge_id, touched = decide_pledge(pledging, now, self)
        except DomainError as error:
            self.read_by_refusals.update(self.reading)
            return error  # raised before any event: the working set is unchanged
        if touched:
            for aggregate in touched:
                self.events.extend(aggregate.collect_events())
            self.written.update(self.reading)
            self.new_pledges[pledge_id] = cast(Pledge, touched[0])
            self.last_event[pledge_id] = len(self.events) - 1
        return pledge_id

    def loaded(self) -> list[Aggregate]:
        return [*self.users.values(), *self.campaigns.values()]

    def suspects(self) -> list[tuple[UUID, int]]:
        """What refusals rested on and the save will not version-check, as loaded."""
        return [
            (uid, self.loaded_version[uid])
            for uid in self.read_by_refusals - self.written
            if uid in self.loaded_version
        ]

    def results(
        self, outcomes: list[UUID | DomainError], recordings: Sequence[Recording[UUID]]
    ) -> list[Written[UUID] | DomainError]:
        """Each caller's own answer: its pledge id and the position of its pledge's last event.

        A key repeated from before the batch gets a position at or after the
        earlier pledge's events: the last one this batch wrote.
        """
        head = max(r.notification.id for r in recordings)
        answers: list[Written[UUID] | DomainError] = []
        for outcome in outcomes:
            if isinstance(outcome, DomainError):
                answers.append(outcome)
                continue
            index = self.last_event.get(outcome)
            if index is None:  # a key repeated from before the batch: no new pledge
                answers.append(Written(outcome, head))
                continue
            pledge = self.new_pledges[outcome]
            deadline = self.campaigns[parse_id(pledge.campaign_id, "campaign")].terms.deadline
            answers.append(WrittenPledge(outcome, recordings[index].notification.id,
                                        pledge, deadline))
        return answers
