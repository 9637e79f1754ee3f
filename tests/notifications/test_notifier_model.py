"""The notifier's model on SQLite and PostgreSQL: every kind of notice from the history
that owes it, exactly once, with its content; replays and rebuilds add nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from application.clock import SettableClock
from application.notification_rules import NotificationKind
from crowdfund.bootstrap import read_model_url
from crowdfund.settings import Settings
from projections import tables as t
from projections.consumers import NOTIFIER
from projections.notices import Notices, Outbox
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.source import StoreLog
from tests.conftest import Store
from tests.notifications.conftest import owed_counter, stored_notices
from tests.notifications.scenario import History, every_kind
from tests.projections.test_projector import feed, messages

PARTITIONS = 4


@pytest.fixture
def history(store: Store, clock: SettableClock) -> tuple[History, StoreLog]:
    app = store.open(clock)
    return every_kind(app, clock), StoreLog(app)


def test_every_kind_once_with_its_recipient_and_content(
    store: Store, history: tuple[History, StoreLog], tmp_path: Path
) -> None:
    h, log = history
    url = read_model_url(Settings(database_url=store.url, data_dir=tmp_path))
    projector = Projector(url, NOTIFIER)
    projector.init_tracking(PARTITIONS)
    published = messages(log, PARTITIONS)
    feed(projector, log, published, PARTITIONS)
    notices = stored_notices(projector.engine)
    assert owed_counter(notices) == h.owed
    assert {n["kind"] for n in notices} == {k.value for k in NotificationKind}

    by_kind = {(n["kind"], n["recipient_id"]): n for n in notices}
    by_pledge = {n["pledge_id"]: n for n in notices if n["kind"] == "PLEDGE_CONFIRMED"}
    confirmed = by_pledge[h.pledges["c-x"]]
    assert "USD 200.00" in confirmed["body"] and "20 at USD 10.00 per share" in confirmed["body"]
    app = store.apps[0]
    issuer = app.issuer(app.campaign(h.x).issuer_id).registered_name  # type: ignore[arg-type]
    assert f"Issuer: {issuer}" in confirmed["body"] and " UTC" in confirmed["body"]
    assert "You may cancel it until" in confirmed["body"]
    assert confirmed["pledge_id"] == h.pledges["c-x"]
    ecsp = [n for n in notices if n["kind"] == "PLEDGE_CONFIRMED" and "EUR" in n["body"]]
    assert len(ecsp) == 1 and "reflection period" in ecsp[0]["body"]
    failed = by_kind[("CAMPAIGN_FAILED", h.a)]["body"]
    assert "EUR 100.00 is returned" in failed and "minimum target of EUR 100,000.00" in failed
    cancelled = by_kind[("CAMPAIGN_CANCELLED", h.b)]["body"]
    assert "licence was withdrawn" in cancelled and "USD 300.00" in cancelled
    lapsed = by_kind[("PLEDGE_AUTO_CANCELLED", h.c)]["body"]
    assert "not reconfirmed" in lapsed and "USD 200.00" in lapsed
    change = by_kind[("RECONFIRMATION_REQUIRED", h.a)]["body"]
    assert "maximum target: now USD 12,000.00" in change and "reconfirmed by" in change
    early = by_kind[("EARLY_CLOSE", h.a)]["body"]
    assert "New deadline:" in early and "48 hours before the new deadline" in early
    assert "Who installs the panels?" in by_kind[("QUESTION_ASKED", str(h.team.founder))]["body"]
    assert "certified crews" in by_kind[("QUESTION_ANSWERED", h.c)]["body"]
    assert "50 shares" in by_kind[("SHARES_ISSUED", h.a)]["body"]
    assert "USD 100.00" in by_kind[("DISTRIBUTION_PAID", h.a)]["body"]

    # Delivered again, all of it: nothing new.
    feed(projector, log, published, PARTITIONS)
    projector.catch_up(log, range(PARTITIONS), PARTITIONS, log.head())
    assert stored_notices(projector.engine) == notices

    # Every notice is queued for mail once; a rebuild keeps what was mailed and read.
    outbox, reads = Outbox(url), Notices(url)
    assert len(outbox.due(confirmed["created_at"].replace(year=9999), 1000)) == \
        len(notices)
    outbox.sent(confirmed["id"], "<m>", confirmed["created_at"], 1)
    assert reads.mark_read(h.c, [confirmed["id"], by_pledge[h.pledges["a-x"]]["id"]],
                           confirmed["created_at"]) == 1  # only C's own
    rebuild(url, log, NOTIFIER, NOTIFIER.models, PARTITIONS)
    assert stored_notices(projector.engine) == notices
    assert outbox.delivered() == {confirmed["id"]: "<m>"}
    page = reads.page(h.c, 50)
    assert page.unread_count == len([n for n in notices if n["recipient_id"] == h.c]) - 1
    assert [v.read for v in page.page.items if v.id == confirmed["id"]] == [True]
    with projector.engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(
            t.notification_outbox)).scalar_one()
    assert queued == len(notices)
    for closing in (outbox, reads):
        closing.close()
    projector.engine.dispose()
