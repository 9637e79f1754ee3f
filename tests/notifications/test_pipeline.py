"""End to end on the embedded broker: commands -> event store -> relay -> Kafka -> the
notifier -> notices in the app and e-mail through real SMTP, on SQLite and PostgreSQL;
a notifier SIGKILLed mid-stream; an SMTP server that refuses, hangs, then recovers."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.smtp import SmtpTransport
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.mail import recipient_of
from application.notification_rules import NotificationKind
from crowdfund.bootstrap import read_model_url
from crowdfund.mail_sink import MailSink, read_message, received
from crowdfund.settings import Settings
from projections.consumers import NOTIFIER
from projections.notices import Outbox
from tests.conftest import Store
from tests.notifications.conftest import owed_counter, stored_notices
from tests.notifications.oracle import owed_by_log, stored_as_owed
from tests.notifications.scenario import every_kind
from tests.notifications.smtp import SwitchableSink
from tests.projections.conftest import Pipeline, Worker, eventually
from tests.projections.test_resilience import hot_campaign
from tests.scenario import pledge
from workers.notifier import MailSender

pytestmark = pytest.mark.broker
SENDER = "notices@crowdfund.test"


def sender_for(app: Crowdfund, url: str, smtp: str, **tuning: Any) -> MailSender:
    return MailSender(Outbox(url), lambda user: recipient_of(app, user),
                      SmtpTransport(smtp, timeout=tuning.pop("timeout", 5.0)), sender=SENDER,
                      poll=0.1, backoff=(0.1, 0.5), **tuning)


def mailed(directory: Path) -> dict[str, Any]:
    """notice id -> the message in the sink."""
    found = {}
    for path in directory.glob("*.eml"):
        message = read_message(path)
        _, notice_id = str(message["X-Crowdfund-Notification"]).split()
        found[notice_id] = message
    return found


async def test_every_kind_in_the_app_and_by_mail(
    store: Store, clock: SettableClock, settings: Settings, pipeline: Pipeline, tmp_path: Path,
) -> None:
    app = store.open(clock)
    url = read_model_url(settings)
    with MailSink(tmp_path / "mail") as sink:
        pipeline.start_relay()
        pipeline.start_projections(consumer=NOTIFIER)
        pipeline._start(sender_for(app, url, sink.url).run)
        history = await asyncio.to_thread(every_kind, app, clock)
        total = sum(history.owed.values())
        await eventually(lambda: len(stored_notices(url)) >= total, 60, "every notice")
        await eventually(lambda: len(mailed(sink.directory)) >= total, 60, "every e-mail")
        notices = stored_notices(url)
        assert owed_counter(notices) == history.owed
        assert {n["kind"] for n in notices} == {k.value for k in NotificationKind}
        messages = mailed(sink.directory)
        assert set(messages) == {n["id"] for n in notices}
        assert Counter(received(sink.directory)) == Counter(
            {m["Message-ID"]: 1 for m in messages.values()})
        for notice in notices:
            message = messages[notice["id"]]
            user = app.user(notice["recipient_id"])
            assert message["To"].addresses[0].addr_spec == user.email
            assert str(message["Subject"]).strip() == notice["subject"]  # a folded header
            assert message["Message-ID"] == f"<{notice['id']}@crowdfund.test>"
            text = message.get_body(("plain",)).get_content()
            assert notice["body"] in text and "no unsubscribe option" in text
            assert message.get_body(("html",)) is not None


async def test_a_refusing_or_hanging_smtp_server_delays_mail_only(
    store: Store, clock: SettableClock, settings: Settings, pipeline: Pipeline, tmp_path: Path,
) -> None:
    if store.is_postgres:
        pytest.skip("the SMTP side does not depend on the database: SQLite is enough")
    app = store.open(clock)
    url = read_model_url(settings)
    sink = SwitchableSink(tmp_path / "mail").start()
    try:
        sink.set("refuse")
        pipeline.start_relay()
        pipeline.start_projections(consumer=NOTIFIER)
        sender = sender_for(app, url, sink.url, timeout=1.0, retry_base=0.3)
        pipeline._start(sender.run)
        history = await asyncio.to_thread(every_kind, app, clock)
        total = sum(history.owed.values())
        # Notices reach the app while the server refuses every recipient ...
        await eventually(lambda: len(stored_notices(url)) >= total, 60, "every notice")
        await eventually(lambda: sink.handler.refused >= 5, 30, "refusals")
        assert not mailed(sink.directory)
        # ... and while it hangs mid-message.
        sink.set("hang")
        await eventually(lambda: sink.handler.hung >= 2, 30, "hung deliveries")
        campaign, backers = await asyncio.to_thread(hot_campaign, app, 2)
        await asyncio.to_thread(pledge, app, backers[0], campaign, "100.00")
        await eventually(lambda: len(stored_notices(url)) > total, 30, "notices meanwhile")
        assert not mailed(sink.directory)
        outbox = Outbox(url)
        with outbox.engine.connect() as conn:
            tried = conn.exec_driver_sql(
                "SELECT count(*) FROM nt_outbox WHERE attempts > 0 AND sent_at IS NULL"
            ).scalar_one()
        outbox.close()
        assert tried > 0
        # The server recovers: everything goes out, once.
        sink.set("accept")
        everything = len(stored_notices(url))
        await eventually(lambda: len(mailed(sink.directory)) >= everything, 90, "the mail")
        assert set(mailed(sink.directory)) == {n["id"] for n in stored_notices(url)}
        counts = Counter(received(sink.directory))
        assert max(counts.values()) == 1, counts.most_common(3)
    finally:
        sink.set("accept")
        await pipeline.close()
        sink.stop()


async def test_sigkilled_notifier_loses_and_doubles_nothing(
    store: Store, clock: SettableClock, settings: Settings, pipeline: Pipeline,
    workers: Callable[[str, Settings], Worker], tmp_path: Path,
) -> None:
    if not store.is_postgres:
        pytest.skip("one database is enough for the crash; SQLite runs every other case")
    app = store.open(clock)
    url = read_model_url(settings)
    with MailSink(tmp_path / "mail") as sink:
        notifier_settings = settings.model_copy(update={"smtp_url": sink.url})
        campaign, backers = await asyncio.to_thread(hot_campaign, app)
        pipeline.start_relay()
        notifier = workers("notifier", notifier_settings).start()
        done = threading.Event()
        written = [0]

        def write() -> None:
            # Paced (a few hundred pledges in all): the kills land mid-stream, and the
            # mail that follows is what the test checks, not the sender's throughput.
            while not done.wait(0.01):
                pledge(app, backers[written[0] % len(backers)], campaign, "100.00")
                written[0] += 1

        writing = asyncio.create_task(asyncio.to_thread(write))
        kills = 0
        try:
            await eventually(lambda: len(stored_notices(url)) > 5, 60, "the first notices")
            for _ in range(3):
                await asyncio.sleep(1.0)
                notifier.kill()
                kills += 1
                await asyncio.sleep(0.3)
                notifier.start()
            await asyncio.sleep(1.0)
        finally:
            done.set()
            await writing
        owed = owed_by_log(app)
        try:
            # Generous bounds: each SIGKILL leaves a dead member in the broker's group until
            # its session times out, and a loaded machine (two test processes) adds to that.
            await eventually(lambda: stored_as_owed(stored_notices(url)) == owed, 180,
                             "every notice owed")
            await eventually(lambda: len(mailed(sink.directory)) >= sum(owed.values()), 120,
                             "every e-mail")
        except AssertionError as waited:
            raise AssertionError(f"{waited}\n{notifier.log()}") from None
        notices = stored_notices(url)
        assert {n["kind"] for n in notices} <= {"PLEDGE_CONFIRMED", "KYC_VERIFIED",
                                                "CAMPAIGN_APPROVED"}
        assert written[0] > 20
        assert set(mailed(sink.directory)) == {n["id"] for n in notices}
        # A message is marked sent only after the server took it: a kill in between sends
        # it again, with the same Message-ID (one file); at most one per kill.
        repeats = sum(n - 1 for n in Counter(received(sink.directory)).values())
        assert repeats <= kills, Counter(received(sink.directory)).most_common(3)
