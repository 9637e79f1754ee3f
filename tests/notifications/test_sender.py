"""The mail sender on its own, against a real SMTP server: give-ups, old notices, and
what the outbox records. (End to end with the broker: test_pipeline.py.)"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from adapters.signing import load_signer, new_signing_key
from adapters.smtp import SmtpTransport
from application.clock import SettableClock
from application.mail import receipt_text, recipient_of
from application.transparency import grow_fully, receipt, register_key, sign_head
from crowdfund.bootstrap import read_model_url
from crowdfund.mail_sink import read_message, received
from crowdfund.settings import Settings
from projections import tables as t
from projections.consumers import NOTIFIER
from projections.log_tree import SqlLogTree
from projections.notices import Outbox
from projections.projector import Projector
from projections.source import StoreLog
from tests.conftest import Store
from tests.notifications.conftest import stored_notices
from tests.notifications.smtp import SwitchableSink
from tests.scenario import live_campaign, staff, verified_backer
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


async def test_a_pledge_confirmation_waits_for_and_carries_its_signed_receipt(
    sqlite_store: Store, tmp_path: Path
) -> None:
    clock = SettableClock(datetime.now(UTC))
    app = sqlite_store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    pledged = app.pledges.place(backer, live_campaign(app, team), "100.00", "receipt-test",
                                acknowledge_risk=True)
    url = read_model_url(Settings(database_url=sqlite_store.url, data_dir=tmp_path))
    projector = Projector(url, NOTIFIER)
    projector.init_tracking(2)
    projector.catch_up(StoreLog(app), range(2), 2, app.head_position())
    projector.engine.dispose()
    tree = SqlLogTree(url, writer=True)
    signer = load_signer(new_signing_key())
    with SwitchableSink(tmp_path / "mail") as sink:
        sender = MailSender(Outbox(url), lambda u: recipient_of(app, u), SmtpTransport(sink.url),
                            receipts=lambda position: receipt_text(tree, position))
        # No signed head covers the pledge yet: its confirmation waits, the rest goes out.
        sent = await sender.send_due()
        subjects = [str(read_message(p)["Subject"]).strip()
                    for p in sink.directory.glob("*.eml")]
        assert sent == len(subjects) and subjects and not any("Pledge" in s for s in subjects)
        grow_fully(app, tree)
        register_key(tree, signer, clock.now())
        head = sign_head(tree, signer, clock.now())
        assert head is not None and head.size >= pledged.position
        deadline = time.monotonic() + 30
        while not await sender.send_due():
            assert time.monotonic() < deadline, "the confirmation was never sent"
            await asyncio.sleep(0.2)
        (path,) = [p for p in sink.directory.glob("*.eml")
                   if "Pledge confirmed" in str(read_message(p)["Subject"])]
        text = read_message(path).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"root hash {head.root_hash}" in text and f"signature {head.signature}" in text
        (notice,) = [n for n in stored_notices(url) if n["kind"] == "PLEDGE_CONFIRMED"]
        proof = receipt(tree, notice["position"])
        assert proof is not None and proof.proof.path
        assert all(step in text for step in proof.proof.path)
        assert f"entry {notice['position']} of the platform's public log" in text
        sender.outbox.close()
    tree.close()
