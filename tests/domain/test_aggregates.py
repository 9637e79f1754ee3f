"""The aggregates on their own, without any event store: constructed and driven under
`business_time`, their guards refuse what the rules forbid, their events carry the
business instant and chain their hashes, and replaying the events rebuilds the state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from domain.campaign import Campaign, CampaignStatus
from domain.chain import hash_of
from domain.clock import business_time
from domain.errors import InvalidStateError, MaxTargetExceeded, NotAllowedError, ValidationError
from domain.offering import Document, DocumentKind
from domain.pledge import Pledge, PledgeStatus

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a Monday
D = Decimal


def draft(now: datetime = NOW, **terms: Any) -> Campaign:
    values: dict[str, Any] = {
        "founder_id": "founder", "regime": "REG_CF", "currency": "USD", "title": "Solar co-op",
        "summary": "Panels on every roof.", "min_target": D("1000.00"),
        "max_target": D("5000.00"), "min_pledge": D("100.00"), "price_per_share": D("10.00"),
        "deadline": now + timedelta(days=30),
    }
    values.update(terms)
    with business_time(now):
        campaign = Campaign(id=uuid4(), **values)
        # The Form C `submit` needs (its bytes are the application's business).
        form_c = Document(str(uuid4()), DocumentKind.FORM_C, "form-c.pdf", "application/pdf",
                          1024, "0" * 64, now)
        campaign.file_document(form_c, "founder", now, NO_HOLIDAYS)
        return campaign


def live(now: datetime = NOW, **terms: Any) -> Campaign:
    campaign = draft(now, **terms)
    with business_time(now):
        campaign.submit()
        campaign.approve("officer")
        campaign.launch(now)
    return campaign


def placed(campaign: Campaign, amount: str, now: datetime = NOW) -> Pledge:
    with business_time(now):
        shares = campaign.check_pledge(D(amount), now)
        pledge = Pledge(
            campaign_id=str(campaign.id), backer_id="backer", regime="REG_CF", currency="USD",
            amount=D(amount), shares=shares, pledged_at=now, terms_version=campaign.terms_version,
            risk_acknowledged=False, cancellable_until=None, id=uuid4(),
        )
        campaign.accept_pledge(str(pledge.id), "backer", D(amount), shares)
    return pledge


def replayed(aggregate: Any) -> Any:
    """The aggregate rebuilt from its pending events, as a store would rebuild it."""
    copy = None
    for event in aggregate.collect_events():
        copy = event.mutate(copy)
    return copy


class _WeekendsOnly:
    """A business calendar without public holidays (the aggregate takes any calendar)."""

    def is_holiday(self, day: date) -> bool:
        return False


NO_HOLIDAYS = _WeekendsOnly()


def test_events_are_only_triggered_under_business_time() -> None:
    with pytest.raises(RuntimeError, match="business_time"):
        Campaign(id=uuid4(), founder_id="founder", regime="REG_CF", currency="USD", title="T",
                 summary="S", min_target=D("1000.00"), max_target=D("5000.00"),
                 min_pledge=D("100.00"), price_per_share=D("10.00"),
                 deadline=NOW + timedelta(days=30))


def test_a_campaign_from_draft_to_settlement() -> None:
    campaign = live()
    first, second = placed(campaign, "600.00"), placed(campaign, "500.00")
    assert (campaign.held, campaign.open_pledges, campaign.raised) == (D("1100.00"), 2, 1100)
    deadline = campaign.terms.deadline
    assert not campaign.is_due_to_close(deadline - timedelta(seconds=1))
    assert campaign.is_due_to_close(deadline)
    with business_time(deadline):
        assert campaign.close(deadline)
        for pledge in (first, second):
            pledge.settle()
        campaign.release_escrow(D("1100.00"), [str(first.id), str(second.id)])
        campaign.settle()
    assert campaign.status is CampaignStatus.SETTLED
    assert (campaign.held, campaign.released, campaign.refunded) == (0, D("1100.00"), 0)
    assert campaign.escrow_balances()
    assert first.status is second.status is PledgeStatus.SETTLED


def test_events_carry_the_business_instant_and_chain_their_hashes() -> None:
    campaign = live()
    later = NOW + timedelta(days=2)
    with business_time(later):
        campaign.post_update("u1", "News", "We ordered the panels.", False)
    pending = campaign.collect_events()
    assert [type(e).__name__ for e in pending] == [
        "CampaignDrafted", "DocumentUploaded", "CampaignSubmitted", "CampaignApproved",
        "CampaignLaunched", "UpdatePosted"]
    assert [e.timestamp for e in pending] == [NOW] * 5 + [later]
    previous = ""
    for event in pending:
        assert event.prev_hash == previous and event.hash == hash_of(event)
        previous = event.hash


def test_replaying_the_events_gives_the_same_campaign() -> None:
    campaign = live()
    placed(campaign, "1000.00")
    with business_time(NOW + timedelta(days=1)):
        material = campaign.amend(
            {"summary": "Panels, and batteries."}, NOW + timedelta(days=1), NO_HOLIDAYS)
    assert material and campaign.terms_version == 2 and campaign.reconfirm_by is not None
    state = {k: v for k, v in vars(campaign).items() if not k.startswith("_")}
    copy = replayed(campaign)
    assert {k: v for k, v in vars(copy).items() if not k.startswith("_")} == state


def test_campaign_guards_refuse_and_change_nothing() -> None:
    campaign = draft()
    with business_time(NOW):
        with pytest.raises(InvalidStateError) as caught:
            campaign.launch(NOW)
        assert caught.value.code == "CAMPAIGN_NOT_APPROVED"
        campaign.submit()
        with pytest.raises(NotAllowedError):
            campaign.approve("founder")  # nobody approves their own campaign
    assert campaign.status is CampaignStatus.IN_REVIEW and campaign.version == 3

    short = draft(deadline=NOW + timedelta(days=21) - timedelta(seconds=1))
    with business_time(NOW):
        short.submit()
        short.approve("officer")
        with pytest.raises(InvalidStateError) as caught:
            short.launch(NOW)
    assert caught.value.code == "OFFERING_PERIOD_TOO_SHORT"
    assert short.status is CampaignStatus.APPROVED


def test_pledge_checks_on_the_campaign() -> None:
    campaign = live()
    with pytest.raises(ValidationError) as below:
        campaign.check_pledge(D("90.00"), NOW)
    with pytest.raises(ValidationError) as partial:
        campaign.check_pledge(D("105.00"), NOW)
    assert (below.value.code, partial.value.code) == ("BELOW_MIN_PLEDGE", "NOT_WHOLE_SHARES")
    placed(campaign, "4900.00")
    with pytest.raises(MaxTargetExceeded) as over:
        campaign.check_pledge(D("200.00"), NOW)
    assert over.value.remaining == D("100.00")
    assert campaign.check_pledge(D("100.00"), NOW) == 10
    with pytest.raises(InvalidStateError) as closed:
        campaign.check_pledge(D("100.00"), campaign.terms.deadline)
    assert closed.value.code == "CAMPAIGN_CLOSED"


def test_a_pledge_moves_only_as_its_guards_allow() -> None:
    campaign = live()
    pledge = placed(campaign, "100.00")
    with business_time(NOW):
        with pytest.raises(InvalidStateError) as caught:
            pledge.reconfirm(1)
        assert caught.value.code == "NOT_PENDING_RECONFIRMATION"
        pledge.request_reconfirmation(NOW + timedelta(days=7), 2)
        with pytest.raises(InvalidStateError) as pending:
            pledge.settle()
        assert pending.value.code == "PLEDGE_NOT_ACTIVE"
        pledge.reconfirm(2)
        assert (pledge.status, pledge.terms_version, pledge.reconfirm_by) == (
            PledgeStatus.ACTIVE, 2, None)
        pledge.cancel("changed my mind")
        with pytest.raises(InvalidStateError) as again:
            pledge.cancel("twice")
        assert again.value.code == "PLEDGE_CLOSED"
        with pytest.raises(NotAllowedError):
            pledge.require_backer("someone else")
    assert pledge.status is PledgeStatus.CANCELLED
