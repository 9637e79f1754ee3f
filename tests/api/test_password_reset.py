"""Password reset through GraphQL: one answer whoever asks, a one-time token stored
as a hash only, valid 30 minutes on the real clock (moved with time-machine), spent
once, every session ended; with TOTP on, the code is needed too.

The mail itself goes through the `ResetMail` port; here a sink keeps what would be
sent (the notifier's mail infrastructure is another branch's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from time_machine import TimeMachineFixture

from domain.user import User
from tests.api.conftest import Api
from tests.api.flows import PASSWORD, PROBLEM, sign_up
from tests.api.test_credentials import enroll, me, sign_in

REQUEST = "mutation($e: String!) { requestPasswordReset(email: $e) { __typename ok } }"
RESET = f"""mutation($t: String!, $p: String!, $c: String) {{
  resetPassword(token: $t, newPassword: $p, totp: $c) {{
    __typename ... on AuthPayload {{ token user {{ id }} }} {PROBLEM} }} }}"""
NEW_PASSWORD = "a reset passphrase 2027"


@dataclass
class MailSink:
    """What the reset mail would carry, per e-mail address."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send_reset(self, user: User, token: str) -> None:
        self.sent.append((user.email, token))

    def last_to(self, email: str) -> str:
        return next(token for to, token in reversed(self.sent) if to == email)


@pytest.fixture
def mail(api: Api) -> MailSink:
    sink = MailSink()
    api.services.reset_mail = sink
    return sink


async def request(api: Api, email: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await api.ok(REQUEST, {"e": email}))["requestPasswordReset"]
    return answer


async def reset(api: Api, token: str, password: str = NEW_PASSWORD,
                code: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = (await api.ok(RESET, {"t": token, "p": password, "c": code}))[
        "resetPassword"]
    return answer


async def test_the_same_answer_whether_the_account_exists_or_not(
    api: Api, mail: MailSink
) -> None:
    user = await sign_up(api, "forgetful")
    answers = [await request(api, e) for e in
               (user.email, "nobody-here@example.com", "not an address", "")]
    assert answers == [{"__typename": "PasswordResetRequested", "ok": True}] * 4
    assert [to for to, _ in mail.sent] == [user.email]


async def test_a_token_resets_once_and_ends_every_session(api: Api, mail: MailSink) -> None:
    user = await sign_up(api, "resetter")
    other = (await sign_in(api, user.email))["token"]
    await request(api, user.email)
    token = mail.last_to(user.email)
    with api.services.read_models.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM password_reset_tokens")).all()
    assert stored and all(token not in row[0] for row in stored)  # a hash, never the token
    weak = await reset(api, token, "short")
    assert (weak["__typename"], weak["code"]) == ("ValidationProblem", "WEAK_PASSWORD")
    done = await reset(api, token)  # the weak attempt did not spend it
    assert done["__typename"] == "AuthPayload", done
    assert await me(api, user.token) is None and await me(api, other) is None
    assert await me(api, done["token"]) is not None
    assert (await sign_in(api, user.email))["code"] == "INVALID_CREDENTIALS"
    assert (await sign_in(api, user.email, NEW_PASSWORD))["__typename"] == "AuthPayload"
    again = await reset(api, token, "yet another passphrase 1")
    assert (again["__typename"], again["code"]) == ("NotAllowed", "RESET_TOKEN_INVALID")
    junk = await reset(api, "not-a-token")
    assert junk["code"] == "RESET_TOKEN_INVALID"


async def test_tokens_expire_after_thirty_minutes(
    api: Api, mail: MailSink, time_machine: TimeMachineFixture
) -> None:
    user = await sign_up(api, "slow-reader")
    time_machine.move_to(datetime.now(UTC), tick=True)
    await request(api, user.email)
    early = mail.last_to(user.email)
    time_machine.shift(timedelta(minutes=29))
    await request(api, user.email)
    late = mail.last_to(user.email)
    time_machine.shift(timedelta(minutes=2))  # the first is 31 minutes old
    expired = await reset(api, early)
    assert (expired["__typename"], expired["code"]) == ("NotAllowed", "RESET_TOKEN_INVALID")
    fresh = await reset(api, late)
    assert fresh["__typename"] == "AuthPayload", fresh


async def test_using_one_link_spends_the_others(api: Api, mail: MailSink) -> None:
    user = await sign_up(api, "two-links")
    await request(api, user.email)
    await request(api, user.email)
    first, second = [token for to, token in mail.sent if to == user.email]
    assert (await reset(api, second))["__typename"] == "AuthPayload"
    assert (await reset(api, first, "another fine passphrase"))["code"] == \
        "RESET_TOKEN_INVALID"


async def test_no_more_than_three_live_links(api: Api, mail: MailSink) -> None:
    user = await sign_up(api, "impatient")
    for _ in range(5):
        assert (await request(api, user.email))["ok"] is True
    assert len(mail.sent) == 3


async def test_with_totp_on_the_link_alone_is_not_enough(api: Api, mail: MailSink) -> None:
    user = await sign_up(api, "guarded")
    device, _ = await enroll(api, user.token)
    await request(api, user.email)
    token = mail.last_to(user.email)
    without = await reset(api, token)
    assert (without["__typename"], without["code"]) == ("NotAllowed", "TOTP_REQUIRED")
    wrong = await reset(api, token, code="000000")
    assert wrong["code"] == "INVALID_CREDENTIALS"
    done = await reset(api, token, code=device.code())  # the refusals did not spend it
    assert done["__typename"] == "AuthPayload", done
    assert (await sign_in(api, user.email, PASSWORD))["code"] == "INVALID_CREDENTIALS"
