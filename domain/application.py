"""The write side: one application service with a verb per business command.

Every command loads what it needs, lets the aggregates decide, and saves every
aggregate it touched in one atomic `save`. A concurrent writer makes that save
fail with `IntegrityError`; the command then reloads and decides again, so a
pledge that would break the max target or a cap under a race loses cleanly.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain.campaign import Campaign, CampaignStatus, CampaignTerms, deadline_guard
from domain.cap_table import CapTable, cap_table_id
from domain.chain import ChainedAggregate
from domain.clock import Clock, SystemClock, business_time
from domain.email_index import EmailIndex, email_index_id
from domain.errors import (
    ConcurrencyConflict,
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
from domain.transcodings import domain_transcodings
from domain.user import EVERYONE, RegCfHeadroom, Role, User

T = TypeVar("T")
A = TypeVar("A", bound=ChainedAggregate)

MAX_ATTEMPTS = 12
# Bulk work (settlement, refunds, reconfirmation requests) is saved in chunks
# so that one transaction never grows with the size of a campaign.
CHUNK = 500
ADULT_AGE_YEARS = 18


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command produced and the log position of the last event it wrote."""

    value: T
    position: int


Decision = tuple[T, Sequence[Aggregate]]


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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in domain_transcodings():
            transcoder.register(transcoding)

    # The unit of work ------------------------------------------------------------

    def _run(self, decide: Callable[[datetime], Decision[T]]) -> Written[T]:
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock.now()
            with business_time(now):
                value, touched = decide(now)
            if not any(a.pending_events for a in touched):
                return Written(value, self.head_position())
            try:
                recordings = self.save(*touched)
            except IntegrityError:
                self._evict(touched)
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            return Written(value, max(r.notification.id for r in recordings))
        raise ConcurrencyConflict("Too many people changed this at the same moment; try again.")

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
            index = self._load(EmailIndex, email_index_id(email), "e-mail")
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
            index = EmailIndex(user_id=str(user.id), id=email_index_id(email))  # type: ignore[call-arg]  # id goes to the aggregate metaclass
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
        value = parse_amount(amount, "amount")
        key = parse_idempotency_key(idempotency_key)
        pledge_id = pledge_id_for(str(backer_id), key)

        def decide(now: datetime) -> Decision[UUID]:
            earlier = self._earlier_pledge(pledge_id, campaign_id, value)
            if earlier is not None:
                return earlier.id, []
            backer = self.user(backer_id)
            profile = backer.require_verified_investor()
            campaign = self.campaign(campaign_id)
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
                if value > threshold and not acknowledge_risk:
                    raise RiskAcknowledgementRequired(threshold, campaign.currency)
            pledge = Pledge(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                campaign_id=str(campaign.id), backer_id=str(backer.id),
                regime=campaign.regime.value, currency=campaign.currency, amount=value,
                shares=shares, pledged_at=now, terms_version=campaign.terms_version,
                risk_acknowledged=bool(acknowledge_risk),
                cancellable_until=self._cancellable_until(campaign, now), id=pledge_id,
            )
            campaign.accept_pledge(str(pledge_id), str(backer.id), value, shares)
            backer.commit_investment(
                str(pledge_id), str(campaign.id), campaign.regime.value, value, now
            )
            return pledge_id, [pledge, campaign, backer]

        return self._run(decide)

    def _earlier_pledge(
        self, pledge_id: UUID, campaign_id: UUID | str, amount: Decimal
    ) -> Pledge | None:
        try:
            earlier = self.pledge_record(pledge_id)
        except NotFoundError:
            return None
        if earlier.campaign_id != str(campaign_id) or earlier.amount != amount:
            raise ValidationError(
                "This idempotency key was already used for a different pledge; "
                "use a new key for a new pledge.", "idempotencyKey", "IDEMPOTENCY_KEY_REUSED",
            )
        return earlier

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
        for campaign_id in self._calendar().due_by(self.clock.now()):
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

