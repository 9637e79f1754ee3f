"""Every rule a pledge must pass, the Reg CF cap, ECSP checks and idempotency keys.
Runs on both event stores (`app` is parametrized)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest, WrittenPledge
from domain.campaign import CampaignStatus
from domain.errors import (
    DomainError,
    InvalidStateError,
    InvestmentLimitExceeded,
    MaxTargetExceeded,
    NotAllowedError,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.pledge import PledgeStatus
from tests.scenario import (
    Staff,
    draft_campaign,
    live_campaign,
    pledge,
    register,
    run_to_deadline,
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


def test_an_accepted_pledge(app: Crowdfund, team: Staff, clock: SettableClock) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    written = app.pledges.place(backer, cid, "250.00", "key-1", True)
    record = app.pledge_record(written.value)
    assert record.status is PledgeStatus.ACTIVE
    assert (record.amount, record.shares, record.currency) == (D("250.00"), 25, "USD")
    assert (record.backer_id, record.campaign_id) == (str(backer), str(cid))
    assert record.pledged_at == clock.now()
    assert record.terms_version == 1
    campaign = app.campaign(cid)
    assert (campaign.pledged, campaign.held, campaign.open_pledges) == (D("250.00"),) * 2 + (1,)
    assert app.reg_cf_headroom(backer).used == D("250.00")
    assert written.position == app.head_position()
    # One transaction wrote the pledge, the campaign's and the backer's events.
    names = {type(e).__name__ for e in app.events.get(written.value)}
    assert names == {"PledgePlaced"}
    assert type(list(app.events.get(cid))[-1]).__name__ == "PledgeAccepted"
    assert type(list(app.events.get(backer))[-1]).__name__ == "InvestmentCommitted"


@pytest.mark.parametrize("kyc", ["NOT_SUBMITTED", "PENDING", "REJECTED"])
def test_kyc_must_be_verified(app: Crowdfund, team: Staff, kyc: str) -> None:
    backer = register(app, "backer")
    if kyc != "NOT_SUBMITTED":
        submit_profile(app, backer)
    if kyc == "REJECTED":
        app.accounts.reject_investor(team.risk_officer, backer, "Documents do not match.")
    cid = live_campaign(app, team)
    head = app.head_position()
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.place(backer, cid, "100.00", "k", True)
    assert caught.value.code == "KYC_NOT_VERIFIED"
    assert app.head_position() == head


@pytest.mark.parametrize("status", ["DRAFT", "IN_REVIEW", "APPROVED", "CANCELLED"])
def test_campaign_must_be_live(app: Crowdfund, team: Staff, status: str) -> None:
    backer = verified_backer(app, team)
    cid = draft_campaign(app, team)
    if status != "DRAFT":
        app.offerings.submit(team.founder, cid)
    if status in ("APPROVED", "CANCELLED"):
        app.offerings.approve(team.risk_officer, cid)
    if status == "CANCELLED":
        app.offerings.cancel(team.founder, cid, "Withdrawn")
    assert app.campaign(cid).status.value == status
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.place(backer, cid, "100.00", "k", True)
    assert caught.value.code == "CAMPAIGN_NOT_LIVE"


def test_no_pledge_at_or_after_the_deadline(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    deadline = app.campaign(cid).terms.deadline
    clock.set(deadline - timedelta(seconds=1))
    pledge(app, backer, cid, "100.00")
    clock.set(deadline)
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.place(backer, cid, "100.00", "late", True)
    assert caught.value.code == "CAMPAIGN_CLOSED"


def test_minimum_pledge_and_whole_shares(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, min_pledge="100.00", price_per_share="2.50")
    with pytest.raises(ValidationError) as caught:
        app.pledges.place(backer, cid, "99.99", "a", True)
    assert (caught.value.code, caught.value.field) == ("BELOW_MIN_PLEDGE", "amount")
    with pytest.raises(ValidationError) as caught:
        app.pledges.place(backer, cid, "101.00", "b", True)
    assert (caught.value.code, caught.value.field) == ("NOT_WHOLE_SHARES", "amount")
    exact = pledge(app, backer, cid, "100.00")
    assert app.pledge_record(exact).shares == 40
    assert app.pledge_record(pledge(app, backer, cid, "102.50")).shares == 41


def test_open_pledges_never_exceed_the_max_target(app: Crowdfund, team: Staff) -> None:
    rich = verified_backer(app, team, accredited=True)
    cid = live_campaign(app, team, max_target="2000.00", min_target="1000.00")
    pledge(app, rich, cid, "1500.00")
    with pytest.raises(MaxTargetExceeded) as caught:
        app.pledges.place(rich, cid, "510.00", "over", True)
    assert caught.value.remaining == D("500.00")
    last = pledge(app, rich, cid, "500.00")  # exactly to the max target
    assert app.campaign(cid).held == D("2000.00")
    with pytest.raises(MaxTargetExceeded) as caught:
        app.pledges.place(rich, cid, "100.00", "full", True)
    assert caught.value.remaining == 0
    app.pledges.cancel(rich, last)  # a cancellation frees room again
    pledge(app, rich, cid, "500.00")
    assert app.campaign(cid).held == D("2000.00")


# Reg CF: 12-month limit across every Reg CF offering -------------------------------------


def test_reg_cf_cap_exactly_then_one_share_more(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team, annual_income="60000.00", net_worth="10000.00")
    assert app.reg_cf_headroom(backer).limit == D("3000.00")
    a = live_campaign(app, team, price_per_share="1.00", min_pledge="1.00")
    b = live_campaign(app, team, price_per_share="1.00", min_pledge="1.00")
    pledge(app, backer, a, "2000.00")
    pledge(app, backer, b, "999.00")
    with pytest.raises(InvestmentLimitExceeded) as caught:
        app.pledges.place(backer, a, "2.00", "over", True)
    assert (caught.value.limit, caught.value.remaining) == (D("3000.00"), D("1.00"))
    pledge(app, backer, b, "1.00")  # exactly at the limit, across two campaigns
    headroom = app.reg_cf_headroom(backer)
    assert (headroom.used, headroom.remaining) == (D("3000.00"), D("0.00"))
    with pytest.raises(InvestmentLimitExceeded):
        app.pledges.place(backer, a, "1.00", "one-more", True)


def test_declared_other_investments_count(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team, other_reg_cf_investments_12m="2200.00")
    cid = live_campaign(app, team)
    with pytest.raises(InvestmentLimitExceeded) as caught:
        app.pledges.place(backer, cid, "400.00", "a", True)
    assert caught.value.remaining == D("300.00")
    pledge(app, backer, cid, "300.00")
    assert app.reg_cf_headroom(backer).used == D("2500.00")


def test_cancelled_and_refunded_commitments_release_the_cap(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    failing = live_campaign(app, team, min_target="9000.00", days=25)
    other = live_campaign(app, team, days=40)
    cancelled = pledge(app, backer, other, "1000.00")
    pledge(app, backer, failing, "1500.00")
    assert app.reg_cf_headroom(backer).remaining == 0
    app.pledges.cancel(backer, cancelled)
    assert app.reg_cf_headroom(backer).used == D("1500.00")
    pledge(app, backer, other, "1000.00")
    clock.set(app.campaign(failing).terms.deadline)
    app.due.run()
    assert app.campaign(failing).status is CampaignStatus.FAILED
    assert app.reg_cf_headroom(backer).used == D("1000.00")
    pledge(app, backer, other, "1500.00")


def test_settled_commitments_keep_counting(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    funded = live_campaign(app, team, min_target="1000.00", days=25)
    later = live_campaign(app, team, days=60)
    pledge(app, backer, funded, "2000.00")
    clock.set(app.campaign(funded).terms.deadline)
    app.due.run()
    assert app.campaign(funded).status is CampaignStatus.SETTLED
    assert app.reg_cf_headroom(backer).used == D("2000.00")
    with pytest.raises(InvestmentLimitExceeded):
        app.pledges.place(backer, later, "600.00", "over", True)


def test_settled_commitments_drop_out_twelve_months_after_settlement_to_the_second(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    """227.100(a)(2) counts securities sold in the 12 months before: from the sale
    (settlement), not from the pledge."""
    backer = verified_backer(app, team)
    funded = live_campaign(app, team, days=25)
    later = live_campaign(app, team, days=400, max_target="100000.00")
    pledge(app, backer, funded, "2500.00")
    run_to_deadline(app, clock, funded)
    settled_at = clock.now()
    assert app.campaign(funded).status is CampaignStatus.SETTLED
    # A year after the pledge, but not yet a year after the sale: still counted.
    clock.set(settled_at.replace(year=settled_at.year + 1) - timedelta(seconds=1))
    with pytest.raises(InvestmentLimitExceeded):
        app.pledges.place(backer, later, "100.00", "too-soon", True)
    clock.set(settled_at.replace(year=settled_at.year + 1))
    assert app.reg_cf_headroom(backer).used == 0
    pledge(app, backer, later, "2500.00")


def test_open_commitments_count_in_full_however_old(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)
    long_running = live_campaign(app, team, days=400, max_target="100000.00")
    start = clock.now()
    pledge(app, backer, long_running, "2500.00")
    clock.set(start.replace(year=start.year + 1) + timedelta(days=1))
    assert app.reg_cf_headroom(backer).used == D("2500.00")
    with pytest.raises(InvestmentLimitExceeded):
        app.pledges.place(backer, long_running, "100.00", "still-open", True)


def test_accredited_investors_have_no_cap_but_the_max_target(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team, accredited=True, annual_income="0", net_worth="0")
    cid = live_campaign(app, team, max_target="500000.00")
    pledge(app, backer, cid, "400000.00")
    assert app.reg_cf_headroom(backer).limit is None
    with pytest.raises(MaxTargetExceeded):
        app.pledges.place(backer, cid, "100010.00", "over", True)


def test_ecsp_pledges_do_not_count_against_the_reg_cf_cap(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team, sophisticated=True)
    ecsp = live_campaign(app, team, regime="ECSP")
    reg_cf = live_campaign(app, team)
    pledge(app, backer, ecsp, "9000.00")
    assert app.reg_cf_headroom(backer).used == 0
    pledge(app, backer, reg_cf, "2500.00")


# ECSP: knowledge test and risk acknowledgement -----------------------------------------


def test_ecsp_without_a_passed_test_is_warned_on_every_pledge(
    app: Crowdfund, team: Staff
) -> None:
    """Art. 21(4): not passing does not bar the investor; they acknowledge the warning on
    every pledge, however small."""
    cid = live_campaign(app, team, regime="ECSP")
    novice = verified_backer(app, team, knowledge_test_passed=False, country="DE")
    with pytest.raises(RiskAcknowledgementRequired) as caught:
        app.pledges.place(novice, cid, "100.00", "k", False)
    assert caught.value.threshold == 0
    warned = pledge(app, novice, cid, "100.00", acknowledge_risk=True)
    assert app.pledge_record(warned).risk_acknowledged is True
    pro = verified_backer(app, team, knowledge_test_passed=False, sophisticated=True,
                          net_worth="0")
    pledge(app, pro, cid, "5000.00", acknowledge_risk=False)  # no test, no warning, no cap


def test_ecsp_risk_acknowledgement_counts_open_pledges_in_the_offer(
    app: Crowdfund, team: Staff
) -> None:
    """Art. 21(7): the threshold applies to the investor's open pledges in the offer."""
    cid = live_campaign(app, team, regime="ECSP", price_per_share="1.00", min_pledge="1.00")
    other = live_campaign(app, team, regime="ECSP", price_per_share="1.00", min_pledge="1.00")
    backer = verified_backer(app, team, net_worth="40000.00", country="FR")  # threshold 2000
    at = pledge(app, backer, cid, "2000.00", acknowledge_risk=False)
    assert app.pledge_record(at).risk_acknowledged is False
    with pytest.raises(RiskAcknowledgementRequired) as caught:
        app.pledges.place(backer, cid, "1.00", "above", False)
    assert caught.value.threshold == D("2000.00")
    above = pledge(app, backer, cid, "1.00", acknowledge_risk=True)
    assert app.pledge_record(above).risk_acknowledged is True
    pledge(app, backer, other, "2000.00", acknowledge_risk=False)  # another offer: its own count
    # Five pledges of EUR 990 pass a EUR 1,000 threshold at the second one.
    poor = verified_backer(app, team, net_worth="0", country="FR")
    pledge(app, poor, other, "990.00", acknowledge_risk=False)
    with pytest.raises(RiskAcknowledgementRequired) as caught:
        app.pledges.place(poor, other, "990.00", "second", False)
    assert caught.value.threshold == D("1000.00")
    # A cancelled pledge no longer counts.
    first = pledge(app, poor, cid, "1000.00", acknowledge_risk=False)
    app.pledges.cancel(poor, first)
    pledge(app, poor, cid, "1000.00", acknowledge_risk=False)


def test_ecsp_threshold_needs_a_net_worth_in_euros(app: Crowdfund, team: Staff) -> None:
    """Nothing is converted: a net worth stated in USD gives the EUR 1,000 floor."""
    cid = live_campaign(app, team, regime="ECSP", price_per_share="1.00", min_pledge="1.00")
    dollars = verified_backer(app, team, net_worth="400000.00", country="US")
    with pytest.raises(RiskAcknowledgementRequired) as caught:
        app.pledges.place(dollars, cid, "1001.00", "k", False)
    assert caught.value.threshold == D("1000.00")
    euros = verified_backer(app, team, net_worth="400000.00", country="US", currency="EUR")
    pledge(app, euros, cid, "9000.00", acknowledge_risk=False)  # below 5% of EUR 400,000


def test_ecsp_has_no_investment_cap(app: Crowdfund, team: Staff) -> None:
    cid = live_campaign(app, team, regime="ECSP", max_target="100000.00")
    backer = verified_backer(app, team, annual_income="0", net_worth="0")
    pledge(app, backer, cid, "90000.00", acknowledge_risk=True)
    assert app.campaign(cid).held == D("90000.00")


# Idempotency keys ------------------------------------------------------------------


def test_same_key_same_pledge_nothing_new_stored(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    first = app.pledges.place(backer, cid, "500.00", "order-42", True)
    head = app.head_position()
    again = app.pledges.place(backer, cid, "500", " order-42 ", True)
    assert again.value == first.value
    assert app.head_position() == head
    assert again.position >= first.position
    assert app.campaign(cid).held == D("500.00")


def test_same_key_different_pledge_is_refused(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid, other = live_campaign(app, team), live_campaign(app, team)
    app.pledges.place(backer, cid, "500.00", "order-42", True)
    head = app.head_position()
    for campaign, amount in ((cid, "600.00"), (other, "500.00")):
        with pytest.raises(ValidationError) as caught:
            app.pledges.place(backer, campaign, amount, "order-42", True)
        assert (caught.value.code, caught.value.field) == ("IDEMPOTENCY_KEY_REUSED",
                                                           "idempotencyKey")
    assert app.head_position() == head


def test_keys_belong_to_one_backer(app: Crowdfund, team: Staff) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team)
    alices = app.pledges.place(alice, cid, "500.00", "k", True).value
    assert alices != app.pledges.place(bob, cid, "500.00", "k", True).value
    assert app.campaign(cid).open_pledges == 2


def test_a_repeated_key_returns_the_pledge_even_once_the_campaign_is_full(
    app: Crowdfund, team: Staff
) -> None:
    backer = verified_backer(app, team, accredited=True)
    cid = live_campaign(app, team, max_target="1000.00")
    first = app.pledges.place(backer, cid, "1000.00", "fill", True)
    assert app.pledges.place(backer, cid, "1000.00", "fill", True).value == first.value


# Cancellation and reconfirmation by the backer -----------------------------------------


def test_only_the_backer_cancels_and_only_once(app: Crowdfund, team: Staff) -> None:
    alice, bob = verified_backer(app, team), verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, alice, cid, "500.00")
    with pytest.raises(NotAllowedError):
        app.pledges.cancel(bob, pid)
    with pytest.raises(NotAllowedError):
        app.pledges.cancel(team.founder, pid)
    app.pledges.cancel(alice, pid)
    assert app.pledge_record(pid).status is PledgeStatus.CANCELLED
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.cancel(alice, pid)
    assert caught.value.code == "PLEDGE_CLOSED"
    campaign = app.campaign(cid)
    assert (campaign.held, campaign.refunded, campaign.open_pledges) == (0, D("500.00"), 0)
    assert campaign.escrow_balances()


def test_reconfirming_after_a_material_change(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, backer, cid, "500.00")
    with pytest.raises(InvalidStateError) as caught:
        app.pledges.reconfirm(backer, pid)
    assert caught.value.code == "NOT_PENDING_RECONFIRMATION"
    app.offerings.amend(team.founder, cid, {"summary": "New use of funds."})
    assert app.pledge_record(pid).status is PledgeStatus.PENDING_RECONFIRMATION
    with pytest.raises(NotAllowedError):
        app.pledges.reconfirm(team.founder, pid)
    app.pledges.reconfirm(backer, pid)
    record = app.pledge_record(pid)
    assert (record.status, record.terms_version, record.reconfirm_by) == (
        PledgeStatus.ACTIVE, 2, None,
    )


# pledge_many: a group commit gives each request its answer as if made alone --------------


def test_pledge_many_answers_each_request_as_if_alone(app: Crowdfund, team: Staff) -> None:
    alice = verified_backer(app, team)
    bob = verified_backer(app, team, accredited=True)
    cid = live_campaign(app, team, max_target="3000.00")
    requests = [
        PledgeRequest(alice, cid, "2000.00", "a1", True),  # accepted
        PledgeRequest(alice, cid, "600.00", "a2", True),  # over alice's 2,500 cap
        PledgeRequest(alice, cid, "500.00", "a3", True),  # accepted: exactly at the cap
        PledgeRequest(bob, cid, "0.001", "b0", True),  # bad input
        PledgeRequest(bob, cid, "600.00", "b1", True),  # max target: only 500 left
        PledgeRequest(bob, cid, "500.00", "b2", True),  # accepted: campaign full
        PledgeRequest(alice, cid, "2000.00", "a1", True),  # repeat of the first
        PledgeRequest(bob, cid, "500.00", "a1", True),  # bob's own "a1": a new pledge, but full
    ]
    results = app.pledges.place_many(requests)
    # An accepted pledge's answer is a `Written` (carrying the pledge as placed).
    kinds = [type(r).__name__ if isinstance(r, DomainError) else "Written" for r in results]
    assert kinds == [
        "Written", "InvestmentLimitExceeded", "Written", "ValidationError",
        "MaxTargetExceeded", "Written", "Written", "MaxTargetExceeded",
    ]
    first = results[0]
    assert not isinstance(first, DomainError)
    repeat = results[6]
    assert not isinstance(repeat, DomainError)
    assert repeat.value == first.value
    campaign = app.campaign(cid)
    assert (campaign.held, campaign.open_pledges) == (D("3000.00"), 3)
    # What the answer carries is what the store holds (the payload is built from it).
    assert isinstance(first, WrittenPledge) and first.pledge is not None
    stored = app.pledge_record(first.value)
    assert (first.pledge.amount, first.pledge.status, first.pledge.pledged_at) == (
        stored.amount, stored.status, stored.pledged_at)
    assert first.deadline == campaign.terms.deadline
    assert app.reg_cf_headroom(alice).used == D("2500.00")
    # The same requests one at a time, on a fresh campaign, give the same answers.
    cid2 = live_campaign(app, team, max_target="3000.00")
    carol = verified_backer(app, team)
    dave = verified_backer(app, team, accredited=True)
    who = {alice: carol, bob: dave}
    alone = []
    for r in requests:
        try:
            placed = app.pledges.place(who[r.backer_id], cid2, r.amount, r.idempotency_key, True)
            alone.append(type(placed).__name__)
        except DomainError as error:
            alone.append(type(error).__name__)
    assert alone == kinds


def test_a_retried_request_with_the_id_spelt_differently_is_the_same_pledge(
    app: Crowdfund, team: Staff
) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    shouted = str(cid).upper()  # a client may send any spelling of the same UUID
    first = app.pledges.place(backer, shouted, "500.00", "retry-me", True)
    assert app.pledge_record(first.value).campaign_id == str(cid)
    assert app.pledges.place(backer, shouted, "500.00", "retry-me", True).value == first.value
    again = app.pledges.place(str(backer).upper(), cid, "500.00", "retry-me", True)
    assert again.value == first.value
    assert app.campaign(cid).open_pledges == 1


def test_a_closed_or_pending_pledge_refuses_further_transitions(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    """Second line of defence: a pledge's own guards, whatever the service asks."""
    from domain.clock import business_time
    from domain.errors import InvalidStateError as Refused

    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    pid = pledge(app, backer, cid, "100.00")
    app.offerings.amend(team.founder, cid, {"summary": "A material change."})
    pending = app.pledge_record(pid)
    with business_time(clock.now()):
        with pytest.raises(Refused, match="Only an ACTIVE pledge can be settled"):
            pending.settle()
        pending.cancel("backer walked away")
        for transition in (pending.settle, lambda: pending.refund("x"),
                           lambda: pending.cancel("again")):
            with pytest.raises(Refused):
                transition()
    assert [type(e).__name__ for e in pending.collect_events()] == ["PledgeCancelled"]
