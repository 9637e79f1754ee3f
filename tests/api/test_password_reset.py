"""Password reset through GraphQL: one answer whoever asks, a one-time token stored
as a hash only, valid 30 minutes on the real clock (moved with time-machine), spent
once, every session ended; with TOTP on, the code is needed too.

The mail goes from the API straight to a real SMTP server (the embedded aiosmtpd
sink of `crowdfund dev`), which keeps each message as a file; the tests read the link
from there, as a person would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from time_machine import TimeMachineFixture

from adapters.smtp import SmtpTransport
from application.reset_mail import SUBJECT, ResetMailer
from crowdfund.mail_sink import MailSink, read_message
from tests.api.conftest import Api
from tests.api.flows import PASSWORD, PROBLEM, sign_up
from tests.api.test_credentials import enroll, me, sign_in

REQUEST = "mutation($e: String!) { requestPasswordReset(email: $e) { __typename ok } }"
RESET = f"""mutation($t: String!, $p: String!, $c: String) {{
  resetPassword(token: $t, newPassword: $p, totp: $c) {{
    __typename ... on AuthPayload {{ token user {{ id }} }} {PROBLEM} }} }}"""
NEW_PASSWORD = "a reset passphrase 2027"


class Inbox:
    """The reset mail as an SMTP server receives it (the embedded aiosmtpd sink)."""

    def __init__(self, directory: Path, mailer: ResetMailer) -> None:
        self.directory = directory
        self.mailer = mailer

    def messages(self) -> list[EmailMessage]:
        files = sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [read_message(path) for path in files]

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(to, token) of every mail received, oldest first."""
        found = []
        for message in self.messages():
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            link = re.search(r"http://testserver/#/reset\?token=(\S+)", body.get_content())
            assert link is not None, body.get_content()
            found.append((message["To"].addresses[0].addr_spec, unquote(link.group(1))))
        return found

    def last_to(self, email: str) -> str:
        return next(token for to, token in reversed(self.sent) if to == email)


@pytest.fixture
async def mail(api: Api, tmp_path: Path) -> AsyncIterator[Inbox]:
    with MailSink(tmp_path / "mail") as sink:
        mailer = ResetMailer(SmtpTransport(sink.url), "http://testserver", 30)
        api.services.reset_mail = mailer
        yield Inbox(sink.directory, mailer)


async def request(api: Api, email: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await api.ok(REQUEST, {"e": email}))["requestPasswordReset"]
    mailer = api.services.reset_mail
    assert isinstance(mailer, ResetMailer)
    await mailer.drain()  # the mail leaves in the background; wait for the sink
    return answer


async def reset(api: Api, token: str, password: str = NEW_PASSWORD,
                code: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = (await api.ok(RESET, {"t": token, "p": password, "c": code}))[
        "resetPassword"]
    return answer


async def test_the_same_answer_whether_the_account_exists_or_not(
    api: Api, mail: Inbox
) -> None:
    user = await sign_up(api, "forgetful")
    answers = [await request(api, e) for e in
               (user.email, "nobody-here@example.com", "not an address", "")]
    assert answers == [{"__typename": "PasswordResetRequested", "ok": True}] * 4
    assert [to for to, _ in mail.sent] == [user.email]
    (message,) = mail.messages()
    assert message["Subject"] == SUBJECT and "30 minutes" in str(message.get_body())


async def test_a_token_resets_once_and_ends_every_session(api: Api, mail: Inbox) -> None:
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
    api: Api, mail: Inbox, time_machine: TimeMachineFixture
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


async def test_using_one_link_spends_the_others(api: Api, mail: Inbox) -> None:
    user = await sign_up(api, "two-links")
    await request(api, user.email)
    await request(api, user.email)
    first, second = [token for to, token in mail.sent if to == user.email]
    assert (await reset(api, second))["__typename"] == "AuthPayload"
    assert (await reset(api, first, "another fine passphrase"))["code"] == \
        "RESET_TOKEN_INVALID"


async def test_no_more_than_three_live_links(api: Api, mail: Inbox) -> None:
    user = await sign_up(api, "impatient")
    for _ in range(5):
        assert (await request(api, user.email))["ok"] is True
    assert len(mail.sent) == 3


async def test_with_totp_on_the_link_alone_is_not_enough(api: Api, mail: Inbox) -> None:
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
