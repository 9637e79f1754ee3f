"""A person on the platform: account, roles, investor profile, KYC and the
Reg CF commitments that count against their 12-month limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError
from domain.money import ZERO
from domain.rulebook import REG_CF_LOOKBACK_MONTHS, Regime, months_before, reg_cf_limit


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


@dataclass(frozen=True)
class Headroom:
    """An investor's limit under a regime (None: no limit) and what counts against it."""

    limit: Decimal | None
    used: Decimal

    @property
    def remaining(self) -> Decimal | None:
        return None if self.limit is None else max(ZERO, self.limit - self.used)


class User(ChainedAggregate):
    id: UUID

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

    def grant_role(self, role: Role) -> None:
        if not self.has_role(role):
            self._role_granted(role.value)

    @event("RoleGranted")
    def _role_granted(self, role: str) -> None:
        self.roles.append(role)

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

    def headroom(self, regime: Regime, now: datetime) -> Headroom:
        """What counts against the investor's limit over the last 12 months: under
        REG_CF the limit and the commitments here and elsewhere (17 CFR 227.100(a)(2));
        ECSP sets no limit, so only the open and settled commitments made here."""
        if regime is Regime.REG_CF:
            return self.reg_cf_headroom(now)
        return Headroom(limit=None, used=self._committed(regime, now))

    def reg_cf_headroom(self, now: datetime) -> Headroom:
        """The 12-month limit and what counts against it (17 CFR 227.100(a)(2))."""
        profile = self.profile
        if profile is None:
            return Headroom(limit=ZERO, used=ZERO)
        limit = reg_cf_limit(profile.annual_income, profile.net_worth, profile.accredited)
        used = profile.other_reg_cf_investments_12m + self._committed(Regime.REG_CF, now)
        return Headroom(limit=limit, used=used)

    def _committed(self, regime: Regime, now: datetime) -> Decimal:
        """This platform's commitments under `regime` made in the lookback window."""
        since = months_before(now, REG_CF_LOOKBACK_MONTHS)
        value = regime.value  # an enum's .value is a property: read it once, not per item
        return sum(
            (c.amount for c in self.commitments.values() if c.regime == value and c.at > since),
            ZERO,
        )

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
