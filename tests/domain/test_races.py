"""Real concurrency: many threads (and processes), each usually with its own `Crowdfund` on the
same database, race for the last places of a campaign and for the last room under one
backer's Reg CF cap. Never oversold, never over cap, every accepted pledge stored exactly
once, every refusal justified. Everything is checked against the event store through a new
instance (empty cache), never against a cache that took part in the race."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest
from domain.campaign import CampaignStatus
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvestmentLimitExceeded,
    MaxTargetExceeded,
)
from domain.pledge import PledgeStatus
from tests.conftest import Store
from tests.scenario import live_campaign, pledge, run_to_deadline, staff, verified_backer

D = Decimal
AMOUNTS = ["100.00", "200.00", "300.00", "500.00"]
# One connection per instance: the racers must fit PostgreSQL's 100 connections, which
# other suites on the same server share.
SMALL_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}
CLIENT_RETRIES = 50  # a client retries ConcurrencyConflict, like the API's callers would


@dataclass
class Outcomes:
    accepted: list[tuple[UUID, Decimal]] = field(default_factory=list)
    refused: list[tuple[DomainError, Decimal]] = field(default_factory=list)
    conflicts: int = 0  # ConcurrencyConflict answers (the client retried)
    lost_saves: int = 0  # saves refused by the store's version check (retried inside)
    crashes: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def race(
    workers: list[Callable[[], Any]], timeout: float = 60.0
) -> None:
    """Start every worker at the same instant (a barrier), wait for all, and re-raise
    anything a worker raised."""
    barrier = threading.Barrier(len(workers))
    raised: list[BaseException] = []

    def run(work: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as error:
            raised.append(error)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a racing thread hung"
    if raised:
        raise raised[0]


def place(app: Crowdfund, out: Outcomes, backer: UUID, campaign: UUID, amount: str,
          key: str) -> None:
    for _ in range(CLIENT_RETRIES):
        try:
            written = app.pledges.place(backer, campaign, amount, key, True)
        except ConcurrencyConflict:
            with out.lock:
                out.conflicts += 1
            continue
        except DomainError as error:
            with out.lock:
                out.refused.append((error, D(amount)))
        except BaseException as error:  # reported by the test, not swallowed
            with out.lock:
                out.crashes.append(error)
        else:
            with out.lock:
                out.accepted.append((written.value, D(amount)))
        return
    with out.lock:
        out.crashes.append(RuntimeError(f"still conflicting after {CLIENT_RETRIES} tries"))


def instances(
    store: Store, clock: SettableClock, n: int, shared: bool, out: Outcomes | None = None
) -> list[Crowdfund]:
    """`n` racers' applications: one each (like processes) or one shared by all threads.
    With `out`, every save that lost a race (IntegrityError) is counted in `out.lost_saves`."""
    apps = [store.open(clock)] * n if shared else [
        store.open(clock, **SMALL_POOL) for _ in range(n)
    ]
    if out is not None:
        for app in set(apps):
            record = app._record

            def counted(processing: Any, _record: Any = record) -> Any:
                try:
                    return _record(processing)
                except IntegrityError:
                    with out.lock:
                        out.lost_saves += 1
                    raise

            app._record = counted  # type: ignore[method-assign]
    return apps


def assert_campaign_consistent(
    store: Store, campaign: UUID, accepted: list[tuple[UUID, Decimal]]
) -> Any:
    """The campaign as stored agrees exactly with what the racers were told."""
    fresh = store.open()
    c = fresh.campaign(campaign)
    total = sum((amount for _, amount in accepted), D("0"))
    assert c.held == c.pledged == total
    assert c.open_pledges == len(accepted)
    assert c.held <= c.terms.max_target
    assert c.escrow_balances()
    in_stream = [e.pledge_id for e in fresh.events.get(campaign)  # type: ignore[attr-defined]
                 if type(e).__name__ == "PledgeAccepted"]
    assert Counter(in_stream) == Counter(str(pid) for pid, _ in accepted)  # each exactly once
    for pid, amount in accepted:
        record = fresh.pledge_record(pid)
        assert (record.amount, record.status) == (amount, PledgeStatus.ACTIVE)
        assert len(store.rows(pid)) == 1
    return c


@pytest.mark.parametrize("shared", [False, True], ids=["instance-per-thread", "shared-instance"])
def test_many_backers_race_for_the_last_places(
    store: Store, clock: SettableClock, shared: bool
) -> None:
    setup = store.open(clock)
    team = staff(setup)
    threads = 16
    backers = [verified_backer(setup, team, accredited=True) for _ in range(threads)]
    cid = live_campaign(setup, team, max_target="5000.00", min_target="1000.00")
    rng = random.Random(7)
    plans = [[rng.choice(AMOUNTS) for _ in range(4)] for _ in range(threads)]
    assert sum(D(a) for plan in plans for a in plan) > 3 * D("5000.00")  # far oversubscribed
    out = Outcomes()
    apps = instances(store, clock, threads, shared, out)

    def backer_work(i: int) -> Callable[[], None]:
        return lambda: [place(apps[i], out, backers[i], cid, amount, f"p{i}-{n}")
                        for n, amount in enumerate(plans[i])]

    race([backer_work(i) for i in range(threads)])

    assert out.crashes == []
    assert len(out.accepted) + len(out.refused) == threads * 4
    campaign = assert_campaign_consistent(store, cid, out.accepted)
    room_left = campaign.terms.max_target - campaign.held
    for error, amount in out.refused:
        assert isinstance(error, MaxTargetExceeded)
        # Justified then and now: room only shrinks in this race.
        assert error.remaining < amount and room_left < amount
    assert room_left < D("100.00") or not out.refused  # nobody was turned away wrongly
    assert out.accepted and out.refused
    assert out.lost_saves > 0, "no save lost a race: the threads did not really race"


@pytest.mark.parametrize("shared", [False, True], ids=["instance-per-thread", "shared-instance"])
def test_one_backer_races_for_the_last_room_under_the_cap(
    store: Store, clock: SettableClock, shared: bool
) -> None:
    setup = store.open(clock)
    team = staff(setup)
    backer = verified_backer(setup, team)  # Reg CF limit 2,500.00
    campaigns = [live_campaign(setup, team, max_target="100000.00") for _ in range(4)]
    threads = 16
    rng = random.Random(11)
    plans = [[(rng.choice(campaigns), rng.choice(AMOUNTS)) for _ in range(3)]
             for _ in range(threads)]
    apps = instances(store, clock, threads, shared)
    out = Outcomes()

    def work(i: int) -> Callable[[], None]:
        return lambda: [place(apps[i], out, backer, campaign, amount, f"c{i}-{n}")
                        for n, (campaign, amount) in enumerate(plans[i])]

    race([work(i) for i in range(threads)])

    assert out.crashes == []
    fresh = store.open(clock)
    headroom = fresh.reg_cf_headroom(backer)
    accepted_total = sum((a for _, a in out.accepted), D("0"))
    assert headroom.limit == D("2500.00")
    assert headroom.used == accepted_total <= headroom.limit
    held = sum((fresh.campaign(c).held for c in campaigns), D("0"))
    assert held == accepted_total
    commitments = fresh.user(backer).commitments
    assert set(commitments) == {str(pid) for pid, _ in out.accepted}
    for error, amount in out.refused:
        assert isinstance(error, InvestmentLimitExceeded)
        assert error.remaining < amount and headroom.limit - headroom.used < amount
    assert out.accepted and out.refused
    for c in campaigns:
        assert_campaign_consistent(
            store, c, [(pid, a) for pid, a in out.accepted
                       if fresh.pledge_record(pid).campaign_id == str(c)],
        )


def test_the_same_idempotency_key_raced_gives_one_pledge(
    store: Store, clock: SettableClock
) -> None:
    setup = store.open(clock)
    team = staff(setup)
    backer = verified_backer(setup, team)
    cid = live_campaign(setup, team)
    apps = instances(store, clock, 8, shared=False)
    out = Outcomes()
    race([lambda app=app: place(app, out, backer, cid, "500.00", "double-click")  # type: ignore[misc]
          for app in apps])
    assert out.crashes == [] and out.refused == []
    assert len({pid for pid, _ in out.accepted}) == 1
    assert_campaign_consistent(store, cid, out.accepted[:1])


def test_group_commits_race_too(store: Store, clock: SettableClock) -> None:
    """`pledge_many` batches from several instances: same invariants, per-request answers."""
    setup = store.open(clock)
    team = staff(setup)
    threads = 8
    backers = [verified_backer(setup, team) for _ in range(threads * 2)]
    cid = live_campaign(setup, team, max_target="8000.00")
    apps = instances(store, clock, threads, shared=False)
    out = Outcomes()
    rng = random.Random(3)

    def work(i: int) -> Callable[[], None]:
        def batches() -> None:
            for round_ in range(3):
                requests = [PledgeRequest(backers[2 * i + j % 2], cid, rng.choice(AMOUNTS),
                                          f"g{i}-{round_}-{j}", True) for j in range(5)]
                for _ in range(CLIENT_RETRIES):
                    results = apps[i].pledges.place_many(requests)
                    if not any(isinstance(r, ConcurrencyConflict) for r in results):
                        break
                    with out.lock:
                        out.conflicts += 1
                with out.lock:
                    for request, result in zip(requests, results, strict=True):
                        if isinstance(result, DomainError):
                            out.refused.append((result, D(str(request.amount))))
                        else:
                            out.accepted.append((result.value, D(str(request.amount))))
        return batches

    race([work(i) for i in range(threads)])
    assert out.crashes == []
    campaign = assert_campaign_consistent(store, cid, out.accepted)
    fresh = store.open(clock)
    for b in backers:
        used = fresh.reg_cf_headroom(b).used
        assert used <= D("2500.00")
        assert used == sum((a for pid, a in out.accepted
                            if fresh.pledge_record(pid).backer_id == str(b)), D("0"))
    for error, amount in out.refused:
        assert isinstance(error, MaxTargetExceeded | InvestmentLimitExceeded)
        if isinstance(error, MaxTargetExceeded):
            assert campaign.terms.max_target - campaign.held < amount


def test_schedulers_race_to_settle_a_campaign_once(store: Store, clock: SettableClock) -> None:
    setup = store.open(clock)
    team = staff(setup)
    backers = [verified_backer(setup, team) for _ in range(6)]
    cid = live_campaign(setup, team, min_target="1000.00")
    pids = [pledge(setup, b, cid, "400.00") for b in backers]
    clock.set(setup.campaign(cid).terms.deadline)
    apps = instances(store, clock, 6, shared=False)
    crashes: list[BaseException] = []

    def tick(app: Crowdfund) -> None:
        try:
            app.due.run()
        except BaseException as error:
            crashes.append(error)

    race([lambda app=app: tick(app) for app in apps])  # type: ignore[misc]
    assert crashes == []
    fresh = store.open(clock)
    campaign = fresh.campaign(cid)
    assert campaign.status is CampaignStatus.SETTLED
    assert (campaign.held, campaign.released) == (0, D("2400.00"))
    table = fresh.cap_table(cid)
    assert table is not None and table.total_shares == 240
    assert table.holdings == {str(b): 40 for b in backers}
    assert {fresh.pledge_record(p).status for p in pids} == {PledgeStatus.SETTLED}
    names = Counter(type(e).__name__ for e in fresh.events.get(cid))
    assert (names["CampaignFunded"], names["CampaignSettled"]) == (1, 1)
    assert fresh.due.run() == 0


def test_separate_processes_race_for_the_last_places(store: Store, clock: SettableClock) -> None:
    """The same race with real OS processes (separate interpreters, caches, connections)."""
    setup = store.open(clock)
    team = staff(setup)
    processes, per_process = 3, 12
    backers = [verified_backer(setup, team, accredited=True) for _ in range(processes)]
    cid = live_campaign(setup, team, max_target="5000.00")
    rng = random.Random(5)
    worker = Path(__file__).with_name("pledge_worker.py")
    start_at = time.time() + 1.5
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = []
    for p in range(processes):
        spec = {
            "url": store.url, "data_dir": str(store.directory), "now": clock.now().isoformat(),
            "start_at": start_at,
            "pledges": [[str(backers[p]), str(cid), rng.choice(AMOUNTS), f"proc{p}-{n}"]
                        for n in range(per_process)],
        }
        procs.append(subprocess.Popen(
            [sys.executable, str(worker), json.dumps(spec)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env,
        ))
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        results.append(json.loads(stdout))
    accepted = [(UUID(pid), D(a)) for r in results for pid, a in r["accepted"]]
    refused = [(kind, D(a), D(detail)) for r in results for kind, a, detail in r["refused"]]
    assert len(accepted) + len(refused) == processes * per_process
    campaign = assert_campaign_consistent(store, cid, accepted)
    assert refused, "the race should have oversubscribed the campaign"
    for kind, amount, remaining in refused:
        assert kind == "MaxTargetExceeded"
        assert remaining < amount and campaign.terms.max_target - campaign.held < amount


def test_settlement_after_a_race_matches_the_accepted_pledges(
    store: Store, clock: SettableClock
) -> None:
    setup = store.open(clock)
    team = staff(setup)
    backers = [verified_backer(setup, team, accredited=True) for _ in range(8)]
    cid = live_campaign(setup, team, max_target="3000.00", min_target="1000.00")
    apps = instances(store, clock, 8, shared=False)
    out = Outcomes()
    race([lambda i=i: [place(apps[i], out, backers[i], cid, a, f"s{i}-{n}")  # type: ignore[misc]
                       for n, a in enumerate(["500.00", "300.00", "200.00"])]
          for i in range(8)])
    assert out.crashes == []
    run_to_deadline(setup, clock, cid)
    fresh = store.open(clock)
    table = fresh.cap_table(cid)
    assert table is not None
    expected: Counter[str] = Counter()
    for pid, amount in out.accepted:
        expected[fresh.pledge_record(pid).backer_id] += int(amount / D("10.00"))
    assert table.holdings == dict(expected)
    assert fresh.campaign(cid).released == sum((a for _, a in out.accepted), D("0"))
