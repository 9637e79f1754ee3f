"""The notifier worker (`crowdfund worker notifier`): notices from the topic, mail from
the outbox.

Two loops in one process:
- the notifier consumer group (`projections.consumers.NOTIFIER`, run by the same
  `ProjectionWorker` as the projections): events -> notices and outbox rows, exactly
  once per event, caught up from the event store after a broker loss;
- the mail sender (`MailSender`), when an SMTP server is configured: mails what the
  outbox holds. It never holds up the consumer: a server that refuses or hangs only
  delays mail, with back-off, and every notice stays in the app meanwhile.

A message is marked sent only after the server accepted it. A crash in between sends
it again, with the same Message-ID (derived from the notice's id), so the receiver
can recognise the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from application.mail import (
    DEFAULT_SENDER,
    MailNotice,
    MailRejected,
    MailSession,
    MailTransport,
    MailUnavailable,
    ReceiptSource,
    Recipient,
    compose,
    message_id,
)
from application.notification_rules import NotificationKind
from projections.consumers import NOTIFIER
from projections.notices import Outbox, OutboxItem
from projections.projector import EventLog
from workers.projections import run_projections
from workers.running import KafkaTopic, keep_running, pause

log = logging.getLogger(__name__)

BATCH = 50
POLL = 0.5
# A rejected message is tried again after 5 s, 10 s, 20 s ... at most an hour apart,
# and given up after MAX_ATTEMPTS (it stays in the app; the error is kept).
MAX_ATTEMPTS = 10
# A notice older than this when the sender first sees it (a notifier started on an
# old log, or mail configured late) stays in the app only.
MAX_AGE = timedelta(days=3)
# A pledge confirmation waits this long for a signed tree head covering its position.
RECEIPT_WAIT = 30.0
RECEIPT_POLL = timedelta(seconds=2)


def retry_delay(attempts: int, base: float = 5.0) -> timedelta:
    return timedelta(seconds=min(3600.0, base * 2 ** max(0, attempts - 1)))


def real_now() -> datetime:
    return datetime.now(UTC)


class MailSender:
    def __init__(
        self, outbox: Outbox, recipients: Callable[[str], Recipient | None],
        transport: MailTransport, *, sender: str = DEFAULT_SENDER,
        receipts: ReceiptSource | None = None, poll: float = POLL,
        backoff: tuple[float, float] = (1.0, 30.0), retry_base: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.recipients = recipients
        self.transport = transport
        self.sender = sender
        self.receipts = receipts
        self.poll = poll
        self.backoff = backoff
        self.retry_base = retry_base
        self.sent = 0
        self._waiting: dict[str, float] = {}  # notice id -> when it began to wait

    async def run(self, stop: asyncio.Event) -> None:
        async def attempt() -> None:
            if not await self.send_due(stop):
                await pause(stop, self.poll)

        await keep_running(stop, "mail sender", attempt, backoff=self.backoff)

    async def send_due(self, stop: asyncio.Event | None = None) -> int:
        """One pass: mail what is due over one connection; how many were sent."""
        items = await asyncio.to_thread(self.outbox.due, real_now(), BATCH)
        ready = [i for i in items if await self._ready(i)]
        if not ready:
            return 0
        sent = 0
        async with self.transport.session() as session:
            for item in ready:
                if stop is not None and stop.is_set():
                    break
                sent += await self._send(session, item)
        return sent

    async def _ready(self, item: OutboxItem) -> bool:
        """Whether to mail it now (else it was given up or deferred)."""
        notice = item.notice
        if item.attempts == 0 and notice.created_at < real_now() - MAX_AGE:
            await asyncio.to_thread(self.outbox.give_up, notice.id, 0,
                                    "older than the sender's horizon: in the app only")
            return False
        return True

    async def _send(self, session: MailSession, item: OutboxItem) -> int:
        notice = item.notice
        recipient = await asyncio.to_thread(self.recipients, notice.recipient_id)
        if recipient is None:
            await asyncio.to_thread(self.outbox.give_up, notice.id, item.attempts,
                                    "no such member")
            return 0
        wait, receipt = await self._receipt(item)
        if wait:
            return 0
        message = compose(
            MailNotice(notice.id, NotificationKind(notice.kind), notice.subject, notice.body,
                       notice.position, notice.created_at),
            recipient, self.sender, receipt or None,
        )
        attempts = item.attempts + 1
        try:
            await session.send(message)
        except MailRejected as exc:
            await self._failed(notice.id, attempts, str(exc))
            return 0
        except MailUnavailable as exc:
            await self._failed(notice.id, attempts, str(exc))
            raise
        await asyncio.to_thread(self.outbox.sent, notice.id, message_id(notice.id, self.sender),
                                real_now(), attempts)
        self._waiting.pop(notice.id, None)
        self.sent += 1
        return 1

    async def _receipt(self, item: OutboxItem) -> tuple[bool, str | None]:
        """(wait for it, a pledge confirmation's receipt text or None)."""
        notice = item.notice
        if self.receipts is None or notice.kind != NotificationKind.PLEDGE_CONFIRMED.value:
            return False, None
        text = await asyncio.to_thread(self.receipts, notice.position)
        if text:
            return False, text
        began = self._waiting.setdefault(notice.id, time.monotonic())
        if time.monotonic() - began < RECEIPT_WAIT:
            await asyncio.to_thread(self.outbox.defer, notice.id, real_now() + RECEIPT_POLL)
            return True, None
        return False, None  # no head yet (no log-heads worker?): the body names the position

    async def _failed(self, notice_id: str, attempts: int, error: str) -> None:
        if attempts >= MAX_ATTEMPTS:
            log.warning("mail sender: giving up on notice %s after %d attempts: %s",
                        notice_id, attempts, error)
            await asyncio.to_thread(self.outbox.give_up, notice_id, attempts, error)
        else:
            await asyncio.to_thread(self.outbox.retry, notice_id, attempts, error,
                                    real_now() + retry_delay(attempts, self.retry_base))


async def run_notifier(
    read_model_url: str, log_: EventLog, topic: KafkaTopic, stop: asyncio.Event,
    *, mail: MailSender | None = None, group: str | None = None,
) -> None:
    """The notifier consumer group and, when mail is configured, the mail sender."""
    loops = [run_projections(read_model_url, log_, topic, stop, consumer=NOTIFIER, group=group)]
    if mail is not None:
        loops.append(mail.run(stop))
    else:
        log.info("no CROWDFUND_SMTP_URL: notices stay in the app")
    try:
        await asyncio.gather(*loops)
    finally:
        if mail is not None:
            mail.outbox.close()
