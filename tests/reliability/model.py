"""A reference model of the platform's rules: small, in memory, obviously correct.

Written from the design notes' rules.md (../shared/design/, beside the checkout), not
from `domain/`: nothing here imports the domain. The model-based tests drive the real
`Crowdfund` and this model with the same commands and compare every outcome and every
balance.

Identity: a backer, a campaign and an actor are plain strings (the real ids, so a
comparison needs no mapping); a pledge is named by `(backer_id, idempotency_key)`,
which is what the idempotency contract says names a pledge.

Refusals raise `Rejected(kind, code, field, **details)`. `kind` and `code` are the
names the API contract uses for problems (class names of `domain.errors`, stable
machine codes); when a command breaks several rules, the first in this order wins
(the precedence the API documents):

- pledge: amount input, idempotency key reuse, staff, KYC, campaign live, deadline,
  minimum pledge, whole shares, max target, then the regime's rule (Reg CF: the
  knowledge test, the cap, the risk representation on every pledge; ECSP: without a
  passed test an acknowledgement on every pledge, else above the threshold counting
  the backer's open pledges in the offer).
- cancel: who, pledge open; an ECSP pledge in its reflection period (4 days, whatever
  the deadline) while the campaign is LIVE or FUNDED; else campaign live, window (a
  pledge pending reconfirmation can always be cancelled). A revocation that takes a
  FUNDED campaign below its minimum target fails it.
- amend: who, new deadline in the future, status, anything changed, terms valid,
  then what a live campaign may not change (price once pledged, max target below
  what is held, a deadline moved earlier). A change whose reconfirmation window
  ends after the deadline moves the deadline to the window's end (Rule 304(c)).
"""

from __future__ import annotations

import calendar
import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import holidays

# The numbers, again, from rules.md ------------------------------------------------------

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
OFFERING_LIMIT = Decimal("5000000.00")  # both regimes: per issuer over 12 months
# Reg CF investor limit (Rule 100(a)(2), 2022 inflation adjustment).
REG_CF_BOTH_AT_LEAST = Decimal("124000.00")
REG_CF_MINIMUM = Decimal("2500.00")
REG_CF_CAP = Decimal("124000.00")
REG_CF_MIN_OPEN = timedelta(days=21)  # Rule 303(a)
REG_CF_NO_CANCEL_BEFORE_DEADLINE = timedelta(hours=48)  # Rule 304(a)
ECSP_REFLECTION = timedelta(days=4)  # Art. 22
ECSP_RISK_FLOOR = Decimal("1000.00")  # Art. 21(7)
TEST_VALID_MONTHS = 24  # Art. 21(3); the platform applies it to Reg CF too
RECONFIRM_BUSINESS_DAYS = 5  # Rule 304(c); the platform applies it to ECSP too
EARLY_CLOSE_NOTICE_BUSINESS_DAYS = 5  # Rule 304(b)
DEADLINE_MARGIN = timedelta(minutes=1)  # a "future" deadline is more than a minute away
ABSURD = Decimal("1000000000000")


# Statuses (the API's enum values).
DRAFT, LIVE, FUNDED, FAILED, CANCELLED, SETTLED = (
    "DRAFT", "LIVE", "FUNDED", "FAILED", "CANCELLED", "SETTLED"
)
ACTIVE, PENDING = "ACTIVE", "PENDING_RECONFIRMATION"
REFUNDED = "REFUNDED"
OPEN = (ACTIVE, PENDING)
ANY = (*OPEN, CANCELLED, REFUNDED, SETTLED)
KYC_NONE, KYC_PENDING, KYC_VERIFIED, KYC_REJECTED = (
    "NOT_SUBMITTED", "PENDING", "VERIFIED", "REJECTED"
)


def round_down(amount: Decimal) -> Decimal:
    """Limits are cut to the cent, never rounded in the investor's favour."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)


def reg_cf_limit(income: Decimal, worth: Decimal, accredited: bool) -> Decimal | None:
    """The 12-month Reg CF limit, straight from the wording of rules.md."""
    if accredited:
        return None
    greater = income if income > worth else worth
    if income < REG_CF_BOTH_AT_LEAST or worth < REG_CF_BOTH_AT_LEAST:
        five_percent = round_down(greater * 5 / 100)
        limit = five_percent if five_percent > REG_CF_MINIMUM else REG_CF_MINIMUM
    else:
        limit = round_down(greater * 10 / 100)
    # Read conservatively: no non-accredited investor exceeds the cap, in either case.
    return limit if limit < REG_CF_CAP else REG_CF_CAP


def ecsp_risk_threshold(net_worth: Decimal) -> Decimal:
    """Above this, a non-sophisticated backer must acknowledge the risk."""
    five_percent = round_down(net_worth * 5 / 100)
    return five_percent if five_percent > ECSP_RISK_FLOOR else ECSP_RISK_FLOOR


def years_after(when: datetime, years: int) -> datetime:
    """The same wall-clock time `years` later (or earlier); 29 February becomes the 28th."""
    year = when.year + years
    last_day = calendar.monthrange(year, when.month)[1]
    return when.replace(year=year, day=min(when.day, last_day))


def twelve_months_before(when: datetime) -> datetime:
    return years_after(when, -1)


# Business days: rules.md names the calendars; the `holidays` package has them.
BUSINESS_DAYS = {
    "REG_CF": (holidays.country_holidays("US"), ZoneInfo("America/New_York")),
    "ECSP": (holidays.financial_holidays("XECB"), ZoneInfo("Europe/Brussels")),
}


def business_days_after(start: datetime, days: int, regime: str = "REG_CF") -> datetime:
    """Count forward days that are neither weekend nor holiday in the regime's business
    time zone, keeping the wall-clock time there."""
    closed, zone = BUSINESS_DAYS[regime]
    local = start.astimezone(zone)
    day: date = local.date()
    while days > 0:
        day += timedelta(days=1)
        if day.isoweekday() <= 5 and day not in closed:
            days -= 1
    wall = datetime.combine(day, local.time())
    return max(wall.replace(tzinfo=zone, fold=f).astimezone(start.tzinfo) for f in (0, 1))


def parse_money(text: str, field_name: str) -> Decimal:
    """An amount as the API takes it: plain decimal notation, positive, at most two decimals."""
    digits = text.strip().removeprefix("-")
    whole, _, fraction = digits.partition(".")
    if not whole.isdigit() or not (fraction == "" or fraction.isdigit()) or digits.endswith("."):
        raise Rejected("ValidationError", "INVALID_INPUT", field_name)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Rejected("ValidationError", "INVALID_INPUT", field_name) from None
    if not amount.is_finite() or amount <= 0 or amount >= ABSURD:
        raise Rejected("ValidationError", "INVALID_INPUT", field_name)
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise Rejected("ValidationError", "INVALID_INPUT", field_name)
    return amount.quantize(CENT)


# Refusals ----------------------------------------------------------------------------------


class Rejected(Exception):
    def __init__(self, kind: str, code: str, field: str | None = None, **details: Any) -> None:
        super().__init__(kind, code, field, details)
        self.kind, self.code, self.field, self.details = kind, code, field, details

    def describe(self) -> tuple[Any, ...]:
        return (self.kind, self.code, self.field, tuple(sorted(self.details.items())))


def invalid_state(code: str) -> Rejected:
    return Rejected("InvalidStateError", code)


def not_allowed() -> Rejected:
    return Rejected("NotAllowedError", "NOT_ALLOWED")


# State -----------------------------------------------------------------------------------


@dataclass
class Profile:
    annual_income: Decimal
    net_worth: Decimal
    accredited: bool = False
    sophisticated: bool = False
    # Takes (and passes) both knowledge tests when the profile is submitted.
    knowledge_test_passed: bool = True
    other_reg_cf_12m: Decimal = ZERO
    # The currency income and net worth are stated in; nothing is converted.
    currency: str = "USD"


@dataclass
class Backer:
    id: str
    profile: Profile | None = None
    kyc: str = KYC_NONE
    test_passed_at: datetime | None = None  # the latest (passed) knowledge tests
    declared_at: datetime | None = None  # of the investments on other platforms

    def passed_test(self, now: datetime) -> bool:
        """Passed less than two years ago."""
        at = self.test_passed_at
        return at is not None and now < years_after(at, TEST_VALID_MONTHS // 12)

    def figures_in(self, currency: str) -> tuple[Decimal, Decimal]:
        profile = self.profile
        if profile is None or profile.currency != currency:
            return ZERO, ZERO
        return profile.annual_income, profile.net_worth


@dataclass
class Terms:
    title: str
    min_target: Decimal
    max_target: Decimal
    min_pledge: Decimal
    price_per_share: Decimal
    deadline: datetime

    def value(self, name: str) -> Any:
        return getattr(self, name)


@dataclass
class Campaign:
    id: str
    founder: str
    regime: str  # "REG_CF" or "ECSP"
    terms: Terms
    launched_at: datetime
    status: str = LIVE
    original_deadline: datetime | None = None  # set by an early close
    settle_at: datetime | None = None  # ECSP: the end of the last reflection period
    pledged: Decimal = ZERO  # everything ever accepted
    held: Decimal = ZERO  # in escrow now
    released: Decimal = ZERO  # paid to the issuer at settlement
    refunded: Decimal = ZERO  # back to backers: cancellations and refunds
    ever_pledged: bool = False


@dataclass
class Pledge:
    key: tuple[str, str]
    campaign: str
    amount: Decimal
    shares: int
    at: datetime
    regime: str
    status: str = ACTIVE
    reconfirm_by: datetime | None = None
    settled_at: datetime | None = None

    @property
    def backer(self) -> str:
        return self.key[0]

    @property
    def reflection_ends(self) -> datetime | None:
        """Art. 22: 4 days after the offer. The model's backers live in the US, whose
        westernmost zone (Hawaii) keeps no summer time: exactly 96 hours."""
        return self.at + ECSP_REFLECTION if self.regime == "ECSP" else None


@dataclass
class Model:
    staff: set[str] = field(default_factory=set)
    backers: dict[str, Backer] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    pledges: dict[tuple[str, str], Pledge] = field(default_factory=dict)

    def copy(self) -> Model:
        return copy.deepcopy(self)

    # Setting the scene (what the tests build through the real commands) ----------------

    def add_backer(
        self, backer_id: str, profile: Profile | None, kyc: str, now: datetime
    ) -> None:
        self.backers[backer_id] = Backer(backer_id, profile, kyc if profile else KYC_NONE)
        if profile is not None:
            self.backers[backer_id].declared_at = now
            if profile.knowledge_test_passed:
                self.backers[backer_id].test_passed_at = now

    def submit_profile(self, backer_id: str, profile: Profile, now: datetime) -> None:
        """Only finances changed on a verified profile: still verified; otherwise review."""
        backer = self.backers[backer_id]
        old = backer.profile
        same_person = old is not None and (old.accredited, old.sophisticated) == (
            profile.accredited, profile.sophisticated
        )
        if not (same_person and backer.kyc == KYC_VERIFIED):
            backer.kyc = KYC_PENDING
        backer.profile, backer.declared_at = profile, now
        if profile.knowledge_test_passed:
            backer.test_passed_at = now

    def review(self, backer_id: str, verdict: str) -> None:
        backer = self.backers[backer_id]
        if backer.kyc != KYC_PENDING:
            raise invalid_state("KYC_NOT_PENDING")
        backer.kyc = verdict

    def add_campaign(
        self, campaign_id: str, founder: str, regime: str, terms: Terms, launched_at: datetime
    ) -> None:
        self.campaigns[campaign_id] = Campaign(campaign_id, founder, regime, terms, launched_at)

    # Reading ---------------------------------------------------------------------------

    def reg_cf(self, backer_id: str, now: datetime) -> tuple[Decimal | None, Decimal]:
        """(limit, used): declared investments for 12 months after the declaration, open
        commitments in full, sales (settled pledges) for 12 months after settlement."""
        backer = self.backers[backer_id]
        if backer.profile is None:
            return ZERO, ZERO
        profile = backer.profile
        since = twelve_months_before(now)
        declared = backer.declared_at
        elsewhere = profile.other_reg_cf_12m if declared is None or now < years_after(
            declared, 1) else ZERO
        used = elsewhere + sum(
            (p.amount for p in self.pledges.values()
             if p.backer == backer_id and p.regime == "REG_CF"
             and (p.status in OPEN or (p.status == SETTLED and p.settled_at is not None
                                       and p.settled_at > since))),
            ZERO,
        )
        income, worth = backer.figures_in("USD")
        return reg_cf_limit(income, worth, profile.accredited), used

    def find_pledge(self, key: tuple[str, str]) -> Pledge:
        if key not in self.pledges:
            raise Rejected("NotFoundError", "NOT_FOUND")
        return self.pledges[key]

    def open_pledges(self, campaign_id: str) -> list[Pledge]:
        return [p for p in self.pledges.values() if p.campaign == campaign_id and p.status in OPEN]

    # Pledges -----------------------------------------------------------------------------

    def pledge(
        self, backer_id: str, campaign_id: str, amount_text: str, key: str, acknowledge_risk: bool,
        now: datetime,
    ) -> tuple[str, str]:
        amount = parse_money(amount_text, "amount")
        earlier = self.pledges.get((backer_id, key))
        if earlier is not None:
            if earlier.campaign != campaign_id or earlier.amount != amount:
                raise Rejected("ValidationError", "IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
            return earlier.key  # the same pledge again: nothing new happens
        if backer_id in self.staff:
            raise Rejected("NotAllowedError", "STAFF_CONFLICT")
        backer = self.backers[backer_id]
        if backer.kyc != KYC_VERIFIED or backer.profile is None:
            raise invalid_state("KYC_NOT_VERIFIED")
        campaign = self.campaigns[campaign_id]
        if campaign.status != LIVE:
            raise invalid_state("CAMPAIGN_NOT_LIVE")
        terms = campaign.terms
        if now >= terms.deadline:
            raise invalid_state("CAMPAIGN_CLOSED")
        if amount < terms.min_pledge:
            raise Rejected("ValidationError", "BELOW_MIN_PLEDGE", "amount")
        if amount % terms.price_per_share != 0:
            raise Rejected("ValidationError", "NOT_WHOLE_SHARES", "amount")
        room = terms.max_target - campaign.held
        if amount > room:
            raise Rejected("MaxTargetExceeded", "MAX_TARGET_EXCEEDED", remaining=max(room, ZERO))
        profile = backer.profile
        if campaign.regime == "REG_CF":
            if not backer.passed_test(now):
                raise invalid_state("KNOWLEDGE_TEST_REQUIRED")
            limit, used = self.reg_cf(backer_id, now)
            if limit is not None and used + amount > limit:
                raise Rejected(
                    "InvestmentLimitExceeded", "INVESTMENT_LIMIT_EXCEEDED",
                    limit=limit, remaining=max(limit - used, ZERO),
                )
            if not acknowledge_risk:  # on every Reg CF commitment
                raise Rejected("RiskAcknowledgementRequired", "RISK_ACKNOWLEDGEMENT_REQUIRED",
                               threshold=ZERO)
        elif not profile.sophisticated and not acknowledge_risk:
            if not backer.passed_test(now):  # warned: acknowledged on every pledge
                raise Rejected("RiskAcknowledgementRequired", "RISK_ACKNOWLEDGEMENT_REQUIRED",
                               threshold=ZERO)
            threshold = ecsp_risk_threshold(backer.figures_in("EUR")[1])
            already = sum((p.amount for p in self.open_pledges(campaign_id)
                           if p.backer == backer_id), ZERO)
            if already + amount > threshold:
                raise Rejected(
                    "RiskAcknowledgementRequired", "RISK_ACKNOWLEDGEMENT_REQUIRED",
                    threshold=threshold,
                )
        pledge = Pledge(
            (backer_id, key), campaign_id, amount, int(amount / terms.price_per_share), now,
            campaign.regime,
        )
        self.pledges[pledge.key] = pledge
        campaign.pledged += amount
        campaign.held += amount
        campaign.ever_pledged = True
        return pledge.key

    def _release(self, pledge: Pledge, status: str) -> None:
        campaign = self.campaigns[pledge.campaign]
        campaign.held -= pledge.amount
        campaign.refunded += pledge.amount
        pledge.status, pledge.reconfirm_by = status, None

    def cancel(self, actor: str, key: tuple[str, str], now: datetime) -> None:
        pledge = self.find_pledge(key)
        if actor != pledge.backer:
            raise not_allowed()
        if pledge.status not in OPEN:
            raise invalid_state("PLEDGE_CLOSED")
        campaign = self.campaigns[pledge.campaign]
        ends = pledge.reflection_ends
        reflecting = pledge.status == ACTIVE and ends is not None and now < ends
        if not (reflecting and campaign.status in (LIVE, FUNDED)):
            if campaign.status != LIVE:
                raise invalid_state("CAMPAIGN_NOT_LIVE")
            if now >= campaign.terms.deadline:
                raise invalid_state("DEADLINE_PASSED")
            if pledge.status != PENDING:  # a material change reopens the right to walk away
                window_end = campaign.terms.deadline - REG_CF_NO_CANCEL_BEFORE_DEADLINE
                if campaign.regime == "ECSP" or now >= window_end or pledge.at >= window_end:
                    raise invalid_state("CANCELLATION_WINDOW_CLOSED")
        self._release(pledge, CANCELLED)
        if campaign.status == FUNDED and campaign.held < campaign.terms.min_target:
            campaign.status = FAILED  # revoked below the target: everyone is refunded
            for other in self.open_pledges(campaign.id):
                self._release(other, REFUNDED)

    def reconfirm(self, actor: str, key: tuple[str, str], now: datetime) -> None:
        pledge = self.find_pledge(key)
        if actor != pledge.backer:
            raise not_allowed()
        if self.campaigns[pledge.campaign].status != LIVE:
            raise invalid_state("CAMPAIGN_NOT_LIVE")
        if pledge.reconfirm_by is not None and now >= pledge.reconfirm_by:
            raise invalid_state("RECONFIRMATION_EXPIRED")
        if pledge.status != PENDING:
            raise invalid_state("NOT_PENDING_RECONFIRMATION")
        pledge.status, pledge.reconfirm_by = ACTIVE, None

    # The founder and staff -------------------------------------------------------------

    def amend(self, actor: str, campaign_id: str, changes: dict[str, Any], now: datetime) -> None:
        """A live campaign's every amendment is a material change (Rule 304(c))."""
        campaign = self.campaigns[campaign_id]
        if actor != campaign.founder:
            raise not_allowed()
        if "deadline" in changes and changes["deadline"] <= now + DEADLINE_MARGIN:
            raise Rejected("ValidationError", "INVALID_INPUT", "deadline")
        if campaign.status != LIVE:  # the model's campaigns were all launched
            raise invalid_state("INVALID_STATE")
        old = campaign.terms
        values = {k: v if k in ("title", "deadline") else Decimal(v) for k, v in changes.items()}
        changed = {k: v for k, v in values.items() if old.value(k) != v}
        if not changed:
            raise Rejected("ValidationError", "NOTHING_CHANGED", None)
        new = _replace(old, changed)
        if new.max_target < new.min_target or new.max_target > OFFERING_LIMIT:
            raise Rejected("ValidationError", "INVALID_INPUT", "maxTarget")
        if new.min_pledge < new.price_per_share or new.min_pledge > new.max_target:
            raise Rejected("ValidationError", "INVALID_INPUT", "minPledge")
        if "price_per_share" in changed and campaign.ever_pledged:
            raise invalid_state("PRICE_LOCKED")
        if new.max_target < campaign.held:
            raise Rejected("ValidationError", "INVALID_INPUT", "maxTarget")
        if new.deadline < old.deadline:
            raise Rejected("ValidationError", "INVALID_INPUT", "deadline")
        reconfirm_by = business_days_after(now, RECONFIRM_BUSINESS_DAYS, campaign.regime)
        if reconfirm_by > new.deadline:  # backers keep their whole window to reconfirm
            new = _replace(new, {"deadline": reconfirm_by})
        campaign.terms = new
        for pledge in self.open_pledges(campaign_id):
            pledge.status, pledge.reconfirm_by = PENDING, reconfirm_by

    def close_early(
        self, actor: str, campaign_id: str, new_deadline: datetime, now: datetime
    ) -> None:
        campaign = self.campaigns[campaign_id]
        if actor != campaign.founder:
            raise not_allowed()
        if campaign.status != LIVE:
            raise invalid_state("CAMPAIGN_NOT_LIVE")
        if campaign.held + campaign.released < campaign.terms.min_target:
            raise invalid_state("TARGET_NOT_MET")
        if campaign.regime == "REG_CF" and now < campaign.launched_at + REG_CF_MIN_OPEN:
            raise invalid_state("OFFERING_PERIOD_TOO_SHORT")
        earliest = business_days_after(now, EARLY_CLOSE_NOTICE_BUSINESS_DAYS, campaign.regime)
        if new_deadline < earliest:
            raise Rejected("ValidationError", "INVALID_INPUT", "newDeadline")
        if new_deadline >= campaign.terms.deadline:
            raise Rejected("ValidationError", "INVALID_INPUT", "newDeadline")
        if campaign.original_deadline is None:
            campaign.original_deadline = campaign.terms.deadline
        campaign.terms = _replace(campaign.terms, {"deadline": new_deadline})

    def cancel_campaign(self, actor: str, campaign_id: str, now: datetime) -> None:
        campaign = self.campaigns[campaign_id]
        if actor not in self.staff and actor != campaign.founder:
            raise not_allowed()
        if campaign.status != LIVE:  # the only cancellable status the tests reach
            raise invalid_state("INVALID_STATE")
        campaign.status = CANCELLED
        for pledge in self.open_pledges(campaign_id):
            self._release(pledge, REFUNDED)

    # Time ---------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Everything that fell due by `now`: lapsed reconfirmations, deadlines, money."""
        for campaign in self.campaigns.values():
            while campaign.status == LIVE and self._close_if_due(campaign, now):
                pass
            if campaign.status == FUNDED and campaign.settle_at is not None \
                    and now >= campaign.settle_at:
                campaign.status = SETTLED  # paid out once no reflection period runs
                for pledge in self.open_pledges(campaign.id):
                    pledge.status, pledge.settled_at = SETTLED, now
                campaign.released += campaign.held
                campaign.held = ZERO

    def _close_if_due(self, campaign: Campaign, now: datetime) -> bool:
        """True when the campaign's state moved (it may be due again at once)."""
        for pledge in self.open_pledges(campaign.id):
            lapsed = pledge.reconfirm_by is not None and now >= pledge.reconfirm_by
            if pledge.status == PENDING and (lapsed or now >= campaign.terms.deadline):
                self._release(pledge, CANCELLED)
        if now < campaign.terms.deadline:
            return False
        # All or nothing, with lapsed reconfirmations already out.
        if campaign.held >= campaign.terms.min_target:
            campaign.status = FUNDED
            ends = [p.reflection_ends for p in self.open_pledges(campaign.id)]
            campaign.settle_at = max([now, *(e for e in ends if e is not None)])
        elif campaign.original_deadline is not None and now < campaign.original_deadline:
            # Rule 304(b): an early close that lost its target runs on to the original.
            campaign.terms = _replace(campaign.terms, {"deadline": campaign.original_deadline})
            campaign.original_deadline = None
        else:
            campaign.status = FAILED
            for pledge in self.open_pledges(campaign.id):
                self._release(pledge, REFUNDED)
        return True


def _replace(terms: Terms, changes: dict[str, Any]) -> Terms:
    values = {**terms.__dict__, **changes}
    return Terms(**values)
