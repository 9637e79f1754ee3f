"""The deadline: all or nothing, pending reconfirmations lapse first, settlement into the cap
table, refunds, the escrow invariant, and distributions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

import application.due_work
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import Campaign, CampaignStatus
from domain.cap_table import CapTable
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.offering_calendar import CALENDAR_ID
from domain.pledge import PledgeStatus
from domain.reminders import REMINDER_LEAD
from tests.scenario import Staff, live_campaign, pledge, run_to_deadline, staff, verified_backer

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

D = Decimal


@pytest.fixture
def app(memory_app: Crowdfund) -> Crowdfund:  # rules: the in-memory store (fast tier)
    return memory_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def names(app: Crowdfund, stream: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(stream)]


def escrow_from_events(app: Crowdfund, cid: UUID) -> dict[str, Decimal]:
    """The escrow account recomputed from the campaign's events alone."""
    totals = dict.fromkeys(("pledged", "released", "refunded"), D("0"))
    for event in app.events.get(cid):
        kind: Any = type(event).__name__
        if kind == "PledgeAccepted":
            totals["pledged"] += event.amount  # type: ignore[attr-defined]
        elif kind == "PledgeReleased":
            totals["refunded"] += event.amount  # type: ignore[attr-defined]
        elif kind == "EscrowReleased":
            totals["released"] += event.amount  # type: ignore[attr-defined]
    return totals


def assert_escrow(app: Crowdfund, cid: UUID) -> Campaign:
    campaign = app.campaign(cid)
    assert campaign.held + campaign.released + campaign.refunded == campaign.pledged
    assert campaign.escrow_balances()
    recomputed = escrow_from_events(app, cid)
    assert recomputed["pledged"] == campaign.pledged
    assert recomputed["released"] == campaign.released
    assert recomputed["refunded"] == campaign.refunded
    assert campaign.held >= 0
    return campaign


def test_funded_campaign_settles_into_the_cap_table(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    alice, bob, carol = (verified_backer(app, team) for _ in range(3))
    cid = live_campaign(app, team, min_target="1000.00", price_per_share="2.50")
    a1, a2 = pledge(app, alice, cid, "500.00"), pledge(app, alice, cid, "250.00")
    b1 = pledge(app, bob, cid, "400.00")
    c1 = pledge(app, carol, cid, "300.00")
    app.pledges.cancel(carol, c1)
    run_to_deadline(app, clock, cid)
    campaign = assert_escrow(app, cid)
    assert campaign.status is CampaignStatus.SETTLED
    assert (campaign.held, campaign.released, campaign.refunded) == (0, D("1150.00"), D("300.00"))
    assert campaign.open_pledges == 0
    assert [app.pledge_record(p).status for p in (a1, a2, b1, c1)] == [
        PledgeStatus.SETTLED, PledgeStatus.SETTLED, PledgeStatus.SETTLED, PledgeStatus.CANCELLED,
    ]
    table = app.cap_table(cid)
    assert isinstance(table, CapTable)
    assert table.holdings == {str(alice): 300, str(bob): 160}
    assert table.invested == {str(alice): D("750.00"), str(bob): D("400.00")}
    assert table.total_shares * table.price_per_share == campaign.released
    tail = names(app, cid)[-3:]
    assert tail == ["CampaignFunded", "EscrowReleased", "CampaignSettled"]
    assert str(cid) not in app.calendar().due
    assert app.due.run() == 0  # nothing left to do; a second run writes nothing
    assert app.reg_cf_headroom(alice).used == D("750.00")  # settled still counts


def test_exactly_the_minimum_target_is_funded(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, min_target="1000.00")
    pledge(app, backer, cid, "1000.00")
    run_to_deadline(app, clock, cid)
    assert app.campaign(cid).status is CampaignStatus.SETTLED


def test_one_share_short_fails_and_refunds_everyone(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team, min_target="1000.00")
    pids = [pledge(app, alice, cid, "500.00"), pledge(app, bob, cid, "490.00")]
    run_to_deadline(app, clock, cid)
    campaign = assert_escrow(app, cid)
    assert campaign.status is CampaignStatus.FAILED
    assert (campaign.held, campaign.released, campaign.refunded) == (0, 0, D("990.00"))
    assert {app.pledge_record(p).status for p in pids} == {PledgeStatus.REFUNDED}
    assert app.cap_table(cid) is None
    assert app.reg_cf_headroom(alice).used == 0
    assert "CampaignFailed" in names(app, cid)
    assert app.due.run() == 0
    assert str(cid) not in app.calendar().due


def test_pending_reconfirmations_lapse_before_the_target_is_compared(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team, min_target="1000.00")
    kept = pledge(app, alice, cid, "600.00")
    lapsed = pledge(app, bob, cid, "600.00")
    # A material change a day before the deadline: 5 business days would end after
    # it, so the deadline moves out to the end of the reconfirmation window.
    old_deadline = app.campaign(cid).terms.deadline
    clock.set(old_deadline - timedelta(days=1))
    app.offerings.amend(team.founder, cid, {"summary": "Late material change."})
    campaign = app.campaign(cid)
    assert campaign.terms.deadline == campaign.reconfirm_by > old_deadline
    app.pledges.reconfirm(alice, kept)
    run_to_deadline(app, clock, cid)
    campaign = assert_escrow(app, cid)
    # 1,200 was pledged, but only 600 was still confirmed at the deadline.
    assert campaign.status is CampaignStatus.FAILED
    assert app.pledge_record(lapsed).status is PledgeStatus.CANCELLED
    assert app.pledge_record(kept).status is PledgeStatus.REFUNDED
    events = names(app, cid)
    assert events.index("PledgeReleased") < events.index("CampaignFailed")


def test_reconfirmed_pledges_count_at_the_deadline(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team, min_target="1000.00")
    p1, p2 = pledge(app, alice, cid, "600.00"), pledge(app, bob, cid, "600.00")
    app.offerings.amend(team.founder, cid, {"summary": "Material."})
    app.pledges.reconfirm(alice, p1)
    app.pledges.reconfirm(bob, p2)
    run_to_deadline(app, clock, cid)
    assert app.campaign(cid).status is CampaignStatus.SETTLED


def test_settlement_and_refunds_in_chunks(
    app: Crowdfund, team: Staff, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(application.due_work, "CHUNK", 2)
    backers = [verified_backer(app, team) for _ in range(5)]
    funded = live_campaign(app, team, min_target="1000.00")
    failed = live_campaign(app, team, min_target="9000.00")
    for b in backers:
        pledge(app, b, funded, "300.00")
        pledge(app, b, failed, "100.00")
    run_to_deadline(app, clock, funded)  # both share the deadline
    assert assert_escrow(app, funded).status is CampaignStatus.SETTLED
    assert assert_escrow(app, failed).status is CampaignStatus.FAILED
    assert names(app, funded).count("EscrowReleased") == 3  # 2 + 2 + 1
    issued = [e for e in app.events.get(app.cap_table(funded).id)  # type: ignore[union-attr]
              if type(e).__name__ == "SharesIssued"]
    assert [len(e.issues) for e in issued] == [2, 2, 1]  # type: ignore[attr-defined]
    assert app.cap_table(funded).total_shares == 150  # type: ignore[union-attr]
    assert app.campaign(failed).refunded == D("500.00")


def test_the_escrow_invariant_through_a_busy_life(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backers = [verified_backer(app, team, accredited=True) for _ in range(4)]
    cid = live_campaign(app, team, min_target="2000.00", max_target="5000.00")
    pids = [pledge(app, b, cid, f"{(i + 1) * 300}.00") for i, b in enumerate(backers)]
    assert_escrow(app, cid)
    app.pledges.cancel(backers[0], pids[0])
    assert_escrow(app, cid)
    app.offerings.amend(team.founder, cid, {"summary": "Material."})
    app.pledges.reconfirm(backers[1], pids[1])
    app.pledges.reconfirm(backers[3], pids[3])
    clock.set(app.campaign(cid).reconfirm_by)  # type: ignore[arg-type]
    app.due.run()  # pids[2] lapses
    assert_escrow(app, cid)
    pledge(app, backers[2], cid, "900.00")
    assert app.campaign(cid).held == D("2700.00")
    run_to_deadline(app, clock, cid)
    campaign = assert_escrow(app, cid)
    assert campaign.status is CampaignStatus.SETTLED
    assert (campaign.released, campaign.refunded) == (D("2700.00"), D("1200.00"))


# Distributions ------------------------------------------------------------------------


@pytest.fixture
def settled(app: Crowdfund, team: Staff, clock: SettableClock) -> tuple[UUID, list[UUID]]:
    backers = [verified_backer(app, team) for _ in range(3)]
    cid = live_campaign(app, team, min_target="100.00")
    for b in backers:
        pledge(app, b, cid, "100.00")
    run_to_deadline(app, clock, cid)
    return cid, backers


def test_a_distribution_that_does_not_divide_evenly(
    app: Crowdfund, team: Staff, settled: tuple[UUID, list[UUID]]
) -> None:
    cid, backers = settled
    written = app.offerings.declare_distribution(team.founder, cid, "100.00")
    table = app.cap_table(cid)
    assert table is not None and table.distributions == 1
    event: Any = list(app.events.get(table.id))[-1]
    assert type(event).__name__ == "DistributionDeclared"
    assert event.distribution_id == written.value.id
    payouts = {p["backer_id"]: p["amount"] for p in event.payouts}
    assert written.value.payouts == payouts  # the command answers with what it stored
    assert sum(payouts.values()) == D("100.00")
    assert sorted(payouts.values()) == [D("33.33"), D("33.33"), D("33.34")]
    first = min(str(b) for b in backers)
    assert payouts[first] == D("33.34")  # a tie goes to the smallest backer id


def test_distribution_rules(
    app: Crowdfund, team: Staff, settled: tuple[UUID, list[UUID]]
) -> None:
    cid, backers = settled
    head = app.head_position()
    with pytest.raises(NotAllowedError):
        app.offerings.declare_distribution(backers[0], cid, "100.00")
    for bad in ("0", "-1.00", "10.001", "abc"):
        with pytest.raises(ValidationError):
            app.offerings.declare_distribution(team.founder, cid, bad)
    assert app.head_position() == head
    live = live_campaign(app, team)
    head = app.head_position()
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.declare_distribution(team.founder, live, "100.00")
    assert caught.value.code == "CAMPAIGN_NOT_SETTLED"
    assert app.head_position() == head
    assert app.cap_table(cid).distributions == 0  # type: ignore[union-attr]


def test_the_calendar_tracks_what_falls_due(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    cid = live_campaign(app, team)
    calendar: Any = app.repository.get(CALENDAR_ID)
    # First due: the reminder that the REG_CF cancellation window closes (domain.reminders).
    deadline = app.campaign(cid).terms.deadline
    assert calendar.due[str(cid)] == deadline - timedelta(hours=48) - REMINDER_LEAD
    backer = verified_backer(app, team)
    pledge(app, backer, cid, "100.00")
    app.offerings.amend(team.founder, cid, {"summary": "Material."})
    calendar = app.repository.get(CALENDAR_ID)
    reconfirm_by = app.campaign(cid).reconfirm_by
    assert reconfirm_by is not None
    assert calendar.due[str(cid)] == reconfirm_by - REMINDER_LEAD
    clock.set(reconfirm_by - REMINDER_LEAD)
    app.due.run()
    calendar = app.repository.get(CALENDAR_ID)
    assert calendar.due[str(cid)] == reconfirm_by
