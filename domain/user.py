"""A person on the platform: account, roles, investor profile, KYC and the
Reg CF commitments that count against their 12-month limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError
from domain.money import ZERO
from domain.rulebook import REG_CF_LOOKBACK_MONTHS, Regime, months_before, reg_cf_limit
from domain.screening import Screening, ScreeningMatch, ScreeningStatus


class Role(Enum):
    BACKER = "BACKER"
    FOUNDER = "FOUNDER"
    RISK_OFFICER = "RISK_OFFICER"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


EVERYONE = (Role.BACKER, Role.FOUNDER)
STAFF = frozenset({Role.ADMIN, Role.RISK_OFFICER, Role.AUDITOR})


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
class RegCfHeadroom:
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
    screening: Screening | None = None
    # The legal name and date of birth the latest screening was of.
    screened_as: str | None = None
    # Open SANCTIONS_MATCH alerts (they hold KYC and pledging) and escalated alerts
    # (they freeze pledging): alert ids, lists once set (JSON snapshots keep lists).
    holds: Sequence[str] = ()
    freezes: Sequence[str] = ()

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

    def reg_cf_headroom(self, now: datetime) -> RegCfHeadroom:
        """The 12-month limit and what counts against it (17 CFR 227.100(a)(2))."""
        profile = self.profile
        if profile is None:
            return RegCfHeadroom(limit=ZERO, used=ZERO)
        limit = reg_cf_limit(profile.annual_income, profile.net_worth, profile.accredited)
        since = months_before(now, REG_CF_LOOKBACK_MONTHS)
        reg_cf = Regime.REG_CF.value  # an enum's .value is a property: read it once, not per item
        used = profile.other_reg_cf_investments_12m + sum(
            (c.amount for c in self.commitments.values() if c.regime == reg_cf and c.at > since),
            ZERO,
        )
        return RegCfHeadroom(limit=limit, used=used)

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
