"""Signing in and out, passwords and the second factor: signIn, signOut,
changePassword, requestPasswordReset, resetPassword, enrollTotp, confirmTotp.

A token is a session: signing out revokes it, a new password (changed or reset)
or a confirmed TOTP enrollment revokes every earlier one (`api.sessions`).
Wrong passwords and wrong codes count towards the sign-in back-off of the
(e-mail, address) pair and of the address (`api.security.SignInThrottle`).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import segno
from strawberry.types import Info

from api import auth
from api.context import Context, Viewer
from api.payloads import (
    AuthPayload,
    AuthResult,
    PasswordResetRequested,
    SignedOut,
    SignedOutResult,
    TotpEnrollment,
    TotpEnrollmentResult,
)
from api.problems import NotAllowed, invalid, not_allowed
from api.resolvers.common import Outcome, answer
from api.scalars import Long
from api.security import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    normalize_email,
    validate_email,
    validate_password,
    verify_password_or_dummy,
)
from api.types import user_from_record
from application import two_factor
from application.mail import Recipient
from application.sessions import MAX_LIVE_RESET_TOKENS, RESET_TOKEN_LIFETIME
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.user import User as UserRecord

# A password longer than any we accept is refused without hashing it.
MAX_SIGN_IN_PASSWORD = MAX_PASSWORD_LENGTH * 4
WRONG_CREDENTIALS = "The e-mail address or the password is wrong."


def _locked(wait_seconds: float) -> NotAllowedError:
    minutes = max(1, math.ceil(wait_seconds / 60))
    after = datetime.now(UTC) + timedelta(seconds=wait_seconds)
    return NotAllowedError(
        f"Too many failed sign-in attempts. Try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''} (after {after:%H:%M} UTC).",
        "TOO_MANY_ATTEMPTS",
    )


@dataclass(frozen=True)
class Opened:
    """A session to open: whose, proven how, and the log position to wait for."""

    user: UserRecord
    methods: tuple[str, ...]
    position: int | None = None


async def open_session(info: Info[Any, Any], opened: Opened) -> AuthPayload:
    """A new token; the rest of this request sees its session (e.g. the payload's e-mail)."""
    ctx = auth.context(info)
    services = ctx.services
    position = opened.position
    if position is None:
        position = await services.run(services.app.head_position)
    record = opened.user
    ctx.viewer, ctx.token_state = Viewer.of(record), "valid"
    token = services.sessions.tokens.issue(str(record.id), list(record.roles), opened.methods)
    return AuthPayload(token=token, user=user_from_record(record), position=Long(position))


async def _signed_out(info: Info[Any, Any], _: None) -> SignedOut:
    return SignedOut(ok=True)


async def _enrolled(info: Info[Any, Any], enrollment: TotpEnrollment) -> TotpEnrollment:
    return enrollment


SESSION = Outcome(AuthResult, open_session)
SIGNED_OUT = Outcome(SignedOutResult, _signed_out)
ENROLLED = Outcome(TotpEnrollmentResult, _enrolled)


def _second_factor(ctx: Context, user: UserRecord, code: str | None) -> tuple[str, ...]:
    """The methods that prove the session (raises NotAllowedError when the code is
    missing or wrong; a wrong one counts as a failed sign-in)."""
    if not user.totp_enabled:
        return ("pwd",)
    try:
        ctx.services.app.accounts.prove_second_factor(user.id, code)
    except NotAllowedError as refused:
        if refused.code == "INVALID_CREDENTIALS":
            ctx.services.throttle.record_failure(user.email, ctx.client_ip)
        raise
    return ("pwd", "recovery") if code and two_factor.is_recovery_code(code) else ("pwd", "otp")


async def sign_in(
    info: Info[Any, Any], email: str, password: str, totp: str | None = None
) -> AuthResult:
    ctx = auth.context(info)
    services = ctx.services
    if not email.strip():
        return invalid("Enter your e-mail address.", "email")
    if not password:
        return invalid("Enter your password.", "password")
    address = normalize_email(email)[:320]

    def verify() -> Opened:
        if (wait := services.throttle.check(address, ctx.client_ip)) is not None:
            raise _locked(wait)
        user = services.app.user_by_email(address) if validate_email(address) is None else None
        # An unknown e-mail pays for one argon2 run too: timing reveals nothing.
        candidate = password if len(password) <= MAX_SIGN_IN_PASSWORD else ""
        ok = verify_password_or_dummy(
            user.password_hash if user else None, candidate, hasher=services.hasher
        )
        if user is None or not ok or not candidate:
            services.throttle.record_failure(address, ctx.client_ip)
            if (wait := services.throttle.check(address, ctx.client_ip)) is not None:
                raise _locked(wait)
            raise NotAllowedError(WRONG_CREDENTIALS, "INVALID_CREDENTIALS")
        methods = _second_factor(ctx, user, totp)
        services.throttle.record_success(address, ctx.client_ip)
        return Opened(services.app.user(user.id), methods)

    return await answer(info, SESSION, verify)


def _caller(info: Info[Any, Any]) -> Viewer | NotAllowed:
    """The signed-in caller, auditors included: their own account is theirs to secure."""
    who = auth.actor(info)
    if isinstance(who, NotAllowed) and who.code == "READ_ONLY_ROLE":
        viewer = auth.context(info).viewer
        assert viewer is not None
        return viewer
    return who


async def sign_out(info: Info[Any, Any]) -> SignedOutResult:
    who = _caller(info)
    claims = auth.context(info).claims
    if isinstance(who, NotAllowed) or claims is None:
        return who if isinstance(who, NotAllowed) else not_allowed(auth.SIGN_IN_FIRST)
    sessions = auth.context(info).services.sessions
    return await answer(info, SIGNED_OUT, lambda: sessions.sign_out(claims))


async def change_password(
    info: Info[Any, Any], current_password: str, new_password: str
) -> AuthResult:
    who = _caller(info)
    if isinstance(who, NotAllowed):
        return who
    ctx = auth.context(info)
    services = ctx.services
    methods = ctx.claims.methods if ctx.claims else ("pwd",)

    def change() -> Opened:
        user = services.app.user(who.id)
        if (wait := services.throttle.check(user.email, ctx.client_ip)) is not None:
            raise _locked(wait)
        candidate = current_password if len(current_password) <= MAX_SIGN_IN_PASSWORD else ""
        if not candidate or not verify_password_or_dummy(
            user.password_hash, candidate, hasher=services.hasher
        ):
            services.throttle.record_failure(user.email, ctx.client_ip)
            raise NotAllowedError("Your current password is wrong.", "INVALID_CREDENTIALS")
        _check_new_password(new_password, user.email)
        written = services.app.accounts.change_password(
            user.id, hash_password(new_password, hasher=services.hasher), "change")
        services.sessions.end_sessions(str(user.id))
        return Opened(services.app.user(user.id), methods, written.position)

    return await answer(info, SESSION, change)


def _check_new_password(password: str, email: str) -> None:
    if (problem := validate_password(password, email)) is not None:
        raise ValidationError(problem, "newPassword", "WEAK_PASSWORD")


def reset_token_hash(token: str) -> str:
    """Reset tokens are stored as this only: 256 random bits need no slow hash."""
    return hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()


async def request_password_reset(info: Info[Any, Any], email: str) -> PasswordResetRequested:
    """The same answer, as fast, whatever happens: whether the account exists stays
    unknown (the mail, when there is one, is sent in the background)."""
    services = auth.context(info).services
    address = normalize_email(email)[:320]

    def request() -> tuple[Recipient, str] | None:
        if validate_email(address) is not None:
            return None
        user = services.app.user_by_email(address)
        if user is None:
            return None
        now = time.time()
        tokens = services.sessions.reset_tokens
        if tokens.live(str(user.id), now) >= MAX_LIVE_RESET_TOKENS:
            return None
        token = secrets.token_urlsafe(32)
        tokens.issue(reset_token_hash(token), str(user.id),
                     now + RESET_TOKEN_LIFETIME.total_seconds())
        return Recipient(user.email, user.display_name), token

    made = await services.run(request)
    if made is not None and services.reset_mail is not None:
        services.reset_mail.send_reset(*made)
    return PasswordResetRequested(ok=True)


RESET_INVALID = ("This reset link is wrong, used or expired; ask for a new one.",
                 "RESET_TOKEN_INVALID")


async def reset_password(
    info: Info[Any, Any], token: str, new_password: str, totp: str | None = None
) -> AuthResult:
    ctx = auth.context(info)
    services = ctx.services
    digest = reset_token_hash(token[:200])

    def reset() -> Opened:
        now = time.time()
        holder = services.sessions.reset_tokens.holder(digest, now)
        if holder is None:
            raise NotAllowedError(*RESET_INVALID)
        user = services.app.user(holder)
        _check_new_password(new_password, user.email)
        # The link proves the mailbox; with TOTP on, the code is needed too.
        factor = _second_factor(ctx, user, totp)
        if services.sessions.reset_tokens.redeem(digest, now) is None:
            raise NotAllowedError(*RESET_INVALID)  # spent meanwhile
        written = services.app.accounts.change_password(
            user.id, hash_password(new_password, hasher=services.hasher), "reset")
        services.sessions.end_sessions(holder)
        services.throttle.record_success(user.email, ctx.client_ip)
        return Opened(services.app.user(user.id), ("reset", *factor[1:]), written.position)

    return await answer(info, SESSION, reset)


def _qr_code(uri: str) -> str:
    """An SVG data URL drawn here: the secret never goes to a QR service."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


async def enroll_totp(info: Info[Any, Any]) -> TotpEnrollmentResult:
    who = _caller(info)
    if isinstance(who, NotAllowed):
        return who
    ctx = auth.context(info)
    services = ctx.services
    replacing = ctx.claims is not None and "recovery" in ctx.claims.methods

    def enroll() -> TotpEnrollment:
        user = services.app.user(who.id)
        if user.totp_enabled and not replacing:
            raise InvalidStateError(
                "Two-factor authentication is already on. To move it to a new device, sign "
                "in with a recovery code, then enroll again.", "TOTP_ALREADY_ENABLED",
            )
        secret, codes = two_factor.new_secret(), two_factor.new_recovery_codes()
        services.app.accounts.start_totp_enrollment(user.id, secret, codes)
        uri = two_factor.provisioning_uri(secret, user.email)
        return TotpEnrollment(secret=secret, otpauth_uri=uri, qr_code=_qr_code(uri),
                              recovery_codes=codes)

    return await answer(info, ENROLLED, enroll)


async def confirm_totp(info: Info[Any, Any], code: str) -> AuthResult:
    who = _caller(info)
    if isinstance(who, NotAllowed):
        return who
    services = auth.context(info).services

    def confirm() -> Opened:
        written = services.app.accounts.confirm_totp(who.id, code[:64])
        # Sessions opened with the password alone end: from now on, two factors.
        services.sessions.end_sessions(who.id)
        return Opened(services.app.user(who.id), ("pwd", "otp"), written.position)

    return await answer(info, SESSION, confirm)
