"""workers.scheduler: runs what falls due, on its own and when two run at once.

The race test runs two schedulers, each with its own application instance (its
own aggregate cache, as two processes would have), in two threads against one
PostgreSQL database, and counts the outcome events in the table itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import UUID

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from tests.conftest import Store
from tests.scenario import Staff, live_campaign, pledge, staff, verified_backer
from workers.scheduler import run_scheduler

WAIT_SECONDS = 30


class SchedulerThread:
    """`run_scheduler` on its own event loop in a thread, stopped from the test."""

    def __init__(self, app: Crowdfund, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(run_scheduler(self.app, self.stop, self.interval))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.loop.close()

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the scheduler did not stop"
        assert self.error is None, self.error


@contextmanager
def schedulers(*apps: Crowdfund, interval: float = 0.01) -> Iterator[list[SchedulerThread]]:
    threads = [SchedulerThread(app, interval) for app in apps]
    for thread in threads:
        thread.start()
    try:
        yield threads
    finally:
        for thread in threads:
            thread.join()


def event_counts(store: Store) -> Counter[str]:
    rows = store.execute("SELECT topic, COUNT(*) FROM {events} GROUP BY topic")
    return Counter({str(topic).rpartition(".")[2]: int(n) for topic, n in rows})


def wait_until_done(store: Store, clock: SettableClock, campaigns: list[UUID]) -> None:
    """Until every campaign is SETTLED or FAILED with nothing left to refund."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        observer = store.open(clock)  # a fresh cache each time: what the store holds now
        states = [observer.campaign(c) for c in campaigns]
        observer.close()
        store.apps.remove(observer)
        if all(
            s.status in (CampaignStatus.SETTLED, CampaignStatus.FAILED) and s.open_pledges == 0
            for s in states
        ):
            return
        assert time.monotonic() < deadline, [s.status for s in states]
        time.sleep(0.05)


def _campaigns(
    app: Crowdfund, team: Staff, backers: list[UUID], funded: int, failed: int
) -> tuple[list[UUID], int, int]:
    """`funded` campaigns that reach their target and `failed` ones that do not, all with
    the same deadline; returns (ids, pledges to funded ones, pledges to failed ones)."""
    ids: list[UUID] = []
    funded_pledges = failed_pledges = 0
    for _ in range(funded):
        cid = live_campaign(app, team, min_target="500.00", days=25)
        for backer in backers:
            pledge(app, backer, cid, "250.00")
            funded_pledges += 1
        ids.append(cid)
    for _ in range(failed):
        cid = live_campaign(app, team, min_target="5000.00", days=25)
        for backer in backers[:2]:
            pledge(app, backer, cid, "100.00")
            failed_pledges += 1
        ids.append(cid)
    return ids, funded_pledges, failed_pledges


def test_run_due_on_an_empty_store(app: Crowdfund) -> None:
    """Nothing launched yet (no offering calendar): nothing to do, and no error."""
    assert app.due.run() == 0


def test_scheduler_sees_campaigns_another_process_launched(
    sqlite_store: Store, clock: SettableClock
) -> None:
    """The API launches campaigns in another process; the scheduler must not miss them
    because its cached offering calendar had nothing due when it last looked."""
    writer = sqlite_store.open(clock)
    team = staff(writer)
    backer = verified_backer(writer, team, annual_income="200000.00", net_worth="200000.00")
    with schedulers(sqlite_store.open(clock)):
        done: list[UUID] = []
        for _ in range(2):
            cid = live_campaign(writer, team, min_target="1000.00", days=22)
            pledge(writer, backer, cid, "1000.00")
            time.sleep(0.1)  # the scheduler has passed over (and cached) the calendar
            clock.advance(days=23)
            wait_until_done(sqlite_store, clock, [cid])
            done.append(cid)
    counts = event_counts(sqlite_store)
    assert (counts["CampaignFunded"], counts["CampaignSettled"], counts["PledgeSettled"]) == (
        2, 2, 2
    )


@pytest.mark.postgres
def test_two_schedulers_settle_each_campaign_exactly_once(
    postgres_store: Store, clock: SettableClock
) -> None:
    writer = postgres_store.open(clock)
    team = staff(writer)
    # Backers with no Reg CF limit problems: income and net worth above the thresholds.
    backers = [
        verified_backer(writer, team, annual_income="200000.00", net_worth="200000.00")
        for _ in range(4)
    ]
    with schedulers(postgres_store.open(clock), postgres_store.open(clock)) as running:
        # Launched while both schedulers run, so their cached calendars are stale.
        ids, funded_pledges, failed_pledges = _campaigns(writer, team, backers, 4, 2)
        clock.advance(days=26)
        wait_until_done(postgres_store, clock, ids)
        time.sleep(0.2)  # a few more passes by both: nothing more may be written
    assert len(running) == 2

    counts = event_counts(postgres_store)
    assert counts["CampaignFunded"] == 4
    assert counts["CampaignSettled"] == 4
    assert counts["PledgeSettled"] == funded_pledges == 16
    assert counts["SharesIssued"] >= 4
    assert counts["CampaignFailed"] == 2
    assert counts["PledgeRefunded"] == failed_pledges == 4
    observer = postgres_store.open(clock)
    for cid in ids[:4]:
        campaign = observer.campaign(cid)
        assert campaign.status is CampaignStatus.SETTLED
        assert campaign.released == campaign.pledged == 1000
        assert campaign.escrow_balances()
    assert observer.cap_table(ids[0]) is not None


def test_scheduler_wakes_on_demand(sqlite_store: Store, clock: SettableClock) -> None:
    app = sqlite_store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, min_target="1000.00", days=22)
    pledge(app, backer, cid, "1000.00")

    async def scenario() -> float:
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_scheduler(app, stop, interval=3600, wake=wake))
        await asyncio.sleep(0.05)  # the first pass ran: nothing was due
        clock.set(clock.now() + timedelta(days=23))
        began = time.monotonic()
        wake.set()
        while app.campaign(cid).status is not CampaignStatus.SETTLED:
            await asyncio.sleep(0.01)
            assert time.monotonic() - began < 10
        took = time.monotonic() - began
        stop.set()
        await asyncio.wait_for(task, 5)
        return took

    assert asyncio.run(scenario()) < 5


@pytest.mark.postgres
def test_simultaneous_passes_write_each_outcome_once(
    postgres_store: Store, clock: SettableClock
) -> None:
    """Two passes started at the same instant (a barrier), over the same due campaigns."""
    writer = postgres_store.open(clock)
    team = staff(writer)
    backers = [
        verified_backer(writer, team, annual_income="200000.00", net_worth="200000.00")
        for _ in range(3)
    ]
    ids, funded_pledges, failed_pledges = _campaigns(writer, team, backers, 3, 1)
    clock.advance(days=26)
    apps = [postgres_store.open(clock), postgres_store.open(clock)]
    barrier = threading.Barrier(len(apps))
    written: list[int] = []
    errors: list[BaseException] = []

    def one_pass(app: Crowdfund) -> None:
        barrier.wait()
        try:
            written.append(app.due.run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_pass, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert any(written)
    wait_until_done(postgres_store, clock, ids)
    counts = event_counts(postgres_store)
    assert (counts["CampaignFunded"], counts["CampaignSettled"]) == (3, 3)
    assert counts["PledgeSettled"] == funded_pledges == 9
    assert (counts["CampaignFailed"], counts["PledgeRefunded"]) == (1, failed_pledges)
