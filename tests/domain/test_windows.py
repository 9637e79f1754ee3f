"""Time windows to the second: Reg CF cancellation until deadline - 48 h, the ECSP 4-day
reflection period, 5 business days to reconfirm, the deadline itself, 21 days to launch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from domain.errors import InvalidStateError
from domain.pledge import PledgeStatus
from tests.scenario import Staff, approved_campaign, live_campaign, pledge, staff, verified_backer

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

SECOND = timedelta(seconds=1)


@pytest.fixture
def app(memory_app: Crowdfund) -> Crowdfund:  # rules: the in-memory store (fast tier)
    return memory_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def closed_window(error: pytest.ExceptionInfo[InvalidStateError]) -> bool:
    return error.value.code == "CANCELLATION_WINDOW_CLOSED"


# Reg CF: cancel for any reason until 48 hours before the deadline (Rule 304(a)) ---------


def test_reg_cf_cancellation_until_one_second_before_the_cutoff(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    cutoff = app.campaign(cid).terms.deadline - timedelta(hours=48)
    early, late = pledge(app, backer, cid, "100.00"), pledge(app, backer, cid, "200.00")
    assert app.pledge_record(early).cancellable_until == cutoff
    clock.set(cutoff - SECOND)
    app.pledges.cancel(backer, early)
    assert app.pledge_record(early).status is PledgeStatus.CANCELLED
    clock.set(cutoff)
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(backer, late)
    assert closed_window(caught)
    assert app.pledge_record(late).status is PledgeStatus.ACTIVE


def test_reg_cf_pledges_in_the_final_48_hours_cannot_be_cancelled(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    deadline = app.campaign(cid).terms.deadline
    clock.set(deadline - timedelta(hours=48) - SECOND)
    just_before = pledge(app, backer, cid, "100.00")
    assert app.pledge_record(just_before).cancellable_until == deadline - timedelta(hours=48)
    clock.set(deadline - timedelta(hours=48))
    at_cutoff = pledge(app, backer, cid, "100.00")
    assert app.pledge_record(at_cutoff).cancellable_until is None
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(backer, at_cutoff)
    assert closed_window(caught)


def test_reg_cf_window_follows_an_extended_deadline(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    deadline = app.campaign(cid).terms.deadline
    pid = pledge(app, backer, cid, "100.00")
    app.offerings.amend(team.founder, cid, {"deadline": deadline + timedelta(days=7)})
    app.pledges.reconfirm(backer, pid)
    clock.set(deadline - timedelta(hours=48))  # the old cutoff
    app.pledges.cancel(backer, pid)
    assert app.pledge_record(pid).status is PledgeStatus.CANCELLED
    assert app.campaign(cid).held == 0


# ECSP: 4 calendar days to revoke (Art. 22) -----------------------------------------------


def test_ecsp_reflection_period_is_four_days_to_the_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, country="DE")
    cid = live_campaign(app, team, regime="ECSP", days=30)
    placed = clock.now()
    first, second = pledge(app, backer, cid, "100.00"), pledge(app, backer, cid, "200.00")
    assert app.pledge_record(first).cancellable_until == placed + timedelta(days=4)
    clock.set(placed + timedelta(days=4) - SECOND)
    app.pledges.cancel(backer, first)
    clock.set(placed + timedelta(days=4))
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(backer, second)
    assert closed_window(caught)


def test_ecsp_reflection_period_runs_per_pledge(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, regime="ECSP", days=30)
    first = pledge(app, backer, cid, "100.00")
    clock.advance(days=3)
    second = pledge(app, backer, cid, "100.00")
    clock.advance(days=2)  # 5 days after the first, 2 after the second
    with pytest.raises(InvalidStateError):
        app.pledges.cancel(backer, first)
    app.pledges.cancel(backer, second)


def test_ecsp_pledges_are_not_subject_to_the_48_hour_rule(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, regime="ECSP", days=10)
    clock.set(app.campaign(cid).terms.deadline - timedelta(hours=47))
    pid = pledge(app, backer, cid, "100.00")
    assert app.pledge_record(pid).cancellable_until is not None
    clock.advance(hours=46)
    app.pledges.cancel(backer, pid)
    assert app.pledge_record(pid).status is PledgeStatus.CANCELLED
    assert app.campaign(cid).held == 0


# Material change: 5 business days to reconfirm (Rule 304(c)) ----------------------------


@pytest.mark.parametrize(
    ("offset_days", "expected_days"),
    [(0, 7), (3, 7), (4, 7), (5, 6), (6, 5)],  # from Mon, Thu, Fri, Sat, Sun
)
def test_reconfirm_by_is_five_business_days_later(
    app: Crowdfund, team: Staff, clock: SettableClock, offset_days: int, expected_days: int
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, backer, cid, "100.00")
    clock.advance(days=offset_days)
    changed_at = clock.now()
    app.offerings.amend(team.founder, cid, {"summary": f"Change on day {offset_days}"})
    reconfirm_by = app.pledge_record(pid).reconfirm_by
    assert reconfirm_by == changed_at + timedelta(days=expected_days)
    assert reconfirm_by.weekday() < 5
    assert reconfirm_by == app.campaign(cid).reconfirm_by


def test_reconfirmation_window_to_the_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    in_time, too_late = pledge(app, backer, cid, "100.00"), pledge(app, backer, cid, "200.00")
    app.offerings.amend(team.founder, cid, {"summary": "Material."})
    reconfirm_by = app.campaign(cid).reconfirm_by
    assert reconfirm_by is not None
    clock.set(reconfirm_by - SECOND)
    app.pledges.reconfirm(backer, in_time)
    app.due.run()  # not due yet: only the day-ahead reminder (domain.reminders) is written
    assert app.pledge_record(too_late).status is PledgeStatus.PENDING_RECONFIRMATION
    assert app.pledge_record(too_late).reminded_for == reconfirm_by
    assert app.pledge_record(in_time).reminded_for is None
    assert app.due.run() == 0
    clock.set(reconfirm_by)
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.reconfirm(backer, too_late)
    assert caught.value.code == "RECONFIRMATION_EXPIRED"
    # The scheduler cancels what was not reconfirmed, and frees its room and cap.
    assert app.due.run() > 0
    assert app.pledge_record(too_late).status is PledgeStatus.CANCELLED
    assert app.pledge_record(in_time).status is PledgeStatus.ACTIVE
    campaign = app.campaign(cid)
    assert (campaign.held, campaign.open_pledges, campaign.reconfirm_by) == (100, 1, None)
    assert campaign.status is CampaignStatus.LIVE
    assert app.reg_cf_headroom(backer).used == 100
    assert app.due.run() == 0  # nothing more is due


def test_a_pending_pledge_may_be_cancelled_inside_the_final_48_hours(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, backer, cid, "100.00")
    clock.set(app.campaign(cid).terms.deadline - timedelta(hours=24))
    app.offerings.amend(team.founder, cid, {"summary": "Late material change."})
    app.pledges.cancel(backer, pid)
    assert app.pledge_record(pid).status is PledgeStatus.CANCELLED


# The deadline and the minimum offering period -----------------------------------------


def test_the_deadline_closes_the_campaign_at_that_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pledge(app, backer, cid, "1000.00")
    deadline = app.campaign(cid).terms.deadline
    clock.set(deadline - SECOND)
    assert app.due.run() == 0
    assert app.campaign(cid).status is CampaignStatus.LIVE
    pledge(app, backer, cid, "100.00")
    clock.set(deadline)
    assert app.due.run() > 0
    assert app.campaign(cid).status is CampaignStatus.SETTLED


def test_reg_cf_launch_needs_21_days_to_the_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    short = approved_campaign(app, team, deadline=clock.now() + timedelta(days=21) - SECOND)
    exact = approved_campaign(app, team, deadline=clock.now() + timedelta(days=21))
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, short)
    assert caught.value.code == "OFFERING_PERIOD_TOO_SHORT"
    app.offerings.launch(team.founder, exact)
    assert app.campaign(exact).status is CampaignStatus.LIVE
