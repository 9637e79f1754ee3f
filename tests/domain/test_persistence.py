"""Integration with the real event stores (SQLite file and PostgreSQL): round trips,
snapshots, atomic multi-aggregate saves, and several application instances (processes) on
one store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

import domain.pledge
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest
from domain.campaign import CampaignStatus
from domain.errors import ConcurrencyConflict, DomainError
from domain.offering_calendar import CALENDAR_ID
from domain.pledge import PledgeStatus
from domain.user import KycStatus, User
from tests.conftest import Store
from tests.scenario import (
    Staff,
    chain_break,
    live_campaign,
    pledge,
    register,
    run_to_deadline,
    staff,
    submit_profile,
    verified_backer,
)


def state(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds, for comparing two loads of it."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_round_trip_of_every_aggregate(store: Store, clock: SettableClock) -> None:
    app = store.open(clock)
    team = staff(app)
    alice = verified_backer(app, team, annual_income="130000.00", net_worth="250000.00",
                            other_reg_cf_investments_12m="1234.56", country="CA",
                            currency="USD")
    bob = verified_backer(app, team, sophisticated=True, country="DE")
    funded = live_campaign(app, team, min_target="1000.00", price_per_share="0.25",
                           min_pledge="0.25")
    ecsp = live_campaign(app, team, regime="ECSP", days=60)
    p1 = pledge(app, alice, funded, "1500.25")
    p2 = pledge(app, bob, ecsp, "3000.00")
    run_to_deadline(app, clock, funded)
    app.offerings.amend(team.founder, ecsp, {"summary": "Material change."})
    app.offerings.declare_distribution(team.founder, funded, "0.03")

    fresh = store.open(clock)  # a new process: empty cache, everything from the store
    assert fresh.head_position() == app.head_position()
    for read in ("user", "campaign", "pledge_record"):
        ids = {"user": [alice, bob, *vars(team).values()], "campaign": [funded, ecsp],
               "pledge_record": [p1, p2]}[read]
        for uid in ids:
            assert state(getattr(fresh, read)(uid)) == state(getattr(app, read)(uid))
    assert state(fresh.cap_table(funded)) == state(app.cap_table(funded))
    assert state(fresh.repository.get(CALENDAR_ID)) == state(app.repository.get(CALENDAR_ID))
    # Values keep their types and precision through JSON.
    user = fresh.user(alice)
    assert user.kyc_status is KycStatus.VERIFIED
    assert str(user.profile.other_reg_cf_investments_12m) == "1234.56"  # type: ignore[union-attr]
    assert fresh.reg_cf_headroom(alice).limit == 25000
    assert fresh.campaign(funded).status is CampaignStatus.SETTLED
    assert fresh.campaign(ecsp).reconfirm_by.tzinfo is not None  # type: ignore[union-attr]
    assert fresh.pledge_record(p2).status is PledgeStatus.PENDING_RECONFIRMATION
    assert fresh.cap_table(funded).holdings == {str(alice): 6001}  # type: ignore[union-attr]
    assert fresh.user_by_email(fresh.user(bob).email).id == bob  # type: ignore[union-attr]


def test_positions_are_the_global_log(store: Store, clock: SettableClock) -> None:
    app = store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    written = app.pledges.place(backer, cid, "100.00", "k", True)
    notifications = app.recorder.select_notifications(1, 1000)
    assert [n.id for n in notifications] == list(range(1, len(notifications) + 1))
    assert written.position == notifications[-1].id == app.head_position()
    last_three = [app.mapper.to_domain_event(n) for n in notifications[-3:]]
    assert [type(e).__name__ for e in last_three] == [
        "PledgePlaced", "PledgeAccepted", "InvestmentCommitted",
    ]
    assert store.event_count() == len(notifications)


def test_snapshots_round_trip_and_the_chain_continues(
    store: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(Crowdfund.snapshot_intervals, User, 5)
    app = store.open(clock)
    team = staff(app)
    # Versions 1..7: registered, profile, finances, screened, two knowledge tests (a
    # snapshot at 5, with the screening in it), verified.
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, price_per_share="1.00", min_pledge="1.00")
    for _ in range(4):  # versions 8..11: a snapshot at 10
        pledge(app, backer, cid, "600.00")
    assert [s.originator_version for s in app.snapshots.get(backer)] == [5, 10]  # type: ignore[union-attr]
    fresh = store.open(clock)
    assert state(fresh.user(backer)) == state(app.user(backer))
    with pytest.raises(domain.errors.InvestmentLimitExceeded):
        fresh.pledges.place(backer, cid, "101.00", "over", True)  # the cap survives the snapshot
    fresh.pledges.place(backer, cid, "100.00", "last", True)
    again = store.open(clock)
    assert again.user(backer).version == 12
    assert again.reg_cf_headroom(backer).used == 2500
    assert chain_break(again, backer) is None


# Atomic multi-aggregate save ------------------------------------------------------------


def inject_conflict(store: Store, stream: UUID) -> int:
    """Pre-insert, by raw SQL, a copy of the stream's last event as its next version:
    the next save of that aggregate by an application that has not seen it conflicts."""
    version = store.rows(stream)[-1][0]
    store.execute(
        "INSERT INTO {events} (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version + 1, topic, state FROM {events} "
        "WHERE originator_id = %s AND originator_version = %s",
        [store.stream_key(stream), version],
    )
    return version + 1


@pytest.fixture
def pledge_ready(store: Store, clock: SettableClock) -> tuple[Crowdfund, Staff, UUID, UUID]:
    app = store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pledge(app, backer, cid, "100.00")  # the backer and campaign are in the app's cache
    return app, team, backer, cid


def test_a_pledge_saves_three_aggregates_or_none(
    store: Store, pledge_ready: tuple[Crowdfund, Staff, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _, backer, cid = pledge_ready
    campaign_rows, backer_rows = len(store.rows(cid)), len(store.rows(backer))
    injected = inject_conflict(store, backer)  # the backer's row is the LAST of the three
    head = app.head_position()
    monkeypatch.setattr(Crowdfund, "max_attempts", 1)
    with pytest.raises(ConcurrencyConflict):
        app.pledges.place(backer, cid, "200.00", "atomic", True)
    pid = domain.pledge.pledge_id_for(str(backer), "atomic")
    assert store.rows(pid) == []  # no pledge...
    assert len(store.rows(cid)) == campaign_rows  # ...no PledgeAccepted...
    assert [v for v, _, _ in store.rows(backer)][-1] == injected  # ...only our own row.
    assert len(store.rows(backer)) == backer_rows + 1
    assert app.head_position() == head
    assert app.campaign(cid).held == 100  # the cache was not left with the failed decision
    # With retries allowed the same request now succeeds, exactly once.
    monkeypatch.setattr(Crowdfund, "max_attempts", 12)
    assert app.pledges.place(backer, cid, "200.00", "atomic", True).value == pid
    assert len(store.rows(pid)) == 1
    assert len(store.rows(cid)) == campaign_rows + 1
    assert len(store.rows(backer)) == backer_rows + 2
    assert store.open().campaign(cid).held == 300


def test_a_conflict_mid_save_is_retried_from_fresh_state(
    store: Store, pledge_ready: tuple[Crowdfund, Staff, UUID, UUID],
) -> None:
    app, _, backer, cid = pledge_ready
    campaign_rows = len(store.rows(cid))
    inject_conflict(store, backer)
    pid = domain.pledge.pledge_id_for(str(backer), "retried")
    seen: list[tuple[str, int, int]] = []
    save = app.save

    def observed_save(*aggregates: Any, **kwargs: Any) -> Any:
        try:
            return save(*aggregates, **kwargs)
        except IntegrityError:
            # At the moment of the failure, nothing of the three is in the store.
            seen.append(("failed", len(store.rows(pid)), len(store.rows(cid))))
            raise

    app.save = observed_save  # type: ignore[method-assign]
    assert app.pledges.place(backer, cid, "200.00", "retried", True).value == pid
    assert seen == [("failed", 0, campaign_rows)]
    assert len(store.rows(pid)) == 1
    assert len(store.rows(cid)) == campaign_rows + 1
    names = [type(e).__name__ for e in store.open().events.get(backer)]
    # The first pledge's, the injected copy of it, and this one's: nothing twice.
    assert names[-3:] == ["InvestmentCommitted"] * 3
    assert store.open().reg_cf_headroom(backer).used == 300


def test_a_group_commit_is_one_transaction(
    store: Store, pledge_ready: tuple[Crowdfund, Staff, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, team, backer, cid = pledge_ready
    others = [verified_backer(app, team) for _ in range(2)]
    head = app.head_position()
    inject_conflict(store, backer)
    monkeypatch.setattr(Crowdfund, "max_attempts", 1)
    requests = [PledgeRequest(b, cid, "100.00", f"batch-{i}", True)
                for i, b in enumerate([*others, backer])]
    results = app.pledges.place_many(requests)
    assert all(isinstance(r, ConcurrencyConflict) for r in results)
    assert app.head_position() == head + 1  # only the injected row
    monkeypatch.setattr(Crowdfund, "max_attempts", 12)
    results = app.pledges.place_many(requests)
    assert not any(isinstance(r, DomainError) for r in results)
    assert store.open().campaign(cid).held == 400


# Several application instances on one store (like several processes) ---------------------


def test_idempotency_keys_hold_across_instances(store: Store, clock: SettableClock) -> None:
    first, second = store.open(clock), store.open(clock)
    team = staff(first)
    backer = verified_backer(first, team)
    cid = live_campaign(first, team)
    original = first.pledges.place(backer, cid, "100.00", "same", True).value
    assert second.pledges.place(backer, cid, "100.00", "same", True).value == original
    batch = second.pledges.place_many([PledgeRequest(backer, cid, "100.00", "same", True)])
    assert not isinstance(batch[0], DomainError) and batch[0].value == original
    assert store.open().campaign(cid).open_pledges == 1


def test_a_stale_cache_in_one_instance_does_not_refuse_a_valid_pledge(
    store: Store, clock: SettableClock
) -> None:
    api_a, api_b = store.open(clock), store.open(clock)
    team = staff(api_a)
    backer = register(api_a, "backer")
    submit_profile(api_a, backer)  # api_a caches the backer as PENDING
    cid = live_campaign(api_a, team)
    api_b.accounts.verify_investor(team.risk_officer, backer)  # verified through another instance
    pid = pledge(api_a, backer, cid, "100.00")
    assert store.open().pledge_record(pid).status is PledgeStatus.ACTIVE


def test_a_stale_cache_does_not_refuse_room_freed_elsewhere(
    store: Store, clock: SettableClock
) -> None:
    api_a, api_b = store.open(clock), store.open(clock)
    team = staff(api_a)
    alice = verified_backer(api_a, team, accredited=True)
    bob = verified_backer(api_a, team)
    cid = live_campaign(api_a, team, max_target="1000.00")
    full = pledge(api_a, alice, cid, "1000.00")  # api_a caches the campaign as full
    api_b.pledges.cancel(alice, full)
    pledge(api_a, bob, cid, "500.00")
    assert store.open().campaign(cid).held == 500


def test_the_scheduler_sees_campaigns_launched_by_other_instances(
    store: Store, clock: SettableClock
) -> None:
    scheduler, api = store.open(clock), store.open(clock)
    team = staff(api)
    backer = verified_backer(api, team)
    first = live_campaign(api, team, days=40)
    scheduler.due.run()  # the scheduler has read the calendar once
    second = live_campaign(api, team, days=25)  # scheduled by another instance
    pledge(api, backer, second, "1000.00")
    clock.set(api.campaign(second).terms.deadline)
    scheduler.due.run()
    fresh = store.open(clock)
    assert fresh.campaign(second).status is CampaignStatus.SETTLED
    assert fresh.campaign(first).status is CampaignStatus.LIVE


def test_a_stale_cache_does_not_refuse_a_valid_group_commit(
    store: Store, clock: SettableClock
) -> None:
    api_a, api_b = store.open(clock), store.open(clock)
    team = staff(api_a)
    backer = register(api_a, "backer")
    submit_profile(api_a, backer)  # api_a caches the backer as PENDING
    cid = live_campaign(api_a, team)
    api_b.accounts.verify_investor(team.risk_officer, backer)
    results = api_a.pledges.place_many([PledgeRequest(backer, cid, "100.00", "batched", True)])
    assert not isinstance(results[0], DomainError), results[0]
    assert store.open().campaign(cid).held == 100


def test_stale_pledges_in_the_schedulers_cache_do_not_count_at_the_deadline(
    store: Store, clock: SettableClock
) -> None:
    """The scheduler read two pledges while ACTIVE; another instance then made a material
    change and only one was reconfirmed. At the deadline the other one must lapse before the
    target is compared, whatever the scheduler's cache still says about it."""
    scheduler, api = store.open(clock), store.open(clock)
    team = staff(api)
    alice, bob = verified_backer(api, team), verified_backer(api, team)
    cid = live_campaign(api, team, min_target="1000.00")
    kept, lapsed = pledge(api, alice, cid, "600.00"), pledge(api, bob, cid, "600.00")
    for pid in (kept, lapsed):
        assert scheduler.pledge_record(pid).status is PledgeStatus.ACTIVE  # now cached
    scheduler.campaign(cid)
    clock.set(api.campaign(cid).terms.deadline - timedelta(days=1))
    api.offerings.amend(team.founder, cid, {"summary": "Material change."})
    # The scheduler's instance writes to the campaign (so its copy of the campaign is
    # fresh again) but never re-reads the pledges, whose copies stay ACTIVE.
    scheduler.offerings.post_update(team.founder, cid, "News", "Still on track.")
    api.pledges.reconfirm(alice, kept)
    clock.set(api.campaign(cid).terms.deadline)
    scheduler.due.run()
    fresh = store.open(clock)
    assert fresh.pledge_record(lapsed).status is PledgeStatus.CANCELLED
    assert fresh.campaign(cid).status is CampaignStatus.FAILED  # 600 < 1,000
