"""The issuer limit (17 CFR 227.100(a)(1), ECSP Art. 1(2)(c)): per issuer over 12 months,
across its campaigns; issuers told apart by legal name and jurisdiction."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.offerings import IssuerDetails
from domain.campaign import CampaignStatus
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.issuer import issuer_id, normalized_name
from domain.rulebook import Regime
from tests.scenario import (
    Staff,
    approved_campaign,
    live_campaign,
    pledge,
    register,
    run_to_deadline,
    staff,
    verified_backer,
)

D = Decimal
ACME = IssuerDetails("Acme Robotics, Inc.", "US", "https://acme.example")
MILLION = "1000000.00"


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def test_issuers_are_told_apart_by_normalised_name_and_jurisdiction() -> None:
    assert normalized_name("Acme Robotics, Inc.") == normalized_name("ACME ROBOTICS INC") \
        == normalized_name("acme-robotics inc") == "acmeroboticsinc"
    assert issuer_id("Acme Robotics, Inc.", "us") == issuer_id("ACME Robotics Inc", "US")
    assert issuer_id("Acme Robotics, Inc.", "US") != issuer_id("Acme Robotics, Inc.", "DE")
    assert issuer_id("Acme Robotics", "US") != issuer_id("Acme Robotics Inc", "US")


def test_a_campaign_belongs_to_its_issuer_or_to_the_founders_default_one(
    app: Crowdfund, team: Staff
) -> None:
    named = approved_campaign(app, team, issuer=ACME)
    company = app.issuer(app.campaign(named).issuer_id)  # type: ignore[arg-type]
    assert (company.registered_name, company.jurisdiction, company.website) == (
        "Acme Robotics, Inc.", "US", "https://acme.example"
    )
    # The same issuer spelled differently is the same issuer.
    again = approved_campaign(app, team, issuer=IssuerDetails("ACME ROBOTICS INC", "us"))
    assert app.campaign(again).issuer_id == str(company.id)
    plain = approved_campaign(app, team)
    ecsp = approved_campaign(app, team, regime="ECSP")
    founder = app.user(team.founder).display_name
    assert app.campaign(plain).issuer_id == str(issuer_id(founder, "US"))
    assert app.campaign(ecsp).issuer_id == str(issuer_id(founder, "DE"))


def test_a_founder_may_not_raise_for_another_founders_issuer(app: Crowdfund, team: Staff) -> None:
    approved_campaign(app, team, issuer=ACME)
    rival = register(app, "rival")
    with pytest.raises(NotAllowedError) as caught:
        app.offerings.draft(
            rival, title="Mine", summary="", regime="REG_CF", min_target="1000.00",
            max_target="2000.00", min_pledge="10.00", price_per_share="10.00",
            deadline=app.clock.now() + timedelta(days=30),
            issuer=IssuerDetails("acme robotics inc", "US"),
        )
    assert caught.value.code == "ISSUER_OF_ANOTHER_FOUNDER"


@pytest.mark.parametrize(
    ("details", "field"),
    [
        (IssuerDetails("", "US"), "issuer.legalName"),
        (IssuerDetails("...", "US"), "issuer.legalName"),
        (IssuerDetails("A" * 201, "US"), "issuer.legalName"),
        (IssuerDetails("Acme", "USA"), "issuer.jurisdiction"),
        (IssuerDetails("Acme", "1X"), "issuer.jurisdiction"),
        (IssuerDetails("Acme", "US", "ftp://acme"), "issuer.website"),
        (IssuerDetails("Acme", "US", "https://a cme"), "issuer.website"),
    ],
)
def test_bad_issuer_details_are_refused(
    app: Crowdfund, team: Staff, details: IssuerDetails, field: str
) -> None:
    before = app.head_position()
    with pytest.raises(ValidationError) as caught:
        approved_campaign(app, team, issuer=details)
    assert caught.value.field == field
    assert app.head_position() == before


def test_launches_count_the_issuers_other_open_offerings(
    app: Crowdfund, team: Staff
) -> None:
    """Three campaigns of one issuer: $5M in all may be open at once, not $5M each."""
    first = live_campaign(app, team, issuer=ACME, max_target="3000000.00")
    second = approved_campaign(app, team, issuer=ACME, max_target="2000000.01")
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, second)
    assert caught.value.code == "ISSUER_LIMIT_EXCEEDED"
    assert app.campaign(second).status is CampaignStatus.APPROVED
    exact = approved_campaign(app, team, issuer=ACME, max_target="2000000.00")
    app.offerings.launch(team.founder, exact)  # exactly 5,000,000.00: allowed
    # Another issuer of the same founder has its own limit; ECSP counts apart (EUR).
    live_campaign(app, team, issuer=IssuerDetails("Acme Europe GmbH", "DE"), max_target=MILLION)
    live_campaign(app, team, issuer=ACME, regime="ECSP", max_target=MILLION)
    # A cancelled offering frees its share of the limit.
    app.offerings.cancel(team.founder, first, "Withdrawn")
    live_campaign(app, team, issuer=ACME, max_target="3000000.00")


def test_raising_a_live_max_target_must_fit_the_limit(app: Crowdfund, team: Staff) -> None:
    live_campaign(app, team, issuer=ACME, max_target="4000000.00")
    other = live_campaign(app, team, issuer=ACME, max_target=MILLION)
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.amend(team.founder, other, {"maxTarget": "1000000.01"})
    assert caught.value.code == "ISSUER_LIMIT_EXCEEDED"
    assert app.campaign(other).terms.max_target == D(MILLION)
    app.offerings.amend(team.founder, other, {"maxTarget": "900000.00"})  # lowering is fine


def test_what_was_sold_counts_for_twelve_months_after_the_sale(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, accredited=True)
    sold = live_campaign(app, team, issuer=ACME, max_target="4000000.00", min_target="1000.00",
                         days=25)
    pledge(app, backer, sold, "3000000.00")
    run_to_deadline(app, clock, sold)
    assert app.campaign(sold).status is CampaignStatus.SETTLED
    settled_at = clock.now()
    company = app.issuer(app.campaign(sold).issuer_id)  # type: ignore[arg-type]
    assert company.sold_last_12_months(Regime.REG_CF, settled_at) == D("3000000.00")
    assert company.offerings == {}
    # 2,000,000.01 more within 12 months of the sale would pass the limit.
    clock.set(settled_at.replace(year=settled_at.year + 1) - timedelta(seconds=1))
    too_soon = approved_campaign(app, team, issuer=ACME, max_target="2000000.01")
    with pytest.raises(InvalidStateError) as caught:
        app.offerings.launch(team.founder, too_soon)
    assert caught.value.code == "ISSUER_LIMIT_EXCEEDED"
    clock.set(settled_at.replace(year=settled_at.year + 1))
    app.offerings.launch(team.founder, too_soon)


def test_a_failed_campaign_sells_nothing(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    failed = live_campaign(app, team, issuer=ACME, max_target="4000000.00",
                           min_target="1000000.00", days=25)
    run_to_deadline(app, clock, failed)
    company = app.issuer(app.campaign(failed).issuer_id)  # type: ignore[arg-type]
    assert app.campaign(failed).status is CampaignStatus.FAILED
    assert company.offerings == {} and company.sales == {}
    live_campaign(app, team, issuer=ACME, max_target="5000000.00")
