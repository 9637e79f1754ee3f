"""E-mail over SMTP (aiosmtplib), the `MailTransport` of application.mail.

`CROWDFUND_SMTP_URL` is `smtp://[user:pass@]host:port` (STARTTLS when the server
offers it) or `smtps://[user:pass@]host:port` (TLS from the first byte). One
connection per sending pass; every network step is bounded by `timeout`, so a
server that hangs costs a pass, never the worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from application.mail import MailRejected, MailUnavailable

TIMEOUT = 10.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CROWDFUND_SMTP_URL must look like smtp://[user:pass@]host:port "
                         "or smtps://[user:pass@]host:port")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname, port=parts.port or (465 if tls else 25), tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class _Session:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, message: EmailMessage) -> None:
        try:
            await self.client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailRejected(f"recipient refused: {_codes(exc)}") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:  # "try again later", e.g. 421, 451
                raise MailUnavailable(f"SMTP {exc.code}") from None
            raise MailRejected(f"SMTP {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(type(exc).__name__) from None


def _codes(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(str(getattr(e, "code", "?")) for e in exc.recipients)


class SmtpTransport:
    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.server = parse_smtp_url(url)
        self.timeout = timeout

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_Session]:
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host, port=server.port, use_tls=server.tls,
            start_tls=None if not server.tls else False, timeout=self.timeout,
            username=server.username, password=server.password,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Never the URL or the credentials in a message: they end up in logs.
            raise MailUnavailable(f"cannot reach the SMTP server ({type(exc).__name__})") \
                from None
        try:
            yield _Session(client)
        finally:
            with suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            client.close()
