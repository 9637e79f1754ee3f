"""`crowdfund worker monitor` as a real process beside a real relay and broker:
SIGKILLed while events stream in, it loses no alert and raises none twice, and a
rebuild of its state finds exactly the same."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
import sqlalchemy as sa

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import aml_monitor, open_application, read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from projections import schema
from projections import tables as t
from projections.monitor import NAME as MONITOR
from projections.monitor import pending_findings
from projections.queries import ReadModels
from projections.rebuild import rebuild
from projections.source import StoreLog
from tests.conftest import START, Store
from tests.projections.conftest import PARTITIONS, Worker, eventually
from tests.scenario import Staff, live_campaign, pass_knowledge_tests, pledge, register, staff

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SECRET = "a-worker-secret-that-is-long-enough-to-sign"  # as tests.projections' Worker sets
CYCLERS = 12


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(start_timeout=30) as running:
        yield running


def settings_for(store: Store, tmp_path: Path, broker: EmbeddedBroker) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=store.url, kafka_bootstrap=broker.bootstrap,
        topic=f"events-{uuid.uuid4().hex[:8]}", topic_partitions=PARTITIONS, secret_key=SECRET,
    )


def verified(app: Crowdfund, team: Staff, name: str, user: UUID | None = None) -> UUID:
    user = user or register(app, "backer")
    app.accounts.submit_investor_profile(
        user, legal_name=name, date_of_birth="1980-01-01", country="US",
        annual_income="40000", net_worth="40000", accredited=True, knowledge_test_passed=True,
    )
    pass_knowledge_tests(app, user)  # type: ignore[arg-type]
    app.accounts.verify_investor(team.risk_officer, user)
    return user


def alerts_in_store(app: Crowdfund) -> Counter[tuple[str, str]]:
    """(rule, subject) of every alert raised, counted."""
    raised: Counter[tuple[str, str]] = Counter()
    topic = "domain.aml_alert:AmlAlert.AmlAlertRaised"
    for note in app.recorder.select_notifications(0, 100_000, topics=[topic]):
        alert = app.aml.alert(note.originator_id)
        raised[(alert.rule.value, alert.subject_id)] += 1
    return raised


def monitor_state(settings: Settings) -> tuple[int, list[tuple[object, ...]], int]:
    """(applied through, findings, findings not raised yet) of the monitor."""
    models = ReadModels(read_model_url(settings), topic=settings.topic)
    try:
        with models.engine.connect() as conn:
            findings = [tuple(r) for r in conn.execute(
                sa.select(t.aml_findings).order_by(t.aml_findings.c.alert_id))]
            pending = len(pending_findings(conn, 1000))
        return models.applied_through(MONITOR), findings, pending
    finally:
        models.close()


async def test_sigkilled_monitor_loses_and_doubles_no_alert(
    sqlite_store: Store, tmp_path: Path, broker: EmbeddedBroker,
) -> None:
    clock = SettableClock(START)
    settings = settings_for(sqlite_store, tmp_path, broker)
    app = open_application(settings, clock)
    sqlite_store.apps.append(app)
    team = staff(app)
    campaign = live_campaign(app, team, max_target="1000000.00")
    cyclers = [verified(app, team, f"Cycler Number{n} Q") for n in range(CYCLERS)]
    verified(app, team, "Hortensia Vandermolen", user=team.founder)
    url = read_model_url(settings)
    schema.upgrade(url)
    relay = Worker("relay", settings, tmp_path).start()
    monitor = Worker("monitor", settings, tmp_path).start()
    done = threading.Event()

    def write() -> None:
        # Each cycler pledges and cancels three times (a RAPID_CANCEL_CYCLE each); the
        # founder pledges into their own campaign (SELF_DEALING); pairs of accounts share
        # an identity (DUPLICATE_IDENTITY).
        for round_ in range(3):
            for backer in cyclers:
                app.pledges.cancel(backer, pledge(app, backer, campaign, "100.00"))
            if round_ == 1:
                pledge(app, team.founder, campaign, "100.00")
        for n in range(4):
            verified(app, team, f"Twin Person{n} Z")
            verified(app, team, f"PERSON{n} Z, Twin")
        done.set()

    writing = asyncio.create_task(asyncio.to_thread(write))
    try:
        for _ in range(3):  # killed while the stream flows (and its outbox raises)
            await asyncio.sleep(1.0)
            monitor.kill()
            await asyncio.sleep(0.2)
            monitor.start()
        await writing
        head = app.head_position()
        await eventually(
            lambda: (state := monitor_state(settings))[0] >= head and state[2] == 0, 90,
            "the monitor to apply the log and raise every finding",
        )
    except AssertionError:
        raise AssertionError(monitor.log() + relay.log()) from None
    finally:
        monitor.stop()
        relay.stop()
    assert done.is_set()
    raised = alerts_in_store(app)
    expected = Counter({("RAPID_CANCEL_CYCLE", str(b)): 1 for b in cyclers})
    expected[("SELF_DEALING", str(team.founder))] = 1
    duplicates = {k: v for k, v in raised.items() if k[0] == "DUPLICATE_IDENTITY"}
    assert len(duplicates) == 4 and set(duplicates.values()) == {1}
    assert {k: v for k, v in raised.items() if k[0] != "DUPLICATE_IDENTITY"} == expected
    # A rebuild of the monitor's state finds the same, and raises nothing new.
    _, findings, _ = monitor_state(settings)
    assert len(findings) == sum(raised.values())
    head = app.head_position()
    reader = open_application(settings, clock)
    sqlite_store.apps.append(reader)
    consumer = aml_monitor(settings, reader)
    rebuild(url, StoreLog(reader), consumer, consumer.models, PARTITIONS)
    _, rebuilt, pending = monitor_state(settings)
    assert rebuilt == findings and pending == 0
    assert app.head_position() == head
