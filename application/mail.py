"""Notices by e-mail: the message a notice becomes, and the port an SMTP adapter
implements (adapters/smtp.py). The mail sender (workers/notifier.py) drives them.

A message's Message-ID is derived from the notice's id, so a message sent again
after a crash (between the server's acceptance and our record of it) is
recognisably the same message. The text part is the notice's body (the same
text the app shows), then the footer; the HTML part is that text, escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from application.notification_rules import NotificationKind
from application.transparency import LogTreeStore, receipt
from application.unit_of_work import UnitOfWork
from domain.errors import NotFoundError

K = NotificationKind
DEFAULT_SENDER = "no-reply@crowdfund.invalid"

# Why each notice is sent whatever the recipient's preferences (no unsubscribe link).
REQUIRED_BY = {
    K.PLEDGE_CONFIRMED: "17 CFR 227.303(d) requires this confirmation of your investment "
    "commitment.",
    K.RECONFIRMATION_REQUIRED: "17 CFR 227.304(c) requires this notice of a material change.",
    K.EARLY_CLOSE: "17 CFR 227.304(b) requires this notice of an early close.",
    K.CAMPAIGN_FAILED: "17 CFR 227.304(d) requires this notice that the offering did not "
    "complete.",
    K.PLEDGE_AUTO_CANCELLED: "17 CFR 227.304(c) requires this notice of the cancellation of "
    "your commitment.",
    K.CAMPAIGN_CANCELLED: "17 CFR 227.304(d) requires this notice of a cancelled offering.",
    K.REFUND_ISSUED: "We must tell you of every movement of your money held in escrow.",
}
ACCOUNT_NOTICE = ("This is a notice about your account, your investments or your offering; "
                  "such notices are part of the service and cannot be switched off.")


class MailUnavailable(ConnectionError):
    """The mail server could not be reached, hung or dropped us: try again later."""


class MailRejected(Exception):
    """The server refused this message (e.g. the recipient): retry it later, alone."""


class MailSession(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Returns once the server accepted the message (raises otherwise)."""


class MailTransport(Protocol):
    """Where e-mail goes: an SMTP server (adapters.smtp)."""

    def session(self) -> AbstractAsyncContextManager[MailSession]: ...


# The receipt of a pledge (17 CFR 227.303(d)): text naming the signed tree head that
# covers a log position and the inclusion proof; None until a head covers it.
ReceiptSource = Callable[[int], str | None]


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str


@dataclass(frozen=True)
class MailNotice:
    """A stored notice as the sender reads it."""

    id: str
    kind: NotificationKind
    subject: str
    body: str
    position: int
    created_at: datetime


def message_id(notice_id: str, sender: str = DEFAULT_SENDER) -> str:
    domain = sender.rpartition("@")[2] or "crowdfund.invalid"
    return f"<{notice_id}@{domain}>"


def footer(kind: NotificationKind) -> str:
    why = REQUIRED_BY.get(kind, ACCOUNT_NOTICE)
    return f"Why you received this: {why} It is sent to every person concerned and has no " \
        "unsubscribe option."


def compose(
    notice: MailNotice, recipient: Recipient, sender: str = DEFAULT_SENDER,
    receipt: str | None = None,
) -> EmailMessage:
    """The RFC 5322 message: plain text plus a simple HTML part."""
    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = Address("Crowdfund", addr_spec=sender)
    message["To"] = Address(recipient.name, addr_spec=recipient.address)
    message["Date"] = format_datetime(notice.created_at)
    message["Message-ID"] = message_id(notice.id, sender)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Crowdfund-Notification"] = f"{notice.kind.value} {notice.id}"
    parts = [notice.body]
    if receipt:
        parts.append(receipt)
    text = "\n\n".join(parts)
    end = footer(notice.kind)
    message.set_content(f"{text}\n\n-- \n{end}\n")
    message.add_alternative(_html(notice.subject, text, end), subtype="html")
    return message


def _html(subject: str, text: str, end: str) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in text.split("\n\n")
    )
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(subject)}</title></head>"
        "<body style=\"font-family: sans-serif; max-width: 40em\">"
        f"{paragraphs}<hr><p style=\"color: #555; font-size: small\">{html.escape(end)}</p>"
        "</body></html>"
    )


def recipient_of(uow: UnitOfWork, user_id: str) -> Recipient | None:
    """The member's address, decrypted from the event store (never from the topic or
    the read models); None when no such member exists."""
    try:
        user = uow.user(user_id)
    except NotFoundError:
        return None
    return Recipient(user.email, user.display_name)


def receipt_text(store: LogTreeStore, position: int) -> str | None:
    """The receipt of the commitment at `position`: the signed tree head that covers it
    and the inclusion proof (application.transparency); None until a head covers it."""
    found = receipt(store, position)
    if found is None:
        return None
    head, proof = found.head, found.proof
    return "\n".join([
        "Signed receipt of this commitment (checkable by anyone, docs/audit.md):",
        f"- the platform's log of {head.size} entries, root hash {head.root_hash},",
        f"  signed at {head.at} by key {head.key_id}: signature {head.signature}",
        f"- entry {proof.position} (leaf hash {proof.leaf_hash}) is in it; inclusion proof:",
        *(f"  {step}" for step in proof.path),
    ])
