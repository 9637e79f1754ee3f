"""The write side: one application service with a verb per business command.

Every command loads what it needs, lets the aggregates decide, and saves every
aggregate it touched in one atomic `save`. A concurrent writer makes that save
fail with `IntegrityError`; the command then reloads and decides again, so a
pledge that would break the max target or a cap under a race loses cleanly.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Generic, Protocol, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording

from domain.campaign import Campaign, CampaignStatus, CampaignTerms, deadline_guard
from domain.cap_table import CapTable, cap_table_id
from domain.chain import ChainedAggregate
from domain.clock import Clock, SystemClock, business_time
from domain.email_index import EmailIndex, email_index_id
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidStateError,
    InvestmentLimitExceeded,
    NotAllowedError,
    NotFoundError,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.money import ZERO, parse_amount
from domain.offering_calendar import CALENDAR_ID, OfferingCalendar
from domain.pledge import Pledge, PledgeStatus, pledge_id_for
from domain.rulebook import RULEBOOKS, Regime, ecsp_risk_threshold
from domain.transcodings import StoredJSONTranscoder, domain_transcodings
from domain.user import EVERYONE, RegCfHeadroom, Role, User

T = TypeVar("T")
A = TypeVar("A", bound=ChainedAggregate)

MAX_ATTEMPTS = 12
# What the decision being made has read: (aggregate id, version as loaded). With
# AGGREGATE_CACHE_FASTFORWARD=n another process's writes are invisible to this
# cache: the save's version check catches it for what a command writes, and
# `_refresh_if_stale` for what it only read (refusals and no-ops included).
_READ: ContextVar[list[tuple[UUID, int]] | None] = ContextVar("crowdfund_read", default=None)
# Bulk work (settlement, refunds, reconfirmation requests) is saved in chunks
# so that one transaction never grows with the size of a campaign.
CHUNK = 500
ADULT_AGE_YEARS = 18
# Pledges a batch can recognise as repeated without reading the store: about half
# a minute at the peak rate, ~100 bytes each. Older repeats cost one retried batch.
RECENT_PLEDGES = 250_000


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command produced and the log position of the last event it wrote."""

    value: T
    position: int


Decision = tuple[T, Sequence[Aggregate]]


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


class Crowdfund(Application[UUID]):
    name = "Crowdfund"
    is_snapshotting_enabled = True
    snapshotting_intervals = {Campaign: 200, User: 100, CapTable: 50, OfferingCalendar: 100}
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        # One process writes most aggregates; a stale cache entry is caught by the
        # version check on save, evicted, and the command decides again.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()
        # The at-rest key also keys e-mail index ids (see email_index_id).
        self.email_key: str | None = self.env.get("CIPHER_KEY") or None
        self.recent_pledges = RecentPledges(RECENT_PLEDGES)

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
        reloaded: set[UUID] = set()  # evicted during this command: read fresh since
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock.now()
            read: list[tuple[UUID, int]] = []
            token = _READ.set(read)
            try:
                with business_time(now):
                    value, touched = decide(now)
            except DomainError:
                # A refusal must not rest on a copy another process has since changed.
                if self._refresh_if_stale(read, reloaded):
                    continue
                raise
            finally:
                _READ.reset(token)
            written = {a.id for a in touched if a.pending_events}
            # The save's version check covers what is written; what was only read
            # (all of it, for a no-op) must not be a copy changed elsewhere either:
            # e.g. a pledge read as ACTIVE that another process made PENDING.
            if self._refresh_if_stale([r for r in read if r[0] not in written], reloaded):
                continue
            if not written:
                return Written(value, self.head_position())
            try:
                recordings = self.save(*touched)
            except IntegrityError:
                self._evict(touched)
                self._evict_ids(uid for uid, _ in read)
                reloaded.update(uid for uid, _ in read)
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            return Written(value, max(r.notification.id for r in recordings))
        raise ConcurrencyConflict("Too many people changed this at the same moment; try again.")

    def _refresh_if_stale(
        self, read: Iterable[tuple[UUID, int]], reloaded: set[UUID] | None = None
    ) -> bool:
        """Evict cached aggregates that have newer events in the store; True if any had.

        Each aggregate is refreshed at most once per command (`reloaded`): a copy
        read from the store during the command is fresh enough to refuse on, and
        a storm of writers elsewhere cannot keep a refusal retrying.
        """
        if self.repository.cache is None:
            return False
        done = reloaded if reloaded is not None else set()
        stale = self._newer_in_store([(uid, v) for uid, v in read if uid not in done])
        self._evict_ids(stale)
        done.update(stale)
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
        try:
            aggregate: Aggregate = self.repository.get(uid)
        except AggregateNotFoundError:
            raise NotFoundError(f"No {what} with id {aggregate_id}.") from None
        read = _READ.get()
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

    # Accounts and roles ------------------------------------------------------------

    def register_user(
        self, email: str, display_name: str, password_hash: str, roles: Sequence[Role] = EVERYONE
    ) -> Written[UUID]:
        email = email.strip().lower()
        display_name = display_name.strip()
        if not display_name or len(display_name) > 100:
            raise ValidationError("Display name must be 1 to 100 characters.", "displayName")

        def decide(now: datetime) -> Decision[UUID]:
            if self.user_by_email(email) is not None:
                raise ValidationError(
                    "An account with this e-mail address already exists; sign in instead.",
                    "email", "EMAIL_TAKEN",
                )
            user = User(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                email=email, display_name=display_name, password_hash=password_hash,
                roles=[r.value for r in roles], id=uuid4(),
            )
            index = EmailIndex(user_id=str(user.id), id=email_index_id(email, self.email_key))  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            return user.id, [user, index]

        return self._run(decide)

    def grant_role(self, admin_id: UUID | str, user_id: UUID | str, role: Role) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            self._require_role(admin_id, Role.ADMIN, "grant roles")
            user = self.user(user_id)
            user.grant_role(role)
            return user.id, [user]

        return self._run(decide)

    def bootstrap_admin(self, email: str, password_hash: str) -> UUID:
        """The first admin, from the environment: created if absent, made admin if not."""
        existing = self.user_by_email(email)
        if existing is None:
            roles = (*EVERYONE, Role.ADMIN)
            return self.register_user(email, "Administrator", password_hash, roles).value
        if not existing.has_role(Role.ADMIN):

            def decide(now: datetime) -> Decision[UUID]:
                user = self.user(existing.id)
                user.grant_role(Role.ADMIN)
                return user.id, [user]

            self._run(decide)
        return existing.id

    def _require_role(self, user_id: UUID | str, role: Role, doing: str) -> User:
        user = self.user(user_id)
        if not user.has_role(role):
            raise NotAllowedError(f"Only a user with the {role.value} role can {doing}.")
        return user

    # Investor profile and KYC ------------------------------------------------------

    def submit_investor_profile(
        self, user_id: UUID | str, *, legal_name: str, date_of_birth: str, country: str,
        annual_income: object, net_worth: object, accredited: bool = False,
        sophisticated: bool = False, other_reg_cf_investments_12m: object = "0",
        knowledge_test_passed: bool = False,
    ) -> Written[UUID]:
        legal_name = legal_name.strip()
        if not legal_name or len(legal_name) > 200:
            raise ValidationError("Legal name must be 1 to 200 characters.", "legalName")
        country = country.strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise ValidationError("Country must be an ISO 3166-1 alpha-2 code such as US or DE.",
                                  "country")
        income = parse_amount(annual_income, "annualIncome", allow_zero=True)
        worth = parse_amount(net_worth, "netWorth", allow_zero=True)
        other = parse_amount(other_reg_cf_investments_12m, "otherRegCfInvestments12m",
                             allow_zero=True)

        def decide(now: datetime) -> Decision[UUID]:
            born = parse_birth_date(date_of_birth, now)
            user = self.user(user_id)
            user.submit_profile(
                legal_name=legal_name, date_of_birth=born.isoformat(), country=country,
                annual_income=income, net_worth=worth, accredited=bool(accredited),
                sophisticated=bool(sophisticated), other_reg_cf_investments_12m=other,
                knowledge_test_passed=bool(knowledge_test_passed),
            )
            return user.id, [user]

        return self._run(decide)

    def verify_investor(self, officer_id: UUID | str, user_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            user = self._kyc_subject(officer_id, user_id, "verify investors")
            user.verify(str(officer_id))
            return user.id, [user]

        return self._run(decide)

    def reject_investor(
        self, officer_id: UUID | str, user_id: UUID | str, reason: str
    ) -> Written[UUID]:
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            user = self._kyc_subject(officer_id, user_id, "reject investors")
            user.reject(str(officer_id), reason)
            return user.id, [user]

        return self._run(decide)

    def _kyc_subject(self, officer_id: UUID | str, user_id: UUID | str, doing: str) -> User:
        self._require_role(officer_id, Role.RISK_OFFICER, doing)
        if str(officer_id) == str(user_id):
            raise NotAllowedError("A risk officer cannot review their own investor profile.")
        return self.user(user_id)

    # Campaign lifecycle ------------------------------------------------------------

    def draft_campaign(
        self, founder_id: UUID | str, *, title: str, summary: str, regime: Regime | str,
        min_target: object, max_target: object, min_pledge: object, price_per_share: object,
        deadline: datetime,
    ) -> Written[UUID]:
        rules = RULEBOOKS[parse_regime(regime)]
        terms = CampaignTerms(
            title=title.strip(), summary=summary.strip(),
            min_target=parse_amount(min_target, "minTarget"),
            max_target=parse_amount(max_target, "maxTarget"),
            min_pledge=parse_amount(min_pledge, "minPledge"),
            price_per_share=parse_amount(price_per_share, "pricePerShare"),
            deadline=deadline,
        )
        terms.check(rules)

        def decide(now: datetime) -> Decision[UUID]:
            deadline_guard(terms.deadline, now)
            self.user(founder_id)
            campaign = Campaign(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                founder_id=str(founder_id), regime=rules.regime.value, currency=rules.currency,
                id=uuid4(), **terms.as_event_fields(),
            )
            return campaign.id, [campaign]

        return self._run(decide)

    def amend_campaign(
        self, founder_id: UUID | str, campaign_id: UUID | str, changes: dict[str, Any]
    ) -> Written[UUID]:
        parsed = parse_term_changes(changes)

        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            if "deadline" in parsed:
                deadline_guard(parsed["deadline"], now)
            changed = sorted(k for k, v in parsed.items() if getattr(campaign.terms, k) != v)
            material = campaign.amend(parsed, now)
            touched: list[Aggregate] = [campaign]
            if material:
                touched += self._request_reconfirmations(campaign, changed)
            return campaign.id, touched

        return self._run(decide)

    def _request_reconfirmations(self, campaign: Campaign, changed: list[str]) -> list[Aggregate]:
        """A material change: every open pledge must be reconfirmed (Rule 304(c))."""
        assert campaign.reconfirm_by is not None
        what = ", ".join(name.replace("_", " ") for name in changed)
        campaign.post_update(
            update_id=str(uuid4()), title="Material change to the offering",
            body=f"The terms of this offering changed ({what}). Reconfirm your pledge by "
            f"{campaign.reconfirm_by.isoformat()} or it will be cancelled and refunded.",
            material=True,
        )
        touched: list[Aggregate] = []
        for pid in self.open_pledge_ids(campaign.id):
            pledge = self.pledge_record(pid)
            pledge.request_reconfirmation(campaign.reconfirm_by, campaign.terms_version)
            touched.append(pledge)
        calendar = self._calendar()
        calendar.schedule(str(campaign.id), min(campaign.terms.deadline, campaign.reconfirm_by))
        return [*touched, calendar]

    def submit_campaign(self, founder_id: UUID | str, campaign_id: UUID | str) -> Written[UUID]:
        return self._founder_step(founder_id, campaign_id, lambda c, now: c.submit())

    def launch_campaign(self, founder_id: UUID | str, campaign_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.launch(now)
            calendar = self._calendar()
            calendar.schedule(str(campaign.id), campaign.terms.deadline)
            return campaign.id, [campaign, calendar]

        return self._run(decide)

    def close_early(
        self, founder_id: UUID | str, campaign_id: UUID | str, new_deadline: datetime
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.close_early(new_deadline, now)
            calendar = self._calendar()
            calendar.schedule(str(campaign.id), self._next_due(campaign))
            return campaign.id, [campaign, calendar]

        return self._run(decide)

    def _founder_step(
        self, founder_id: UUID | str, campaign_id: UUID | str,
        step: Callable[[Campaign, datetime], None],
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            step(campaign, now)
            return campaign.id, [campaign]

        return self._run(decide)

    def approve_campaign(self, officer_id: UUID | str, campaign_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            self._require_role(officer_id, Role.RISK_OFFICER, "approve campaigns")
            campaign = self.campaign(campaign_id)
            campaign.approve(str(officer_id))
            return campaign.id, [campaign]

        return self._run(decide)

    def reject_campaign(
        self, officer_id: UUID | str, campaign_id: UUID | str, reason: str
    ) -> Written[UUID]:
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            self._require_role(officer_id, Role.RISK_OFFICER, "reject campaigns")
            campaign = self.campaign(campaign_id)
            campaign.reject(str(officer_id), reason)
            return campaign.id, [campaign]

        return self._run(decide)

    def cancel_campaign(
        self, actor_id: UUID | str, campaign_id: UUID | str, reason: str
    ) -> Written[UUID]:
        """The founder, a risk officer or an admin withdraws the offering; backers are refunded."""
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            actor = self.user(actor_id)
            campaign = self.campaign(campaign_id)
            staff = actor.has_role(Role.RISK_OFFICER) or actor.has_role(Role.ADMIN)
            if not staff:
                campaign.require_founder(str(actor.id))
            campaign.cancel(str(actor.id), reason)
            calendar = self._calendar()
            if campaign.open_pledges:
                calendar.schedule(str(campaign.id), now)
            else:
                calendar.unschedule(str(campaign.id))
            return campaign.id, [campaign, calendar]

        written = self._run(decide)
        last = self.run_due_for(written.value)
        return Written(written.value, max(written.position, last))

    def post_update(
        self, founder_id: UUID | str, campaign_id: UUID | str, title: str, body: str
    ) -> Written[str]:
        title, body = title.strip(), body.strip()
        if not title or len(title) > 200:
            raise ValidationError("The update needs a title of 1 to 200 characters.", "title")
        if not body or len(body) > 20000:
            raise ValidationError("The update needs a body of 1 to 20000 characters.", "body")

        def decide(now: datetime) -> Decision[str]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.require_status(
                CampaignStatus.LIVE, CampaignStatus.FUNDED, CampaignStatus.SETTLED,
                doing="post an update",
            )
            update_id = str(uuid4())
            campaign.post_update(update_id=update_id, title=title, body=body, material=False)
            return update_id, [campaign]

        return self._run(decide)

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
        reloaded: set[UUID] = set()  # as in `_run`
        conflicted = False
        for attempt in range(MAX_ATTEMPTS):
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
            if suspects and self._refresh_if_stale(suspects, reloaded):
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
                reloaded.update(a.id for a in batch.loaded())
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
            return min(now + rules.reflection_period, campaign.terms.deadline)
        cutoff = campaign.cancellation_deadline()
        return cutoff if cutoff is not None and now < cutoff else None

    def cancel_pledge(self, backer_id: UUID | str, pledge_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            pledge = self.pledge_record(pledge_id)
            pledge.require_backer(str(backer_id))
            pledge.require_open("cancel the pledge")
            campaign = self.campaign(pledge.campaign_id)
            campaign.require_status(CampaignStatus.LIVE, doing="cancel a pledge")
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

    # Distributions -------------------------------------------------------------------

    def declare_distribution(
        self, founder_id: UUID | str, campaign_id: UUID | str, total: object
    ) -> Written[UUID]:
        amount = parse_amount(total, "total")

        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.require_status(CampaignStatus.SETTLED, doing="declare a distribution")
            table = self.cap_table(campaign.id)
            if table is None:
                raise InvalidStateError("No shares have been issued yet.", "NO_SHAREHOLDERS")
            distribution_id = uuid4()
            table.declare_distribution(str(distribution_id), amount)
            return distribution_id, [table]

        return self._run(decide)

    # What falls due: deadlines, reconfirmations, settlement, refunds ----------------

    def run_due(self) -> int:
        """Do everything that has fallen due; returns the last position written (0: none)."""
        last = 0
        try:
            calendar = self._load(OfferingCalendar, CALENDAR_ID, "calendar")
        except NotFoundError:
            return 0  # nothing was ever scheduled
        # Other processes schedule campaigns too: never miss one for a stale copy.
        if self._refresh_if_stale([(calendar.id, calendar.version)]):
            calendar = self._calendar()
        for campaign_id in calendar.due_by(self.clock.now()):
            last = max(last, self.run_due_for(campaign_id))
        return last

    def run_due_for(self, campaign_id: UUID | str) -> int:
        """Advance one campaign as far as the clock allows; safe to repeat or race."""
        last = 0
        steps: list[Callable[[str, datetime], Decision[bool]]] = [
            self._expire_reconfirmations, self._close_at_deadline, self._settle_chunk,
            self._refund_chunk, self._update_calendar,
        ]
        for step in steps:
            while True:
                written = self._run(partial(step, str(campaign_id)))
                if not written.value:
                    break
                last = max(last, written.position)
        return last

    def _pending_pledges(self, campaign: Campaign, limit: int) -> list[Pledge]:
        pending = []
        for pid in self.open_pledge_ids(campaign.id):
            pledge = self.pledge_record(pid)
            if pledge.status is PledgeStatus.PENDING_RECONFIRMATION:
                pending.append(pledge)
                if len(pending) >= limit:
                    break
        return pending

    def _cancel_pending(self, campaign: Campaign, reason: str) -> list[Aggregate]:
        touched: list[Aggregate] = []
        backers: dict[str, User] = {}
        for pledge in self._pending_pledges(campaign, CHUNK):
            backer = backers.get(pledge.backer_id) or self.user(pledge.backer_id)
            backers[pledge.backer_id] = backer
            pledge.cancel(reason)
            campaign.release_pledge(str(pledge.id), pledge.backer_id, pledge.amount, "cancelled")
            backer.release_investment(str(pledge.id))
            touched.append(pledge)
        return [*touched, *backers.values()]

    def _expire_reconfirmations(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.campaign(campaign_id)
        if campaign.status is not CampaignStatus.LIVE or not campaign.reconfirmation_window_closed(
            now
        ):
            return False, []
        touched = self._cancel_pending(campaign, "not reconfirmed after a material change")
        if len(touched) == 0:
            campaign.close_reconfirmation_window()
        return True, [campaign, *touched]

    def _close_at_deadline(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.campaign(campaign_id)
        if not campaign.is_due_to_close(now):
            return False, []
        # Pending reconfirmations lapse before the target is compared.
        touched = self._cancel_pending(campaign, "not reconfirmed by the deadline")
        if not touched:
            campaign.close()
        return True, [campaign, *touched]

    def _settle_chunk(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.campaign(campaign_id)
        if campaign.status is not CampaignStatus.FUNDED:
            return False, []
        table = self.cap_table(campaign.id) or CapTable(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            campaign_id=str(campaign.id), price_per_share=campaign.terms.price_per_share,
            currency=campaign.currency, id=cap_table_id(str(campaign.id)),
        )
        pledges = [self.pledge_record(p) for p in self.open_pledge_ids(campaign.id)[:CHUNK]]
        if not pledges:
            campaign.settle()
            return True, [campaign, table]
        issues = []
        for pledge in pledges:
            pledge.settle()
            issues.append({
                "pledge_id": str(pledge.id), "backer_id": pledge.backer_id,
                "shares": pledge.shares, "amount": pledge.amount,
            })
        table.issue_shares(issues)
        campaign.release_escrow(sum((p.amount for p in pledges), ZERO),
                                [str(p.id) for p in pledges])
        return True, [campaign, table, *pledges]

    def _refund_chunk(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.campaign(campaign_id)
        if campaign.status not in (CampaignStatus.FAILED, CampaignStatus.CANCELLED):
            return False, []
        pledge_ids = self.open_pledge_ids(campaign.id)[:CHUNK]
        if not pledge_ids:
            return False, []
        failed = campaign.status is CampaignStatus.FAILED
        reason = "campaign failed" if failed else "campaign cancelled"
        touched: list[Aggregate] = [campaign]
        backers: dict[str, User] = {}
        for pid in pledge_ids:
            pledge = self.pledge_record(pid)
            backer = backers.get(pledge.backer_id) or self.user(pledge.backer_id)
            backers[pledge.backer_id] = backer
            pledge.refund(reason)
            campaign.release_pledge(pid, pledge.backer_id, pledge.amount, "refunded")
            backer.release_investment(pid)
            touched.append(pledge)
        return True, [*touched, *backers.values()]

    def _update_calendar(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.campaign(campaign_id)
        calendar = self._calendar()
        done = campaign.open_pledges == 0 and campaign.status in (
            CampaignStatus.SETTLED, CampaignStatus.FAILED, CampaignStatus.CANCELLED
        )
        if done:
            calendar.unschedule(campaign_id)
        elif campaign.status is CampaignStatus.LIVE:
            calendar.schedule(campaign_id, self._next_due(campaign))
        return False, [calendar]

    @staticmethod
    def _next_due(campaign: Campaign) -> datetime:
        if campaign.reconfirm_by is not None:
            return min(campaign.terms.deadline, campaign.reconfirm_by)
        return campaign.terms.deadline


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

    def __init__(self, app: Crowdfund) -> None:
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

    def __init__(self, app: Crowdfund, *, trust_cache: bool) -> None:
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


# Parsing input: bad input is refused before anything is loaded or stored. --------


def parse_id(value: UUID | str, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFoundError(f"No {what} with id {str(value)[:64]!r}.") from None


def parse_regime(value: Regime | str) -> Regime:
    if isinstance(value, Regime):
        return value
    try:
        return Regime(value)
    except ValueError:
        raise ValidationError("Regime must be REG_CF or ECSP.", "regime") from None


def parse_idempotency_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 128 or not key.isprintable():
        raise ValidationError(
            "idempotencyKey must be 1 to 128 printable characters.", "idempotencyKey"
        )
    return key


def parse_birth_date(value: str, now: datetime) -> date:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("Date of birth must be a date such as 1990-04-30.",
                              "dateOfBirth") from None
    today = now.date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < ADULT_AGE_YEARS:
        raise ValidationError("Investors must be at least 18 years old.", "dateOfBirth")
    if born.year < today.year - 130:
        raise ValidationError("Date of birth is not plausible.", "dateOfBirth")
    return born


def require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > 2000:
        raise ValidationError("Give a reason of 1 to 2000 characters.", "reason")
    return reason


_CAMEL = {
    "title": "title", "summary": "summary", "minTarget": "min_target",
    "maxTarget": "max_target", "minPledge": "min_pledge", "pricePerShare": "price_per_share",
    "deadline": "deadline",
}
_MONEY_TERMS = {"min_target", "max_target", "min_pledge", "price_per_share"}


def parse_term_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Amendments in the API's words (camelCase or snake_case), validated and typed."""
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        name = _CAMEL.get(key, key)
        if name not in _CAMEL.values():
            raise ValidationError(f"{key} is not a campaign term.", key)
        if name in _MONEY_TERMS:
            value = parse_amount(value, key)
        elif name == "deadline":
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValidationError("The deadline needs a timezone offset.", "deadline")
        else:
            value = str(value).strip()
        parsed[name] = value
    if not parsed:
        raise ValidationError("The amendment changes nothing.", None, "NOTHING_CHANGED")
    return parsed

