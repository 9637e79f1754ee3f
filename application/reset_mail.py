"""The password-reset mail: composed here, sent by the API straight through the mail
port (`application.mail.MailTransport`, SMTP in production, the dev sink in `dev`).

Not through the notifier's outbox: the link carries the raw token, which must never
be stored in clear nor travel on Kafka; handed from the API to the SMTP server, it
exists only in the mail. Sending runs in the background, so the answer to
`requestPasswordReset` takes as long whether or not an account (and a mail) exists.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from application.mail import DEFAULT_SENDER, MailTransport, Recipient

log = logging.getLogger(__name__)

SUBJECT = "Reset your Crowdfund password"


def reset_link(public_url: str, token: str) -> str:
    """In the fragment: the token never reaches a server log or a Referer."""
    return f"{public_url.rstrip('/')}/#/reset?token={quote(token, safe='')}"


def compose_reset(recipient: Recipient, link: str, minutes: int,
                  sender: str = DEFAULT_SENDER) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = Address("Crowdfund", addr_spec=sender)
    message["To"] = Address(recipient.name, addr_spec=recipient.address)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = sender.rpartition("@")[2] or "crowdfund.invalid"
    message["Message-ID"] = f"<reset-{uuid.uuid4().hex}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Someone asked to reset the password of your Crowdfund account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "It works once. Every session of your account is signed out when the password "
        "changes. If you did not ask, ignore this message: your password stays as it is.\n"
    )
    return message


class ResetMailer:
    """`ResetMail` (application.sessions) over a `MailTransport`."""

    def __init__(self, transport: MailTransport, public_url: str, minutes: int,
                 sender: str = DEFAULT_SENDER) -> None:
        self.transport = transport
        self.public_url = public_url
        self.minutes = minutes
        self.sender = sender
        self._sending: set[asyncio.Task[None]] = set()

    def send_reset(self, recipient: Recipient, token: str) -> None:
        """Start sending on the running loop; returns at once (see the module doc)."""
        message = compose_reset(recipient, reset_link(self.public_url, token), self.minutes,
                                self.sender)
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, message: EmailMessage) -> None:
        try:
            async with self.transport.session() as session:
                await session.send(message)
        except Exception as exc:  # the user asks again; never the address or link in logs
            log.warning("a password-reset mail was not sent (%s)", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the mails being sent (tests; shutdown)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)
