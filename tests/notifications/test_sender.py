"""The mail sender on its own, against a real SMTP server: give-ups, old notices, and
what the outbox records. (End to end with the broker: test_pipeline.py.)"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from adapters.smtp import SmtpTransport
from application.clock import SettableClock
from application.mail import recipient_of
from crowdfund.bootstrap import read_model_url
from crowdfund.mail_sink import received
from crowdfund.settings import Settings
from projections import tables as t
from projections.consumers import NOTIFIER
from projections.notices import Outbox
from projections.projector import Projector
from projections.source import StoreLog
from tests.conftest import Store
from tests.notifications.smtp import SwitchableSink
from tests.scenario import staff, verified_backer
from workers.notifier import MAX_ATTEMPTS, MailSender


def notices_made(sqlite_store: Store, clock: SettableClock, tmp_path: Path) -> tuple[str, int]:
    app = sqlite_store.open(clock)
    team = staff(app)
    for _ in range(3):
        verified_backer(app, team)  # KYC_VERIFIED each
    url = read_model_url(Settings(database_url=sqlite_store.url, data_dir=tmp_path))
    projector = Projector(url, NOTIFIER)
    projector.init_tracking(2)
    log = StoreLog(app)
    projector.catch_up(log, range(2), 2, log.head())
    projector.engine.dispose()
    return url, 3


def outbox_rows(url: str) -> list[tuple[int, str | None, object, object]]:
    outbox = Outbox(url)
    o = t.notification_outbox.c
    with outbox.engine.connect() as conn:
        rows = conn.execute(sa.select(o.attempts, o.last_error, o.next_attempt_at, o.sent_at)
                            ).all()
    outbox.close()
    return [tuple(r) for r in rows]


async def test_a_refused_message_is_retried_then_given_up_and_stays_in_the_app(
    sqlite_store: Store, tmp_path: Path
) -> None:
    clock = SettableClock(datetime.now(UTC))
    url, count = notices_made(sqlite_store, clock, tmp_path)
    app = sqlite_store.apps[0]
    with SwitchableSink(tmp_path / "mail") as sink:
        sink.set("refuse")
        sender = MailSender(Outbox(url), lambda u: recipient_of(app, u), SmtpTransport(sink.url),
                            retry_base=0.001)
        deadline = time.monotonic() + 30
        while any(n is not None for _, _, n, _ in outbox_rows(url)):
            assert time.monotonic() < deadline, outbox_rows(url)
            await sender.send_due()
            await asyncio.sleep(0.02)
        rows = outbox_rows(url)
        assert [(a, e, n, s) for a, e, n, s in rows] == [
            (MAX_ATTEMPTS, "recipient refused: 550", None, None)] * count
        assert sink.handler.refused == MAX_ATTEMPTS * count
        sink.set("accept")
        assert await sender.send_due() == 0  # given up: no more attempts
        assert received(sink.directory) == []
        sender.outbox.close()


async def test_notices_older_than_the_horizon_stay_in_the_app(
    sqlite_store: Store, tmp_path: Path
) -> None:
    clock = SettableClock(datetime.now(UTC) - timedelta(days=10))
    url, count = notices_made(sqlite_store, clock, tmp_path)
    app = sqlite_store.apps[0]
    with SwitchableSink(tmp_path / "mail") as sink:
        sender = MailSender(Outbox(url), lambda u: recipient_of(app, u), SmtpTransport(sink.url))
        assert await sender.send_due() == 0
        assert received(sink.directory) == []
        rows = outbox_rows(url)
        assert len(rows) == count and all(
            a == 0 and n is None and s is None and "horizon" in str(e) for a, e, n, s in rows)
        sender.outbox.close()
