"""Pledges: one at a time, or many decided in order and saved together."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Protocol, cast
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording

from domain.campaign import Campaign, CampaignStatus
from domain.clock import business_time
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidStateError,
    InvestmentLimitExceeded,
    NotFoundError,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.input import parse_id, parse_idempotency_key
from domain.money import ZERO, parse_amount
from domain.pledge import Pledge, PledgeStatus, pledge_id_for
from domain.rulebook import Regime, ecsp_risk_threshold
from domain.unit_of_work import Decision, UnitOfWork, Written
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


@dataclass(frozen=True)
class Pledging:
    """A pledge request with valid input: what the decision works on."""

    backer_id: UUID | str
    campaign_id: UUID | str
    amount: Decimal
    pledge_id: UUID
    acknowledge_risk: bool


class KnownPledge(Protocol):
    """What an idempotency check reads of an earlier pledge (a `Pledge` has it all)."""

    @property
    def id(self) -> UUID: ...

    @property
    def campaign_id(self) -> str: ...

    @property
    def amount(self) -> Decimal: ...


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



class PledgeCommands(UnitOfWork):
    @cached_property
    def recent_pledges(self) -> RecentPledges:
        return RecentPledges(RECENT_PLEDGES)
    # Pledges -----------------------------------------------------------------------

    def pledge(
        self, backer_id: UUID | str, campaign_id: UUID | str, amount: object,
        idempotency_key: str, acknowledge_risk: bool = False,
    ) -> Written[UUID]:
        """One pledge in its own transaction (`pledge_many` groups many into one)."""
        pledging = parse_pledge(
            PledgeRequest(backer_id, campaign_id, amount, idempotency_key, acknowledge_risk)
        )
        return self._run(lambda now: self._decide_pledge(pledging, now, _StoreSource(self)))

    def pledge_many(
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
        for attempt in range(self.max_attempts):
            # Until an insert conflicts, a pledge id unknown to this process is taken
            # to be new; if it exists after all, the insert conflicts and from then
            # on every id is looked up in the store.
            batch = _PledgeBatch(self, trust_cache=not conflicted)
            outcomes = batch.decide_all(pledgings)
            # A refusal must not rest on a copy changed elsewhere. Only what refused
            # pledges read is checked, in one query, and not what this batch writes:
            # the save's version check covers that. (A repeated key refuses or
            # answers on the pledge's own facts, which never change.)
            suspects = batch.suspects()
            if suspects and self._refresh_if_stale(suspects):
                conflicted = True  # e.g. a pledge id taken to be new exists after all
                continue
            if not batch.events:
                head = self.head_position()
                return [o if isinstance(o, DomainError) else Written(o, head) for o in outcomes]
            try:
                # New pledges are remembered in `recent_pledges`, not cached (see there).
                recordings = self._save_in_order(batch.events, batch.loaded())
            except IntegrityError:
                conflicted = True
                self._evict(batch.loaded())
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            self.recent_pledges.remember(batch.new_pledges.values())
            return batch.results(outcomes, recordings)
        return [
            ConcurrencyConflict("Too many people changed this at the same moment; try again.")
            for _ in requests
        ]

    def _save_in_order(
        self, events: list[DomainEventProtocol[UUID]], aggregates: Iterable[Aggregate]
    ) -> list[Recording[UUID]]:
        """`save` for events already collected in decision order, in one transaction.

        `Application.save` would group the events aggregate by aggregate; keeping
        each pledge's events together makes the log read as if the pledges had
        been made one at a time.
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        # Straight onto the list: `collect_events` checks each object against a
        # runtime Protocol, which costs more than the rest of the save.
        processing.events.extend(events)
        processing.aggregates.update((aggregate.id, aggregate) for aggregate in aggregates)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)
        return recordings

    def _decide_pledge(
        self, pledging: Pledging, now: datetime, source: PledgeSource
    ) -> Decision[UUID]:
        """The one decision for a pledge, alone or in a batch: every check, then every event.

        Nothing is mutated before the last check has passed, so a refused pledge
        leaves the aggregates of a batch as they were.
        """
        earlier = source.earlier_pledge(pledging.pledge_id)
        if earlier is not None:
            require_same_pledge(earlier, pledging)
            return earlier.id, []
        backer = source.user(pledging.backer_id)
        campaign, shares = self._check_pledge(pledging, backer, source, now)
        return pledging.pledge_id, self._place_pledge(pledging, backer, campaign, shares, now)

    @staticmethod
    def _check_pledge(
        pledging: Pledging, backer: User, source: PledgeSource, now: datetime
    ) -> tuple[Campaign, int]:
        """Every rule a pledge must pass, in the order the errors take precedence."""
        profile = backer.require_verified_investor()
        campaign = source.campaign(pledging.campaign_id)
        value = pledging.amount
        shares = campaign.check_pledge(value, now)
        if campaign.regime is Regime.REG_CF:
            headroom = backer.reg_cf_headroom(now)
            if headroom.limit is not None and headroom.used + value > headroom.limit:
                raise InvestmentLimitExceeded(
                    headroom.limit, headroom.remaining or ZERO, campaign.currency
                )
        elif not profile.sophisticated:
            if not profile.knowledge_test_passed:
                raise InvalidStateError(
                    "Pass the entry knowledge test in your investor profile before "
                    "pledging to an ECSP offering.", "KNOWLEDGE_TEST_REQUIRED",
                )
            threshold = ecsp_risk_threshold(profile.net_worth)
            if value > threshold and not pledging.acknowledge_risk:
                raise RiskAcknowledgementRequired(threshold, campaign.currency)
        return campaign, shares

    def _place_pledge(
        self, pledging: Pledging, backer: User, campaign: Campaign, shares: int, now: datetime
    ) -> list[Aggregate]:
        """The events of an accepted pledge; raises no `DomainError`."""
        value, pledge_id = pledging.amount, pledging.pledge_id
        pledge = Pledge(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            campaign_id=str(campaign.id), backer_id=str(backer.id),
            regime=campaign.regime.value, currency=campaign.currency, amount=value,
            shares=shares, pledged_at=now, terms_version=campaign.terms_version,
            risk_acknowledged=pledging.acknowledge_risk,
            cancellable_until=self._cancellable_until(campaign, now), id=pledge_id,
        )
        campaign.accept_pledge(str(pledge_id), str(backer.id), value, shares)
        backer.commit_investment(
            str(pledge_id), str(campaign.id), campaign.regime.value, value, now
        )
        return [pledge, campaign, backer]

    def _find_pledge(self, pledge_id: UUID) -> Pledge | None:
        try:
            return self.pledge_record(pledge_id)
        except NotFoundError:
            return None

    @staticmethod
    def _cancellable_until(campaign: Campaign, now: datetime) -> datetime | None:
        rules = campaign.rules
        if rules.reflection_period is not None:
            # The full reflection period (Art. 22); the deadline, wherever it
            # moves, ends it sooner, since nothing changes after the deadline.
            return now + rules.reflection_period
        cutoff = campaign.cancellation_deadline()
        return cutoff if cutoff is not None and now < cutoff else None

    def cancel_pledge(self, backer_id: UUID | str, pledge_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            pledge = self.pledge_record(pledge_id)
            pledge.require_backer(str(backer_id))
            pledge.require_open("cancel the pledge")
            campaign = self.campaign(pledge.campaign_id)
            campaign.require_status(CampaignStatus.LIVE, doing="cancel a pledge")
            campaign.require_before_deadline(now, doing="cancel a pledge")
            self._require_cancellation_window(campaign, pledge, now)
            backer = self.user(pledge.backer_id)
            pledge.cancel("cancelled by the backer")
            return pledge.id, self._release(campaign, pledge, backer, "cancelled")

        return self._run(decide)

    @staticmethod
    def _require_cancellation_window(campaign: Campaign, pledge: Pledge, now: datetime) -> None:
        if pledge.status is PledgeStatus.PENDING_RECONFIRMATION:
            return  # a material change reopens the right to walk away
        until = (
            pledge.cancellable_until
            if campaign.rules.reflection_period is not None
            else campaign.cancellation_deadline()
        )
        if until is None or now >= until:
            when = f" ended at {until.isoformat()}" if until else " does not apply"
            raise InvalidStateError(
                f"This pledge can no longer be cancelled: the cancellation window{when}.",
                "CANCELLATION_WINDOW_CLOSED",
            )

    def reconfirm_pledge(self, backer_id: UUID | str, pledge_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            pledge = self.pledge_record(pledge_id)
            pledge.require_backer(str(backer_id))
            campaign = self.campaign(pledge.campaign_id)
            campaign.require_status(CampaignStatus.LIVE, doing="reconfirm a pledge")
            campaign.require_before_deadline(now, doing="reconfirm a pledge")
            if pledge.reconfirm_by is not None and now >= pledge.reconfirm_by:
                raise InvalidStateError(
                    f"The reconfirmation window ended at {pledge.reconfirm_by.isoformat()}.",
                    "RECONFIRMATION_EXPIRED",
                )
            pledge.reconfirm(campaign.terms_version)
            return pledge.id, [pledge]

        return self._run(decide)

    @staticmethod
    def _release(campaign: Campaign, pledge: Pledge, backer: User, reason: str) -> list[Aggregate]:
        campaign.release_pledge(str(pledge.id), pledge.backer_id, pledge.amount, reason)
        backer.release_investment(str(pledge.id))
        return [pledge, campaign, backer]


# Pledges: sources of aggregates and the group-commit batch. ---------------------


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


def _parsed_or_error(request: PledgeRequest | Pledging) -> Pledging | DomainError:
    if isinstance(request, Pledging):
        return request  # parsed already, e.g. on the caller's thread by the pledge desk
    try:
        return parse_pledge(request)
    except DomainError as error:
        return error


def require_same_pledge(earlier: KnownPledge, pledging: Pledging) -> None:
    """A repeated idempotency key must repeat the same pledge."""
    try:  # any spelling of the same campaign's UUID is the same campaign
        campaign_id = str(UUID(str(pledging.campaign_id)))
    except ValueError:
        campaign_id = str(pledging.campaign_id)
    if earlier.campaign_id != campaign_id or earlier.amount != pledging.amount:
        raise ValidationError(
            "This idempotency key was already used for a different pledge; "
            "use a new key for a new pledge.", "idempotencyKey", "IDEMPOTENCY_KEY_REUSED",
        )


class _StoreSource:
    """A single pledge's aggregates, freshly loaded from the repository."""

    def __init__(self, app: PledgeCommands) -> None:
        self.app = app

    def earlier_pledge(self, pledge_id: UUID) -> KnownPledge | None:
        return self.app._find_pledge(pledge_id)

    def user(self, user_id: UUID | str) -> User:
        return self.app.user(user_id)

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        return self.app.campaign(campaign_id)


class _PledgeBatch:
    """The working set of one group commit: each aggregate loaded once, the
    events of every accepted pledge collected in decision order."""

    def __init__(self, app: PledgeCommands, *, trust_cache: bool) -> None:
        self.app = app
        self.trust_cache = trust_cache and app.repository.cache is not None
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
            return self.app._find_pledge(pledge_id)
        recent = self.app.recent_pledges.get(pledge_id)
        if recent is not None:
            return recent
        cache = self.app.repository.cache
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
            user = self.users[uid] = self.app.user(uid)
            self.loaded_version[uid] = user.version
        return user

    def campaign(self, campaign_id: UUID | str) -> Campaign:
        uid = parse_id(campaign_id, "campaign")
        self.reading.append(uid)
        campaign = self.campaigns.get(uid)
        if campaign is None:
            campaign = self.campaigns[uid] = self.app.campaign(uid)
            self.loaded_version[uid] = campaign.version
        return campaign

    # Deciding ----------------------------------------------------------------------

    def decide_all(self, pledgings: Sequence[Pledging | DomainError]) -> list[UUID | DomainError]:
        return [self._decide(p) if isinstance(p, Pledging) else p for p in pledgings]

    def _decide(self, pledging: Pledging) -> UUID | DomainError:
        now = self.app.clock.now()
        self.reading.clear()
        try:
            with business_time(now):
                pledge_id, touched = self.app._decide_pledge(pledging, now, self)
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
            position = head if index is None else recordings[index].notification.id
            answers.append(Written(outcome, position))
        return answers
