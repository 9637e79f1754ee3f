"""ECSP reflection period (Art. 22(2)): 4 calendar days from the offer, whatever the
deadline, ending at the same wall-clock time in the investor's time zone; settlement
waits for the last one; revocations after the deadline are refunded and can fail the
campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from domain.cancellation import reflection_period_end
from domain.errors import InvalidStateError
from domain.pledge import PledgeStatus
from domain.rulebook import Regime
from tests.scenario import Staff, live_campaign, pledge, staff, verified_backer

SECOND = timedelta(seconds=1)
D = Decimal


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def test_the_period_ends_at_the_same_wall_clock_time_in_the_investors_zone() -> None:
    # Berlin moves to summer time on 28 March 2027: 4 calendar days from 13:00 CET on
    # 26 March end at 13:00 CEST on 30 March, 95 hours later.
    offered = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    ends = reflection_period_end(Regime.ECSP, offered, "DE")
    assert ends == datetime(2027, 3, 30, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert ends - offered == timedelta(hours=95)
    # Unknown country: UTC. A country of several zones: the one furthest behind.
    assert reflection_period_end(Regime.ECSP, offered, "ZZ") == offered + timedelta(days=4)
    assert reflection_period_end(Regime.ECSP, offered, None) == offered + timedelta(days=4)
    portugal = reflection_period_end(Regime.ECSP, offered, "PT")
    assert portugal == datetime(2027, 3, 30, 11, 0, tzinfo=ZoneInfo("Atlantic/Azores"))
    assert reflection_period_end(Regime.REG_CF, offered, "DE") is None


def test_a_pledge_two_hours_before_the_deadline_stays_revocable_for_four_days(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, country="DE")
    other = verified_backer(app, team, country="DE")
    cid = live_campaign(app, team, regime="ECSP", days=10, min_target="1000.00")
    deadline = app.campaign(cid).terms.deadline
    pledge(app, other, cid, "1500.00")
    clock.set(deadline - timedelta(hours=2))
    late = pledge(app, backer, cid, "100.00")
    ends = app.pledge_record(late).cancellable_until
    assert ends == deadline - timedelta(hours=2) + timedelta(days=4)  # no change of time
    # The campaign reaches FUNDED at its deadline; the pledge can still be revoked.
    clock.set(deadline)
    app.due.run()
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.FUNDED
    assert campaign.settlement_held_until == ends
    clock.set(ends - SECOND)
    app.due.run()
    assert app.campaign(cid).status is CampaignStatus.FUNDED  # settlement waits
    app.pledges.cancel(backer, late)
    assert app.pledge_record(late).status is PledgeStatus.CANCELLED
    assert app.campaign(cid).refunded == D("100.00")
    assert app.user(backer).commitments == {}
    # At the end of the last reflection period the campaign settles.
    clock.set(ends)
    app.due.run()
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.SETTLED
    assert campaign.released == D("1500.00")


def test_revocation_closes_at_the_end_of_the_period_to_the_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, country="DE")
    cid = live_campaign(app, team, regime="ECSP", days=10, min_target="100.00")
    deadline = app.campaign(cid).terms.deadline
    clock.set(deadline - timedelta(hours=2))
    late = pledge(app, backer, cid, "200.00")
    ends = app.pledge_record(late).cancellable_until
    assert ends is not None
    clock.set(deadline)
    app.due.run()
    clock.set(ends)
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(backer, late)
    assert caught.value.code == "CAMPAIGN_NOT_LIVE"
    app.due.run()
    assert app.campaign(cid).status is CampaignStatus.SETTLED


def test_revocations_after_the_deadline_that_lose_the_target_fail_the_campaign(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    early = verified_backer(app, team, country="DE")
    late = verified_backer(app, team, country="DE")
    cid = live_campaign(app, team, regime="ECSP", days=10, min_target="1000.00")
    deadline = app.campaign(cid).terms.deadline
    kept = pledge(app, early, cid, "600.00")
    clock.set(deadline - timedelta(hours=1))
    revoked = pledge(app, late, cid, "500.00")
    clock.set(deadline)
    app.due.run()
    assert app.campaign(cid).status is CampaignStatus.FUNDED
    clock.advance(days=1)
    app.pledges.cancel(late, revoked)  # 600 left of a 1,000 minimum
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.FAILED
    assert app.pledge_record(kept).status is PledgeStatus.REFUNDED  # everyone refunded
    assert app.pledge_record(revoked).status is PledgeStatus.CANCELLED
    assert (campaign.held, campaign.released, campaign.refunded) == (0, 0, D("1100.00"))
    assert app.cap_table(cid) is None


def test_a_reg_cf_pledge_cannot_be_cancelled_after_the_deadline(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, days=30, min_target="100.00")
    pid = pledge(app, backer, cid, "200.00")
    clock.set(app.campaign(cid).terms.deadline)
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(backer, pid)
    assert caught.value.code == "DEADLINE_PASSED"
