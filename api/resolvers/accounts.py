"""Accounts, roles, investor profiles and KYC: signUp, signIn, grantRole, me, limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.enums import Regime, Role
from api.inputs import (
    EmailArg,
    InvestorProfileInput,
    Profile,
    Reason,
    SignUp,
    SignUpInput,
    check,
)
from api.payloads import (
    AUTH_PROBLEMS,
    PROFILE_PROBLEMS,
    ROLE_PROBLEMS,
    AuthPayload,
    AuthResult,
    InvestorProfileResult,
    InvestorProfileSaved,
    RoleGranted,
    RoleResult,
)
from api.problems import NotAllowed, invalid, not_allowed, not_found
from api.resolvers.common import run_command
from api.scalars import Long
from api.security import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    normalize_email,
    validate_email,
    validate_password,
    verify_password_or_dummy,
)
from api.types import InvestmentLimit, User, load_user, user_from_record
from application.unit_of_work import Written
from domain.money import ZERO
from domain.rulebook import REG_CF_LOOKBACK_MONTHS, months_before
from domain.user import EVERYONE
from domain.user import Role as DomainRole
from domain.user import User as UserRecord

# A password longer than any we accept is refused without hashing it.
MAX_SIGN_IN_PASSWORD = MAX_PASSWORD_LENGTH * 4


def _issue(info: Info[Any, Any], record: UserRecord) -> str:
    return auth.context(info).services.tokens.issue(str(record.id), list(record.roles))


def _signed_in(info: Info[Any, Any], record: UserRecord) -> None:
    """The rest of this request sees the new session (e.g. the payload's user e-mail)."""
    ctx = auth.context(info)
    ctx.viewer, ctx.token_state = Viewer(str(record.id), frozenset(record.roles)), "valid"


async def sign_up(info: Info[Any, Any], input: SignUpInput) -> AuthResult:
    services = auth.context(info).services
    args = check(SignUp, email=input.email, password=input.password,
                 displayName=input.display_name)
    if not isinstance(args, SignUp):
        return args
    if (problem := validate_email(args.email)) is not None:
        return invalid(problem, "email")
    if (problem := validate_password(args.password, args.email)) is not None:
        return invalid(problem, "password", "WEAK_PASSWORD")
    password_hash = await services.run(hash_password, args.password, hasher=services.hasher)
    written = await run_command(
        info, AUTH_PROBLEMS, services.app.accounts.register, normalize_email(args.email),
        args.displayName, password_hash, EVERYONE,
    )
    if not isinstance(written, Written):
        return written
    record = await services.run(services.app.user, written.value)
    _signed_in(info, record)
    return AuthPayload(
        token=_issue(info, record), user=user_from_record(record), position=Long(written.position)
    )


def _locked(wait_seconds: float) -> NotAllowed:
    minutes = max(1, math.ceil(wait_seconds / 60))
    after = datetime.now(UTC) + timedelta(seconds=wait_seconds)
    return not_allowed(
        f"Too many failed sign-in attempts. Try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''} (after {after:%H:%M} UTC).",
        "TOO_MANY_ATTEMPTS",
    )


async def sign_in(info: Info[Any, Any], email: str, password: str) -> AuthResult:
    ctx = auth.context(info)
    services = ctx.services
    if not email.strip():
        return invalid("Enter your e-mail address.", "email")
    if not password:
        return invalid("Enter your password.", "password")
    address = normalize_email(email)[:320]
    if (wait := services.throttle.check(address, ctx.client_ip)) is not None:
        return _locked(wait)

    def verify() -> UserRecord | None:
        user = services.app.user_by_email(address) if validate_email(address) is None else None
        # An unknown e-mail pays for one argon2 run too: timing reveals nothing.
        candidate = password if len(password) <= MAX_SIGN_IN_PASSWORD else ""
        ok = verify_password_or_dummy(
            user.password_hash if user else None, candidate, hasher=services.hasher
        )
        return user if ok and candidate else None

    user = await services.run(verify)
    if user is None:
        services.throttle.record_failure(address, ctx.client_ip)
        if (wait := services.throttle.check(address, ctx.client_ip)) is not None:
            return _locked(wait)
        return not_allowed("The e-mail address or the password is wrong.", "INVALID_CREDENTIALS")
    services.throttle.record_success(address, ctx.client_ip)
    _signed_in(info, user)
    position = await services.run(services.app.head_position)
    return AuthPayload(
        token=_issue(info, user), user=user_from_record(user), position=Long(position)
    )


async def grant_role(info: Info[Any, Any], email: str, role: Role) -> RoleResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    if not who.has(DomainRole.ADMIN):
        return not_allowed("Only a user with the ADMIN role can grant roles.")
    args = check(EmailArg, email=email)
    if not isinstance(args, EmailArg):
        return args
    services = auth.context(info).services
    target = await services.run(services.app.user_by_email, normalize_email(args.email))
    if target is None:
        return not_found("No user has that e-mail address.")
    written = await run_command(
        info, ROLE_PROBLEMS, services.app.accounts.grant_role, who.id, target.id,
        DomainRole(role.value),
    )
    if not isinstance(written, Written):
        return written
    record = await services.run(services.app.user, target.id)
    return RoleGranted(user=user_from_record(record), position=Long(written.position))


async def _profile_saved(info: Info[Any, Any], written: Written[Any]) -> InvestorProfileSaved:
    services = auth.context(info).services
    record = await services.run(services.app.user, written.value)
    return InvestorProfileSaved(user=user_from_record(record), position=Long(written.position))


async def submit_investor_profile(
    info: Info[Any, Any], input: InvestorProfileInput
) -> InvestorProfileResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(
        Profile, legalName=input.legal_name, dateOfBirth=input.date_of_birth,
        country=input.country, annualIncome=input.annual_income, netWorth=input.net_worth,
        accredited=bool(input.accredited), sophisticated=bool(input.sophisticated),
        otherRegCfInvestments12m=(
            input.other_reg_cf_investments12m
            if input.other_reg_cf_investments12m is not None else Decimal("0")
        ),
        knowledgeTestPassed=bool(input.knowledge_test_passed),
    )
    if not isinstance(args, Profile):
        return args
    services = auth.context(info).services
    written = await run_command(
        info, PROFILE_PROBLEMS, services.app.accounts.submit_investor_profile, who.id,
        legal_name=args.legalName, date_of_birth=args.dateOfBirth, country=args.country,
        annual_income=args.annualIncome, net_worth=args.netWorth, accredited=args.accredited,
        sophisticated=args.sophisticated,
        other_reg_cf_investments_12m=args.otherRegCfInvestments12m,
        knowledge_test_passed=args.knowledgeTestPassed,
    )
    if not isinstance(written, Written):
        return written
    return await _profile_saved(info, written)


async def verify_investor(info: Info[Any, Any], user_id: strawberry.ID) -> InvestorProfileResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    services = auth.context(info).services
    written = await run_command(
        info, PROFILE_PROBLEMS, services.app.accounts.verify_investor, who.id, str(user_id)
    )
    if not isinstance(written, Written):
        return written
    return await _profile_saved(info, written)


async def reject_investor(
    info: Info[Any, Any], user_id: strawberry.ID, reason: str
) -> InvestorProfileResult:
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return who
    args = check(Reason, reason=reason)
    if not isinstance(args, Reason):
        return args
    services = auth.context(info).services
    written = await run_command(
        info, PROFILE_PROBLEMS, services.app.accounts.reject_investor, who.id, str(user_id),
        args.reason,
    )
    if not isinstance(written, Written):
        return written
    return await _profile_saved(info, written)


# Queries ------------------------------------------------------------------------------


async def me(info: Info[Any, Any]) -> User | None:
    who = auth.viewer(info)
    return None if who is None else await load_user(info, who.id)


async def investment_limit(info: Info[Any, Any], regime: Regime) -> InvestmentLimit:
    who = auth.require_viewer(info)
    services = auth.context(info).services

    def compute() -> InvestmentLimit:
        if regime is Regime.REG_CF:
            headroom = services.app.reg_cf_headroom(who.id)
            return InvestmentLimit(
                regime=regime, limit=headroom.limit, used=headroom.used,
                remaining=headroom.remaining,
            )
        # ECSP sets no limit; what counts is the investor's open and settled commitments.
        user = services.app.user(who.id)
        since = months_before(services.clock.now(), REG_CF_LOOKBACK_MONTHS)
        used = sum(
            (c.amount for c in user.commitments.values()
             if c.regime == regime.value and c.at > since),
            ZERO,
        )
        return InvestmentLimit(regime=regime, limit=None, used=used, remaining=None)

    return await services.run(compute)
