"""A person on the platform: account, roles, investor profile, KYC, knowledge tests
and the commitments that count against their 12-month Reg CF limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, NotAllowedError
from domain.money import ZERO
from domain.rulebook import (
    DECLARATION_LIFETIME_MONTHS,
    ECSP_RISK_FLOOR,
    KNOWLEDGE_TEST_VALIDITY_MONTHS,
    REG_CF_LOOKBACK_MONTHS,
    Regime,
    ecsp_loss_bearing,
    ecsp_risk_threshold,
    months_after,
    months_before,
    reg_cf_limit,
)
from domain.screening import Screening, ScreeningMatch, ScreeningStatus


class Role(Enum):
    BACKER = "BACKER"
    FOUNDER = "FOUNDER"
    RISK_OFFICER = "RISK_OFFICER"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


# The roles every new account gets.
EVERYONE = (Role.BACKER, Role.FOUNDER)
# The platform's own people: they see drafts, campaigns under review and personal data.
STAFF = (Role.ADMIN, Role.RISK_OFFICER, Role.AUDITOR)
# Who reads a campaign's money and backers, besides its founder.
CAMPAIGN_INSIDERS = (Role.RISK_OFFICER, Role.AUDITOR)
# Event fields that are credentials: never on Kafka, never shown to anyone, auditors
# included (the audit trail redacts them; the hash chain still covers them).
CREDENTIAL_FIELDS = frozenset({
    "password_hash", "totp_secret", "recovery_code_hashes", "recovery_code_hash",
})


class KycStatus(Enum):
    NOT_SUBMITTED = "NOT_SUBMITTED"
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class InvestorProfile:
    legal_name: str
    date_of_birth: str
    country: str
    annual_income: Decimal
    net_worth: Decimal
    accredited: bool
    sophisticated: bool
    other_reg_cf_investments_12m: Decimal
    knowledge_test_passed: bool


@dataclass(frozen=True)
class Commitment:
    campaign_id: str
    regime: str
    amount: Decimal
    at: datetime
    # When the pledge was settled (its securities sold); None while it is open.
    settled_at: datetime | None = None


# Profile fields that only describe finances: changing them alone keeps KYC VERIFIED.
FINANCIAL_FIELDS = ("annual_income", "net_worth", "other_reg_cf_investments_12m")
CURRENCIES = ("USD", "EUR")


@dataclass(frozen=True)
class Finances:
    """The currency the investor stated their income and net worth in, and when."""

    currency: str
    declared_at: datetime


@dataclass(frozen=True)
class KnowledgeTestResult:
    regime: str
    passed: bool
    score: int
    out_of: int
    taken_at: datetime


@dataclass(frozen=True)
class Headroom:
    """An investor's limit under a regime (None: no limit) and what counts against it."""

    limit: Decimal | None
    used: Decimal

    @property
    def remaining(self) -> Decimal | None:
        return None if self.limit is None else max(ZERO, self.limit - self.used)


# What a frozen account is told: nothing that tips off a person under review.
FROZEN_MESSAGE = ("Pledging is suspended on this account while a compliance review is "
                  "open; contact support.")


class User(ChainedAggregate):
    id: UUID
    # State added after the first release: defaults for snapshots taken before it.
    finances: Finances | None = None
    # The latest test of each regime (a list once set: JSON snapshots keep lists).
    knowledge_tests: Sequence[KnowledgeTestResult] = ()
    screening: Screening | None = None
    # The legal name and date of birth the latest screening was of.
    screened_as: str | None = None
    # Open SANCTIONS_MATCH alerts (they hold KYC and pledging) and escalated alerts
    # (they freeze pledging): alert ids, lists once set (JSON snapshots keep lists).
    holds: Sequence[str] = ()
    freezes: Sequence[str] = ()
    # Second factor (RFC 6238 TOTP). Class defaults: streams and snapshots written
    # before two-factor existed load without them.
    totp_secret: str | None = None
    totp_pending: str | None = None
    totp_last_step: int = -1
    # Hashes; lists once set (JSON snapshots keep lists).
    recovery_codes: Sequence[str] = ()
    recovery_codes_pending: Sequence[str] = ()

    @event("UserRegistered")
    def __init__(self, email: str, display_name: str, password_hash: str, roles: list[str]) -> None:
        self.email = email
        self.display_name = display_name
        self.password_hash = password_hash
        self.roles = list(roles)
        self.profile: InvestorProfile | None = None
        self.kyc_status = KycStatus.NOT_SUBMITTED
        self.commitments: dict[str, Commitment] = {}

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles

    def is_staff(self) -> bool:
        return any(self.has_role(r) for r in STAFF)

    def require_not_staff(self, doing: str) -> None:
        """17 CFR 227.300(b): the portal's directors, officers and staff may hold no
        financial interest in an issuer on it; the platform applies it to both regimes."""
        if self.is_staff():
            raise NotAllowedError(
                f"Staff (risk officers, auditors, admins) cannot {doing}: they may hold no "
                "financial interest in an issuer on this platform.", "STAFF_CONFLICT",
            )

    # Staff act only with a second factor: a stolen password alone must not approve an
    # offering, verify an investor, grant a role or read personal data.

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    def acts_as(self, role: Role) -> bool:
        """Holds `role` and may use it now (staff roles need TOTP enabled)."""
        return self.has_role(role) and (role not in STAFF or self.totp_enabled)

    def roles_in_force(self) -> list[str]:
        return [r for r in self.roles if self.acts_as(Role(r))]

    def roles_awaiting_totp(self) -> list[str]:
        return [r for r in self.roles if not self.acts_as(Role(r))]

    def require_role(self, role: Role, doing: str) -> None:
        if not self.has_role(role):
            raise NotAllowedError(f"Only a user with the {role.value} role can {doing}.")
        if not self.acts_as(role):
            raise NotAllowedError(
                f"Set up two-factor authentication (an authenticator app) before you "
                f"{doing} as {role.value}.", "TOTP_ENROLLMENT_REQUIRED",
            )

    @event("PasswordChanged")
    def change_password(self, password_hash: str, reason: str) -> None:
        """`reason`: "change" (signed in, knew the old one) or "reset" (by e-mail)."""
        self.password_hash = password_hash

    @event("TotpEnrollmentStarted")
    def start_totp_enrollment(self, totp_secret: str, recovery_code_hashes: list[str]) -> None:
        """A new secret waits for its first code; an enabled one stays in force until then."""
        self.totp_pending = totp_secret
        self.recovery_codes_pending = list(recovery_code_hashes)

    def pending_totp_secret(self) -> str:
        if self.totp_pending is None:
            raise InvalidStateError(
                "Start the enrollment first (enrollTotp), then confirm it with a code.",
                "TOTP_NOT_PENDING",
            )
        return self.totp_pending

    def confirm_totp(self, step: int) -> None:
        self.pending_totp_secret()
        self._totp_confirmed(step)

    @event("TotpConfirmed")
    def _totp_confirmed(self, step: int) -> None:
        self.totp_secret, self.totp_pending = self.totp_pending, None
        self.recovery_codes, self.recovery_codes_pending = self.recovery_codes_pending, ()
        self.totp_last_step = step

    def fresh_step(self, step: int) -> bool:
        """A code's time step is accepted once: never again, nor any earlier one."""
        return step > self.totp_last_step

    @event("TotpCodeAccepted")
    def accept_totp_step(self, step: int) -> None:
        self.totp_last_step = step

    def use_recovery_code(self, recovery_code_hash: str) -> None:
        if recovery_code_hash not in self.recovery_codes:
            raise NotAllowedError("That recovery code is wrong or used.", "INVALID_CREDENTIALS")
        self._recovery_code_used(recovery_code_hash)

    @event("RecoveryCodeUsed")
    def _recovery_code_used(self, recovery_code_hash: str) -> None:
        self.recovery_codes = [c for c in self.recovery_codes if c != recovery_code_hash]

    def grant_role(self, role: Role) -> None:
        if not self.has_role(role):
            self._role_granted(role.value)

    @event("RoleGranted")
    def _role_granted(self, role: str) -> None:
        self.roles.append(role)

    def revise_profile(
        self, profile: InvestorProfile, currency: str, now: datetime
    ) -> None:
        """A new profile. Identity or investor status changed, or KYC is not VERIFIED:
        submitted for review (PENDING). Only finances changed: re-declared, still VERIFIED
        (the risk officer re-screens the name; nothing in it changed)."""
        current = self.profile
        only_finances = (
            current is not None and self.kyc_status is KycStatus.VERIFIED
            and replace(profile, **{f: getattr(current, f) for f in FINANCIAL_FIELDS},
                        knowledge_test_passed=current.knowledge_test_passed) == current
        )
        if not only_finances:
            self.submit_profile(
                legal_name=profile.legal_name, date_of_birth=profile.date_of_birth,
                country=profile.country, annual_income=profile.annual_income,
                net_worth=profile.net_worth, accredited=profile.accredited,
                sophisticated=profile.sophisticated,
                other_reg_cf_investments_12m=profile.other_reg_cf_investments_12m,
                knowledge_test_passed=False,  # the server's grading decides (KnowledgeTestTaken)
            )
        self._finances_declared(
            currency=currency, annual_income=profile.annual_income, net_worth=profile.net_worth,
            other_reg_cf_investments_12m=profile.other_reg_cf_investments_12m, declared_at=now,
        )

    @event("FinancesDeclared")
    def _finances_declared(
        self, currency: str, annual_income: Decimal, net_worth: Decimal,
        other_reg_cf_investments_12m: Decimal, declared_at: datetime,
    ) -> None:
        """Income and net worth in `currency`; Reg CF investments on other platforms in the
        12 months before `declared_at`, in USD. The declaration counts until 12 months
        after it was made (a newer one replaces it: it covers the same trailing year)."""
        if self.profile is not None:
            self.profile = replace(
                self.profile, annual_income=annual_income, net_worth=net_worth,
                other_reg_cf_investments_12m=other_reg_cf_investments_12m,
            )
        self.finances = Finances(currency, declared_at)

    @event("InvestorProfileSubmitted")
    def submit_profile(
        self, legal_name: str, date_of_birth: str, country: str, annual_income: Decimal,
        net_worth: Decimal, accredited: bool, sophisticated: bool,
        other_reg_cf_investments_12m: Decimal, knowledge_test_passed: bool,
    ) -> None:
        self.profile = InvestorProfile(
            legal_name, date_of_birth, country, annual_income, net_worth, accredited,
            sophisticated, other_reg_cf_investments_12m, knowledge_test_passed,
        )
        self.kyc_status = KycStatus.PENDING

    def verify(self, officer_id: str) -> None:
        self._require_pending_kyc()
        if self.holds:
            raise InvalidStateError(
                "A possible sanctions match is open on this profile: dismiss its "
                "SANCTIONS_MATCH alert (amlAlerts) before verifying.", "SCREENING_HOLD",
            )
        if self.freezes:
            raise InvalidStateError("An escalated AML alert freezes this account.",
                                    "ACCOUNT_FROZEN")
        self._verified(officer_id)

    @event("InvestorVerified")
    def _verified(self, officer_id: str) -> None:
        self.kyc_status = KycStatus.VERIFIED

    def reject(self, officer_id: str, reason: str) -> None:
        self._require_pending_kyc()
        self._rejected(officer_id, reason)

    @event("InvestorRejected")
    def _rejected(self, officer_id: str, reason: str) -> None:
        self.kyc_status = KycStatus.REJECTED

    def _require_pending_kyc(self) -> None:
        if self.kyc_status is not KycStatus.PENDING:
            raise InvalidStateError(
                f"KYC is {self.kyc_status.value}; only a PENDING investor profile can be reviewed.",
                "KYC_NOT_PENDING",
            )

    def require_verified_investor(self) -> InvestorProfile:
        if self.kyc_status is not KycStatus.VERIFIED or self.profile is None:
            messages = {
                KycStatus.NOT_SUBMITTED: "Submit your investor profile before pledging.",
                KycStatus.PENDING: "Your investor profile is still being verified; "
                "you can pledge once KYC is VERIFIED.",
                KycStatus.REJECTED: "Your investor profile was rejected; "
                "submit a corrected profile before pledging.",
            }
            raise InvalidStateError(
                messages.get(self.kyc_status, "KYC is not verified."), "KYC_NOT_VERIFIED"
            )
        return self.profile

    def require_not_frozen(self) -> None:
        """An open sanctions hold or an escalated alert stops new pledges."""
        if self.holds or self.freezes:
            raise InvalidStateError(FROZEN_MESSAGE, "ACCOUNT_FROZEN")

    # Sanctions screening and AML holds -----------------------------------------------

    def record_screening(self, screening: Screening, alert_id: str) -> bool:
        """Record a screening of the current profile; True when it needs a risk officer,
        and then a hold is placed under `alert_id` (the alert the caller raises)."""
        review = self.screening_needs_review(screening)
        self._screened(
            status=screening.status.value, list_name=screening.list_name,
            list_version=screening.list_version, screened_at=screening.screened_at,
            screening_matches=[m.as_event_field() for m in screening.matches],
            hold=alert_id if review else None,
        )
        return review

    def screening_needs_review(self, screening: Screening) -> bool:
        """A possible match needs review unless a review of this very name and date of
        birth already covered every matched entry (a re-screen of the same person)."""
        if screening.status is ScreeningStatus.CLEAR:
            return False
        previous = self.screening
        if previous is None or self.screened_as != self._identity():
            return True
        return not screening.entry_ids <= previous.entry_ids

    def _identity(self) -> str | None:
        profile = self.profile
        return None if profile is None else f"{profile.legal_name}\n{profile.date_of_birth}"

    @event("InvestorScreened")
    def _screened(
        self, status: str, list_name: str, list_version: str, screened_at: datetime,
        screening_matches: list[dict[str, Any]], hold: str | None,
    ) -> None:
        self.screening = Screening(
            ScreeningStatus(status), screened_at, list_name, list_version,
            tuple(ScreeningMatch.from_event_field(m) for m in screening_matches),
        )
        self.screened_as = self._identity()
        if hold is not None:
            self.holds = [*self.holds, hold]

    def freeze(self, alert_id: str) -> None:
        """An escalated alert: pledging stays frozen until the alert is dismissed."""
        if alert_id not in self.freezes:
            self._frozen(alert_id)

    @event("PledgingFrozen")
    def _frozen(self, alert_id: str) -> None:
        self.holds = [h for h in self.holds if h != alert_id]
        self.freezes = [*self.freezes, alert_id]

    def lift(self, alert_id: str) -> None:
        """A dismissed alert no longer holds or freezes anything."""
        if alert_id in self.holds or alert_id in self.freezes:
            self._lifted(alert_id)

    @event("AmlHoldLifted")
    def _lifted(self, alert_id: str) -> None:
        self.holds = [h for h in self.holds if h != alert_id]
        self.freezes = [f for f in self.freezes if f != alert_id]

    def headroom(self, regime: Regime, now: datetime) -> Headroom:
        """What counts against the investor's limit over the last 12 months: under
        REG_CF the limit and the commitments here and elsewhere (17 CFR 227.100(a)(2));
        ECSP sets no limit, so only the commitments made here."""
        if regime is Regime.REG_CF:
            return self.reg_cf_headroom(now)
        return Headroom(limit=None, used=self._counted(regime, now))

    def finances_in(self, currency: str) -> tuple[Decimal, Decimal] | None:
        """(annual income, net worth) if stated in `currency`; nothing is converted.
        Profiles from before currencies were recorded were used as USD figures."""
        profile = self.profile
        if profile is None:
            return None
        stated = self.finances.currency if self.finances is not None else "USD"
        return (profile.annual_income, profile.net_worth) if stated == currency else None

    def declared_elsewhere(self, now: datetime) -> Decimal:
        """Reg CF investments declared on other platforms that still count at `now`."""
        profile = self.profile
        if profile is None:
            return ZERO
        finances = self.finances
        # A declaration from before declarations were dated counts until it is replaced.
        if finances is not None and now >= months_after(
            finances.declared_at, DECLARATION_LIFETIME_MONTHS
        ):
            return ZERO
        return profile.other_reg_cf_investments_12m

    def reg_cf_headroom(self, now: datetime) -> Headroom:
        """The 12-month limit and what counts against it (17 CFR 227.100(a)(2)): what was
        declared on other platforms, open commitments in full, and securities sold here
        (settled pledges) in the 12 months before `now`."""
        profile = self.profile
        if profile is None:
            return Headroom(limit=ZERO, used=ZERO)
        # Figures in another currency are not converted: the floor applies.
        income, worth = self.finances_in("USD") or (ZERO, ZERO)
        limit = reg_cf_limit(income, worth, profile.accredited)
        used = self.declared_elsewhere(now) + self._counted(Regime.REG_CF, now)
        return Headroom(limit=limit, used=used)

    def _counted(self, regime: Regime, now: datetime) -> Decimal:
        """This platform's commitments under `regime` that count at `now`: open ones in
        full, settled ones until 12 months after their settlement (the sale)."""
        since = months_before(now, REG_CF_LOOKBACK_MONTHS)
        value = regime.value  # an enum's .value is a property: read it once, not per item
        return sum(
            (c.amount for c in self.commitments.values()
             if c.regime == value and (c.settled_at is None or c.settled_at > since)),
            ZERO,
        )

    def ecsp_risk_threshold(self) -> Decimal:
        """Art. 21(7): above this, in one offer, an explicit acknowledgement is needed;
        without a net worth in EUR the floor applies."""
        finances = self.finances_in("EUR")
        return ECSP_RISK_FLOOR if finances is None else ecsp_risk_threshold(finances[1])

    def ecsp_loss_bearing(self) -> Decimal | None:
        """Art. 21(5): 10% of net worth in EUR; None without a net worth in EUR."""
        finances = self.finances_in("EUR")
        return None if finances is None else ecsp_loss_bearing(finances[1])

    def open_in(self, campaign_id: str) -> Decimal:
        """The backer's open pledges in one offer."""
        return sum(
            (c.amount for c in self.commitments.values()
             if c.campaign_id == campaign_id and c.settled_at is None),
            ZERO,
        )

    # Knowledge tests -------------------------------------------------------------------

    @event("KnowledgeTestTaken")
    def take_knowledge_test(
        self, regime: str, passed: bool, score: int, out_of: int, taken_at: datetime
    ) -> None:
        result = KnowledgeTestResult(regime, passed, score, out_of, taken_at)
        self.knowledge_tests = [
            *(t for t in self.knowledge_tests if t.regime != regime), result
        ]

    def knowledge_test_passed(self, regime: Regime, now: datetime) -> bool:
        """The latest test of the regime was passed less than 2 years ago (Art. 21(3))."""
        for result in self.knowledge_tests:
            if result.regime == regime.value:
                expires = months_after(result.taken_at, KNOWLEDGE_TEST_VALIDITY_MONTHS)
                return result.passed and now < expires
        return False

    # Commitments -----------------------------------------------------------------------

    @event("InvestmentCommitted")
    def commit_investment(
        self, pledge_id: str, campaign_id: str, regime: str, amount: Decimal, at: datetime
    ) -> None:
        self.commitments[pledge_id] = Commitment(campaign_id, regime, amount, at)

    def release_investment(self, pledge_id: str) -> None:
        if pledge_id in self.commitments:
            self._investment_released(pledge_id)

    @event("InvestmentReleased")
    def _investment_released(self, pledge_id: str) -> None:
        del self.commitments[pledge_id]

    def settle_investment(self, pledge_id: str, now: datetime) -> None:
        """The pledge's securities were sold: from now on it counts for 12 months."""
        commitment = self.commitments.get(pledge_id)
        if commitment is not None and commitment.settled_at is None:
            self._investment_settled(pledge_id, now)

    @event("InvestmentSettled")
    def _investment_settled(self, pledge_id: str, settled_at: datetime) -> None:
        self.commitments[pledge_id] = replace(
            self.commitments[pledge_id], settled_at=settled_at
        )
