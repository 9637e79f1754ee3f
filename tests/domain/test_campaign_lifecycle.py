"""A campaign from draft to launch, amendments, early close and cancellation; the roles
that may do each step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.pledge import PledgeStatus
from domain.reminders import REMINDER_LEAD
from domain.rulebook import REG_CF, Regime, add_business_days
from domain.user import Role
from tests.authenticator import enroll
from tests.scenario import (
    Staff,
    approved_campaign,
    draft_campaign,
    live_campaign,
    pledge,
    register,
    staff,
    submit_profile,
    verified_backer,
)

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

D = Decimal


@pytest.fixture
def app(memory_app: Crowdfund) -> Crowdfund:  # rules: the in-memory store (fast tier)
    return memory_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def test_draft_submit_approve_launch(app: Crowdfund, team: Staff, clock: SettableClock) -> None:
    cid = draft_campaign(app, team)
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.DRAFT
    assert (campaign.currency, campaign.founder_id) == ("USD", str(team.founder))
    assert campaign.terms.max_target == D("10000.00")
    app.offerings.submit(team.founder, cid)
    assert app.campaign(cid).status is CampaignStatus.IN_REVIEW
    app.offerings.approve(team.risk_officer, cid)
    assert app.campaign(cid).status is CampaignStatus.APPROVED
    app.offerings.launch(team.founder, cid)
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.LIVE
    assert campaign.launched_at == clock.now()


def test_ecsp_campaigns_are_in_euro(app: Crowdfund, team: Staff) -> None:
    assert app.campaign(draft_campaign(app, team, regime="ECSP")).currency == "EUR"


def test_rejected_campaign_can_be_edited_and_resubmitted(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    app.offerings.reject(team.risk_officer, cid, "Explain the use of funds.")
    assert app.campaign(cid).status is CampaignStatus.REJECTED
    app.offerings.amend(team.founder, cid, {"summary": "Now with a use of funds."})
    assert app.campaign(cid).terms.summary == "Now with a use of funds."
    app.offerings.submit(team.founder, cid)
    app.offerings.approve(team.risk_officer, cid)
    assert app.campaign(cid).status is CampaignStatus.APPROVED


def test_only_a_risk_officer_approves_or_rejects(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    for someone in (team.founder, team.admin, register(app)):
        with pytest.raises(NotAllowedError):
            app.offerings.approve(someone, cid)
        with pytest.raises(NotAllowedError):
            app.offerings.reject(someone, cid, "no")
    assert app.campaign(cid).status is CampaignStatus.IN_REVIEW


def test_a_risk_officer_cannot_approve_their_own_campaign(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    # A founder made a risk officer later (staff may not found one: 227.300(b)).
    app.accounts.grant_role(team.admin, team.founder, Role.RISK_OFFICER)
    with pytest.raises(NotAllowedError):
        app.offerings.approve(team.founder, cid)
    app.offerings.approve(team.risk_officer, cid)


def test_founder_only_steps(app: Crowdfund, team: Staff) -> None:
    other = register(app, "intruder")
    cid = draft_campaign(app, team)
    with pytest.raises(NotAllowedError):
        app.offerings.submit(other, cid)
    with pytest.raises(NotAllowedError):
        app.offerings.amend(other, cid, {"title": "Mine now"})
    app.offerings.submit(team.founder, cid)
    app.offerings.approve(team.risk_officer, cid)
    with pytest.raises(NotAllowedError):
        app.offerings.launch(other, cid)
    with pytest.raises(NotAllowedError):
        app.offerings.launch(team.risk_officer, cid)
    app.offerings.launch(team.founder, cid)
    with pytest.raises(NotAllowedError):
        app.offerings.post_update(other, cid, "Hi", "Not my campaign")
    with pytest.raises(NotAllowedError):
        app.offerings.close_early(other, cid, app.clock.now() + timedelta(days=10))
    with pytest.raises(NotAllowedError):
        app.offerings.cancel(other, cid, "I do not like it")
    assert app.campaign(cid).status is CampaignStatus.LIVE


@pytest.mark.parametrize(
    ("step", "status"),
    [("submit", "IN_REVIEW"), ("approve", "APPROVED"), ("launch", "LIVE")],
)
def test_steps_out_of_order_are_invalid_state(
    app: Crowdfund, team: Staff, step: str, status: str
) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    app.offerings.approve(team.risk_officer, cid)
    app.offerings.launch(team.founder, cid)
    do = {
        "submit": lambda: app.offerings.submit(team.founder, cid),
        "approve": lambda: app.offerings.approve(team.risk_officer, cid),
        "launch": lambda: app.offerings.launch(team.founder, cid),
    }
    with pytest.raises(InvalidStateError):
        do[step]()
    assert app.campaign(cid).status is CampaignStatus.LIVE


def test_launch_before_approval_is_refused(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, cid)
    assert caught.value.code == "CAMPAIGN_NOT_APPROVED"


def test_reg_cf_needs_21_days_ecsp_does_not(app: Crowdfund, team: Staff) -> None:
    short = approved_campaign(app, team, days=20)
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, short)
    assert caught.value.code == "OFFERING_PERIOD_TOO_SHORT"
    assert app.campaign(short).status is CampaignStatus.APPROVED
    ecsp = approved_campaign(app, team, regime="ECSP", days=3)
    app.offerings.launch(team.founder, ecsp)
    assert app.campaign(ecsp).status is CampaignStatus.LIVE


def test_launch_after_the_deadline_passed_is_refused(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    cid = approved_campaign(app, team, regime="ECSP", days=3)
    clock.advance(days=3)
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, cid)
    assert caught.value.code == "DEADLINE_PASSED"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"max_target": "5000000.01"}, "maxTarget"),
        ({"min_target": "2000.00", "max_target": "1000.00"}, "maxTarget"),
        ({"min_pledge": "5.00", "price_per_share": "10.00"}, "minPledge"),
        ({"min_pledge": "20000.00", "max_target": "10000.00"}, "minPledge"),
    ],
)
def test_terms_that_break_the_rulebook(
    app: Crowdfund, team: Staff, terms: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        draft_campaign(app, team, **terms)
    assert caught.value.field == field


@pytest.mark.parametrize("regime", ["REG_CF", "ECSP"])
def test_offering_limit_is_5_million_inclusive(app: Crowdfund, team: Staff, regime: str) -> None:
    cid = draft_campaign(app, team, regime=regime, max_target="5000000.00")
    assert app.campaign(cid).terms.max_target == D("5000000.00")
    with pytest.raises(ValidationError):
        draft_campaign(app, team, regime=regime, max_target="5000000.01")


def test_amending_a_draft_is_a_plain_edit(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.amend(team.founder, cid, {"maxTarget": "20000.00", "title": "Bigger"})
    campaign = app.campaign(cid)
    assert campaign.terms.max_target == D("20000.00")
    assert campaign.terms.title == "Bigger"
    assert campaign.terms_version == 1
    assert campaign.reconfirm_by is None
    names = [type(e).__name__ for e in app.events.get(cid)]
    assert names[-1] == "CampaignAmended"


def test_amendments_that_change_nothing_or_name_no_term(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    with pytest.raises(ValidationError) as caught:
        app.offerings.amend(team.founder, cid, {"title": "Test offering"})
    assert caught.value.code == "NOTHING_CHANGED"
    with pytest.raises(ValidationError) as caught:
        app.offerings.amend(team.founder, cid, {})
    assert caught.value.code == "NOTHING_CHANGED"
    with pytest.raises(ValidationError) as caught:
        app.offerings.amend(team.founder, cid, {"founderId": "me"})
    assert caught.value.field == "founderId"


def test_amendment_in_review_or_approved_is_refused(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    with pytest.raises(InvalidStateError):
        app.offerings.amend(team.founder, cid, {"title": "Sneaky"})
    app.offerings.approve(team.risk_officer, cid)
    with pytest.raises(InvalidStateError):
        app.offerings.amend(team.founder, cid, {"title": "Sneaky"})


def test_material_change_while_live_asks_every_open_pledge_to_reconfirm(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    first = pledge(app, backer, cid, "500.00")
    second = pledge(app, backer, cid, "300.00")
    app.pledges.cancel(backer, second)
    clock.advance(days=2)  # Wednesday
    app.offerings.amend(team.founder, cid, {"minTarget": "2000.00"})
    campaign = app.campaign(cid)
    assert campaign.terms.min_target == D("2000.00")
    assert campaign.terms_version == 2
    assert campaign.reconfirm_by == add_business_days(
        clock.now(), 5, REG_CF, app.holidays(Regime.REG_CF)
    )
    assert campaign.reconfirm_by.weekday() == 2  # a week later, Wednesday
    assert app.pledge_record(first).status is PledgeStatus.PENDING_RECONFIRMATION
    assert app.pledge_record(first).reconfirm_by == campaign.reconfirm_by
    assert app.pledge_record(second).status is PledgeStatus.CANCELLED  # not asked
    names = [type(e).__name__ for e in app.events.get(cid)]
    assert names[-2:] == ["MaterialChangeMade", "UpdatePosted"]


def test_live_campaign_price_is_locked_once_pledged(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pledge(app, backer, cid, "500.00")
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.amend(team.founder, cid, {"pricePerShare": "20.00"})
    assert caught.value.code == "PRICE_LOCKED"


def test_live_max_target_cannot_drop_below_what_is_held(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team, accredited=True)
    cid = live_campaign(app, team)
    pledge(app, backer, cid, "5000.00")
    with pytest.raises(ValidationError) as caught:
        app.offerings.amend(team.founder, cid, {"maxTarget": "4990.00", "minTarget": "1000.00"})
    assert caught.value.field == "maxTarget"
    app.offerings.amend(team.founder, cid, {"maxTarget": "5000.00"})
    assert app.campaign(cid).terms.max_target == D("5000.00")


def test_live_deadline_moves_only_later(app: Crowdfund, team: Staff) -> None:
    cid = live_campaign(app, team, days=30)
    deadline = app.campaign(cid).terms.deadline
    with pytest.raises(ValidationError) as caught:
        app.offerings.amend(team.founder, cid, {"deadline": deadline - timedelta(days=1)})
    assert caught.value.field == "deadline"
    app.offerings.amend(team.founder, cid, {"deadline": deadline + timedelta(days=7)})
    assert app.campaign(cid).terms.deadline == deadline + timedelta(days=7)


def test_close_early_rules(app: Crowdfund, team: Staff, clock: SettableClock) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, days=60)
    launched = clock.now()
    # Target not met.
    clock.set(launched + timedelta(days=21))
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.close_early(team.founder, cid, clock.now() + timedelta(days=10))
    assert caught.value.code == "TARGET_NOT_MET"
    pledge(app, backer, cid, "1000.00")
    # Open less than 21 days (one second short).
    clock.set(launched + timedelta(days=21, seconds=-1))
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.close_early(team.founder, cid, clock.now() + timedelta(days=10))
    assert caught.value.code == "OFFERING_PERIOD_TOO_SHORT"
    # 21 days exactly: allowed, but only with 5 business days' notice.
    clock.set(launched + timedelta(days=21))  # a Monday
    earliest = add_business_days(clock.now(), 5, REG_CF, app.holidays(Regime.REG_CF))
    assert earliest == clock.now() + timedelta(days=7)
    with pytest.raises(ValidationError) as caught:
        app.offerings.close_early(team.founder, cid, earliest - timedelta(seconds=1))
    assert caught.value.field == "newDeadline"
    old_deadline = app.campaign(cid).terms.deadline
    with pytest.raises(ValidationError):
        app.offerings.close_early(team.founder, cid, old_deadline)
    app.offerings.close_early(team.founder, cid, earliest)
    campaign = app.campaign(cid)
    assert campaign.terms.deadline == earliest
    assert campaign.status is CampaignStatus.LIVE


def test_close_early_notice_counts_business_days_over_the_weekend(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, days=60)
    pledge(app, backer, cid, "1000.00")
    clock.advance(days=26)  # Saturday
    assert clock.now().weekday() == 5
    friday = clock.now() + timedelta(days=6)
    with pytest.raises(ValidationError):
        app.offerings.close_early(team.founder, cid, friday - timedelta(seconds=1))
    app.offerings.close_early(team.founder, cid, friday)
    assert app.campaign(cid).terms.deadline == friday


def test_cancel_campaign_by_founder_or_staff(app: Crowdfund, team: Staff) -> None:
    for who in (team.founder, team.risk_officer, team.admin):
        cid = live_campaign(app, team)
        app.offerings.cancel(who, cid, "Withdrawn")
        assert app.campaign(cid).status is CampaignStatus.CANCELLED
    with pytest.raises(InvalidStateError):
        app.offerings.cancel(team.founder, cid, "Again")
    with pytest.raises(ValidationError):
        app.offerings.cancel(team.founder, live_campaign(app, team), "   ")


def test_cancelling_a_live_campaign_refunds_every_backer(app: Crowdfund, team: Staff) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team)
    p1, p2 = pledge(app, alice, cid, "500.00"), pledge(app, bob, cid, "700.00")
    app.offerings.cancel(team.risk_officer, cid, "Fraud suspected")
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.CANCELLED
    assert (campaign.held, campaign.refunded, campaign.open_pledges) == (0, D("1200.00"), 0)
    assert campaign.escrow_balances()
    assert {app.pledge_record(p).status for p in (p1, p2)} == {PledgeStatus.REFUNDED}
    assert app.reg_cf_headroom(alice).used == 0


def test_updates_only_while_live_or_later(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    with pytest.raises(InvalidStateError):
        app.offerings.post_update(team.founder, cid, "News", "Body")
    app.offerings.submit(team.founder, cid)
    app.offerings.approve(team.risk_officer, cid)
    app.offerings.launch(team.founder, cid)
    update_id = app.offerings.post_update(team.founder, cid, "News", "Body").value
    last = list(app.events.get(cid))[-1]
    assert (type(last).__name__, last.update_id, last.material) == ("UpdatePosted", update_id,
                                                                    False)
    with pytest.raises(ValidationError):
        app.offerings.post_update(team.founder, cid, "", "Body")
    with pytest.raises(ValidationError):
        app.offerings.post_update(team.founder, cid, "News", "x" * 20001)


def test_roles_and_kyc(app: Crowdfund, team: Staff) -> None:
    someone = register(app)
    with pytest.raises(NotAllowedError):
        app.accounts.grant_role(team.founder, someone, Role.RISK_OFFICER)
    backer = register(app, "backer")
    submit_profile(app, backer)
    with pytest.raises(NotAllowedError):
        app.accounts.verify_investor(someone, backer)
    with pytest.raises(NotAllowedError):
        app.accounts.verify_investor(team.admin, backer)  # admin is not a risk officer
    app.accounts.grant_role(team.admin, someone, Role.RISK_OFFICER)
    with pytest.raises(NotAllowedError) as refused:  # staff act only with TOTP on
        app.accounts.verify_investor(someone, backer)
    assert refused.value.code == "TOTP_ENROLLMENT_REQUIRED"
    enroll(app, someone)
    submit_profile(app, someone)
    with pytest.raises(NotAllowedError):  # nobody reviews their own profile
        app.accounts.verify_investor(someone, someone)
    app.accounts.verify_investor(someone, backer)
    with pytest.raises(InvalidStateError) as caught:
        app.accounts.verify_investor(someone, backer)
    assert caught.value.code == "KYC_NOT_PENDING"


def test_bootstrap_admin_is_idempotent(app: Crowdfund) -> None:
    first = app.accounts.bootstrap_admin("root@example.test", "hash")
    again = app.accounts.bootstrap_admin("ROOT@example.test", "hash")
    assert first == again
    assert app.user(first).has_role(Role.ADMIN)
    plain = register(app, "later-admin")
    email = app.user(plain).email
    assert app.accounts.bootstrap_admin(email, "hash") == plain
    assert app.user(plain).has_role(Role.ADMIN)


# Early close that loses its target (227.304(b)(4)) and material updates (227.304(c)) -----


def test_an_early_close_that_loses_its_target_runs_on_to_the_original_deadline(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, days=60, min_target="1000.00")
    original = app.campaign(cid).terms.deadline
    assert app.campaign(cid).original_deadline == original
    first = pledge(app, backer, cid, "600.00")
    pledge(app, backer, cid, "400.00")
    clock.advance(days=21)
    new_deadline = add_business_days(clock.now(), 5, REG_CF, app.holidays(Regime.REG_CF))
    app.offerings.close_early(team.founder, cid, new_deadline)
    campaign = app.campaign(cid)
    assert (campaign.terms.deadline, campaign.original_deadline) == (new_deadline, original)
    app.pledges.cancel(backer, first)  # before the new 48-hour cutoff: 400 of 1,000 left
    clock.set(new_deadline)
    app.due.run()
    campaign = app.campaign(cid)
    assert campaign.status is CampaignStatus.LIVE
    assert campaign.terms.deadline == campaign.original_deadline == original
    names = [type(e).__name__ for e in app.events.get(cid)]
    assert names[-2:] == ["EarlyCloseWithdrawn", "UpdatePosted"]  # backers are told
    # Next due: the reminder that the cancellation window closes (domain.reminders).
    assert app.calendar().due[str(cid)] == original - timedelta(hours=48) - REMINDER_LEAD


def test_an_early_close_that_keeps_its_target_closes_early(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, days=60, min_target="1000.00")
    pledge(app, backer, cid, "1000.00")
    clock.advance(days=21)
    new_deadline = add_business_days(clock.now(), 5, REG_CF, app.holidays(Regime.REG_CF))
    app.offerings.close_early(team.founder, cid, new_deadline)
    clock.set(new_deadline)
    app.due.run()
    assert app.campaign(cid).status is CampaignStatus.SETTLED


def test_a_material_update_asks_every_open_pledge_to_reconfirm(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, backer, cid, "500.00")
    plain = app.offerings.post_update(team.founder, cid, "News", "We hired a CTO.")
    assert app.pledge_record(pid).status is PledgeStatus.ACTIVE
    app.offerings.post_update(team.founder, cid, "Our CEO left", "A material change.", True)
    campaign = app.campaign(cid)
    assert campaign.terms_version == 2
    assert campaign.reconfirm_by == add_business_days(
        clock.now(), 5, REG_CF, app.holidays(Regime.REG_CF)
    )
    assert app.pledge_record(pid).status is PledgeStatus.PENDING_RECONFIRMATION
    events = list(app.events.get(cid))
    posted = [e for e in events if type(e).__name__ == "UpdatePosted"]
    assert [(e.update_id == plain.value, e.material) for e in posted] == [  # type: ignore[attr-defined]
        (True, False), (False, True)
    ]
    assert type(events[-2]).__name__ == "MaterialChangeMade"
    # Not reconfirmed in 5 business days: cancelled and refunded, as after an amendment.
    clock.set(campaign.reconfirm_by)  # type: ignore[arg-type]
    app.due.run()
    assert app.pledge_record(pid).status is PledgeStatus.CANCELLED


def test_a_material_update_needs_a_live_campaign(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    cid = live_campaign(app, team, min_target="100.00", days=25)
    backer = verified_backer(app, team)
    pledge(app, backer, cid, "100.00")
    clock.set(app.campaign(cid).terms.deadline)
    app.due.run()
    with pytest.raises(InvalidStateError):
        app.offerings.post_update(team.founder, cid, "Late", "Material.", True)
    app.offerings.post_update(team.founder, cid, "Thanks", "Shares issued.")
