"""Commands on accounts, roles, investor profiles and KYC."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

from application import two_factor
from application.aml import AmlCommands
from application.unit_of_work import Decision, UnitOfWork, Written
from domain import limits
from domain.email_index import EmailIndex, email_index_id
from domain.errors import (
    NotAllowedError,
    NotFoundError,
    ValidationError,
)
from domain.input import parse_birth_date, parse_regime, require_reason
from domain.knowledge_test import answer_sheet, grade
from domain.money import parse_amount
from domain.rulebook import Regime
from domain.user import CURRENCIES, EVERYONE, InvestorProfile, KycStatus, Role, User


class AccountCommands:
    def __init__(
        self, uow: UnitOfWork, aml: AmlCommands, real_time: Callable[[], float] = time.time
    ) -> None:
        self.uow = uow
        self.aml = aml
        # Second-factor codes follow the real clock, never the business one.
        self.real_time = real_time

    # Accounts and roles ------------------------------------------------------------

    def register(
        self, email: str, display_name: str, password_hash: str, roles: Sequence[Role] = EVERYONE
    ) -> Written[UUID]:
        email = email.strip().lower()
        display_name = display_name.strip()
        if not display_name or len(display_name) > limits.DISPLAY_NAME:
            raise ValidationError(
                f"Display name must be 1 to {limits.DISPLAY_NAME} characters.", "displayName"
            )

        def decide(now: datetime) -> Decision[UUID]:
            if self.uow.user_by_email(email) is not None:
                raise ValidationError(
                    "An account with this e-mail address already exists; sign in instead.",
                    "email", "EMAIL_TAKEN",
                )
            user = User(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                email=email, display_name=display_name, password_hash=password_hash,
                roles=[r.value for r in roles], id=uuid4(),
            )
            index = EmailIndex(user_id=str(user.id), id=email_index_id(email, self.uow.email_key))  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            return user.id, [user, index]

        return self.uow.run(decide)

    def grant_role(self, admin_id: UUID | str, user_id: UUID | str, role: Role) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            self.uow.require_role(admin_id, Role.ADMIN, "grant roles")
            user = self.uow.user(user_id)
            user.grant_role(role)
            return user.id, [user]

        return self.uow.run(decide)

    def bootstrap_admin(self, email: str, password_hash: str) -> UUID:
        """The first admin, from the environment: created if absent, made admin if not.

        Several API processes start with the same setting: whoever registers the
        account first wins, and the others make sure it is an admin.
        """
        if self.uow.user_by_email(email) is None:
            roles = (*EVERYONE, Role.ADMIN)
            try:
                return self.register(email, "Administrator", password_hash, roles).value
            except ValidationError as taken:
                if taken.code != "EMAIL_TAKEN":
                    raise

        def decide(now: datetime) -> Decision[UUID]:
            found = self.uow.user_by_email(email)
            if found is None:  # the index names a user: never happens, but say so
                raise NotFoundError("The admin account vanished while being set up.")
            user = self.uow.user(found.id)
            user.grant_role(Role.ADMIN)  # no event when it is one already
            return user.id, [user]

        return self.uow.run(decide).value

    # Passwords and the second factor ----------------------------------------------

    def change_password(
        self, user_id: UUID | str, password_hash: str, reason: str
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            user = self.uow.user(user_id)
            user.change_password(password_hash, reason)
            return user.id, [user]

        return self.uow.run(decide)

    def start_totp_enrollment(
        self, user_id: UUID | str, secret: str, recovery_codes: Sequence[str]
    ) -> Written[UUID]:
        """A pending secret (and its recovery codes, kept hashed) until `confirm_totp`."""
        hashes = [two_factor.recovery_code_hash(c) for c in recovery_codes]

        def decide(now: datetime) -> Decision[UUID]:
            user = self.uow.user(user_id)
            user.start_totp_enrollment(secret, hashes)
            return user.id, [user]

        return self.uow.run(decide)

    def confirm_totp(self, user_id: UUID | str, code: str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            user = self.uow.user(user_id)
            secret = user.pending_totp_secret()
            # A new secret: none of its codes was ever accepted.
            step = two_factor.matching_step(secret, code, self.real_time())
            if step is None:
                raise NotAllowedError(
                    "That code is wrong or expired; enter the code your app shows now.",
                    "INVALID_CREDENTIALS",
                )
            user.confirm_totp(step)
            return user.id, [user]

        return self.uow.run(decide)

    def prove_second_factor(self, user_id: UUID | str, code: str | None) -> Written[UUID]:
        """A current TOTP code (each accepted once) or an unused recovery code.

        Refused with TOTP_REQUIRED without a code, INVALID_CREDENTIALS with a wrong
        or replayed one. A user without TOTP passes with nothing written.
        """
        def decide(now: datetime) -> Decision[UUID]:
            user = self.uow.user(user_id)
            if user.totp_secret is None:
                return user.id, []
            if not code or not code.strip():
                raise NotAllowedError(
                    "Enter the 6-digit code from your authenticator app (or a recovery code).",
                    "TOTP_REQUIRED",
                )
            if two_factor.is_recovery_code(code):
                user.use_recovery_code(two_factor.recovery_code_hash(code))
                return user.id, [user]
            step = two_factor.matching_step(user.totp_secret, code, self.real_time())
            if step is None or not user.fresh_step(step):
                raise NotAllowedError(
                    "The e-mail address, the password or the code is wrong.",
                    "INVALID_CREDENTIALS",
                )
            user.accept_totp_step(step)
            return user.id, [user]

        return self.uow.run(decide)

    # Investor profile and KYC ------------------------------------------------------

    def submit_investor_profile(
        self, user_id: UUID | str, *, legal_name: str, date_of_birth: str, country: str,
        annual_income: object, net_worth: object, accredited: bool = False,
        sophisticated: bool = False, other_reg_cf_investments_12m: object = "0",
        knowledge_test_passed: bool = False, currency: str | None = None,
    ) -> Written[UUID]:
        """`knowledge_test_passed` is ignored: only `take_knowledge_test` records a result.
        `currency`: what income and net worth are stated in (default: USD for the US,
        EUR elsewhere); nothing is converted. Declared investments elsewhere are USD."""
        del knowledge_test_passed
        legal_name = legal_name.strip()
        if not legal_name or len(legal_name) > limits.LEGAL_NAME:
            raise ValidationError(
                f"Legal name must be 1 to {limits.LEGAL_NAME} characters.", "legalName"
            )
        country = country.strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise ValidationError("Country must be an ISO 3166-1 alpha-2 code such as US or DE.",
                                  "country")
        income = parse_amount(annual_income, "annualIncome", allow_zero=True)
        worth = parse_amount(net_worth, "netWorth", allow_zero=True)
        other = parse_amount(other_reg_cf_investments_12m, "otherRegCfInvestments12m",
                             allow_zero=True)
        stated = (currency or ("USD" if country == "US" else "EUR")).strip().upper()
        if stated not in CURRENCIES:
            raise ValidationError("State income and net worth in USD or EUR.", "currency")
        # Sanctions screening: every profile, before it is stored (the result is saved
        # with it, and a possible match holds KYC with an alert).
        matches = self.aml.search(legal_name)

        def decide(now: datetime) -> Decision[UUID]:
            born = parse_birth_date(date_of_birth, now)
            user = self.uow.user(user_id)
            profile = InvestorProfile(
                legal_name=legal_name, date_of_birth=born.isoformat(), country=country,
                annual_income=income, net_worth=worth, accredited=bool(accredited),
                sophisticated=bool(sophisticated), other_reg_cf_investments_12m=other,
                knowledge_test_passed=False,
            )
            user.revise_profile(profile, stated, now)
            return user.id, self.aml.screen(user, matches, now)

        return self.uow.run(decide)

    def take_knowledge_test(
        self, user_id: UUID | str, regime: Regime | str, answers: Iterable[tuple[str, int]]
    ) -> Written[UUID]:
        """Graded here, never in the browser; the result is recorded with its date and
        is valid for 2 years. The answer says how many were right, not which."""
        which = parse_regime(regime)
        result = grade(which, answer_sheet(answers))

        def decide(now: datetime) -> Decision[UUID]:
            user = self.uow.user(user_id)
            user.take_knowledge_test(
                regime=which.value, passed=result.passed, score=result.score,
                out_of=result.out_of, taken_at=now,
            )
            return user.id, [user]

        return self.uow.run(decide)

    def verify_investor(self, officer_id: UUID | str, user_id: UUID | str) -> Written[UUID]:
        # A profile screened against an older list is screened again first: a new
        # possible match then holds the verification.
        self._kyc_subject(officer_id, user_id, "verify investors")
        self.aml.rescreen(user_id, statuses=(KycStatus.PENDING,))

        def decide(now: datetime) -> Decision[UUID]:
            user = self._kyc_subject(officer_id, user_id, "verify investors")
            user.verify(str(officer_id))
            return user.id, [user]

        return self.uow.run(decide)

    def reject_investor(
        self, officer_id: UUID | str, user_id: UUID | str, reason: str
    ) -> Written[UUID]:
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            user = self._kyc_subject(officer_id, user_id, "reject investors")
            user.reject(str(officer_id), reason)
            return user.id, [user]

        return self.uow.run(decide)

    def _kyc_subject(self, officer_id: UUID | str, user_id: UUID | str, doing: str) -> User:
        self.uow.require_role(officer_id, Role.RISK_OFFICER, doing)
        if str(officer_id) == str(user_id):
            raise NotAllowedError("A risk officer cannot review their own investor profile.")
        return self.uow.user(user_id)
