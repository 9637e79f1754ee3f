"""Who may invest and what they must know: the knowledge test graded on the server
(227.303(b)(2), ECSP Art. 21), staff conflicts (227.300(b)), profile updates and dated
declarations of investments on other platforms (227.100(a)(2))."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.errors import (
    InvalidStateError,
    InvestmentLimitExceeded,
    NotAllowedError,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.knowledge_test import ECSP_QUESTIONS, REG_CF_QUESTIONS
from domain.rulebook import Regime
from domain.user import KycStatus, Role
from tests.scenario import (
    Staff,
    draft_campaign,
    live_campaign,
    pledge,
    register,
    right_answers,
    staff,
    submit_profile,
    verified_backer,
)

D = Decimal


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


# The knowledge test ----------------------------------------------------------------------


def test_each_regime_asks_about_cancellation_resale_and_loss() -> None:
    reg_cf = " ".join(q.text for q in REG_CF_QUESTIONS)
    ecsp = " ".join(q.text for q in ECSP_QUESTIONS)
    for topic in ("cancel", "resell", "lose"):
        assert topic in reg_cf.lower()
    assert "227.501" in reg_cf and "12 months" in " ".join(REG_CF_QUESTIONS[2].choices)
    assert "revoke" in ecsp and "4 calendar days" in " ".join(ECSP_QUESTIONS[0].choices)
    ids = [q.id for q in (*REG_CF_QUESTIONS, *ECSP_QUESTIONS)]
    assert all(ids) and len({q.id for q in REG_CF_QUESTIONS}) == len(REG_CF_QUESTIONS)


def test_the_server_grades_the_test_with_an_eighty_percent_pass_mark(
    app: Crowdfund, team: Staff
) -> None:
    backer = register(app, "learner")
    app.accounts.take_knowledge_test(backer, Regime.REG_CF, right_answers(Regime.REG_CF, 2))
    failed = app.user(backer).knowledge_tests[-1]
    assert (failed.passed, failed.score, failed.out_of) == (False, 4, 6)  # 4 of 6 < 80%
    app.accounts.take_knowledge_test(backer, "REG_CF", right_answers(Regime.REG_CF, 1))
    passed = app.user(backer).knowledge_tests[-1]
    assert (passed.passed, passed.score, passed.out_of) == (True, 5, 6)  # 5 of 6 >= 80%
    assert app.user(backer).knowledge_test_passed(Regime.REG_CF, app.clock.now())
    assert not app.user(backer).knowledge_test_passed(Regime.ECSP, app.clock.now())


@pytest.mark.parametrize(
    "answers",
    [
        [],  # nothing answered
        right_answers(Regime.REG_CF)[:-1],  # one missing
        [*right_answers(Regime.REG_CF), ("regcf-cancel-1", 1)],  # one twice
        [*right_answers(Regime.REG_CF)[:-1], ("made-up", 0)],  # not a question of the test
        [*right_answers(Regime.REG_CF)[:-1], (REG_CF_QUESTIONS[-1].id, 4)],  # no such choice
        [*right_answers(Regime.REG_CF)[:-1], (REG_CF_QUESTIONS[-1].id, -1)],
        right_answers(Regime.ECSP),  # the other regime's test
    ],
)
def test_bad_answer_sheets_are_refused_and_nothing_is_recorded(
    app: Crowdfund, answers: list[tuple[str, int]]
) -> None:
    backer = register(app, "learner")
    before = app.head_position()
    with pytest.raises(ValidationError) as caught:
        app.accounts.take_knowledge_test(backer, Regime.REG_CF, answers)
    assert caught.value.field == "answers"
    assert app.head_position() == before


def test_a_passed_test_lasts_two_years_and_the_latest_attempt_counts(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team)  # passed both tests at the start
    cid = live_campaign(app, team, days=800, max_target="100000.00")
    start = clock.now()
    clock.set(start.replace(year=start.year + 2) - timedelta(seconds=1))
    pledge(app, backer, cid, "100.00")
    clock.set(start.replace(year=start.year + 2))
    with pytest.raises(InvalidStateError) as caught:
        pledge(app, backer, cid, "100.00")
    assert caught.value.code == "KNOWLEDGE_TEST_REQUIRED"
    app.accounts.take_knowledge_test(backer, Regime.REG_CF, right_answers(Regime.REG_CF))
    pledge(app, backer, cid, "100.00")
    app.accounts.take_knowledge_test(backer, Regime.REG_CF, right_answers(Regime.REG_CF, 6))
    with pytest.raises(InvalidStateError):
        pledge(app, backer, cid, "100.00")


def test_the_profiles_knowledge_test_flag_is_ignored(app: Crowdfund, team: Staff) -> None:
    backer = register(app, "claims")
    app.accounts.submit_investor_profile(
        backer, legal_name="Claire Claims", date_of_birth="1990-01-01", country="US",
        annual_income="50000.00", net_worth="50000.00", knowledge_test_passed=True,
    )
    app.accounts.verify_investor(team.risk_officer, backer)
    assert not app.user(backer).knowledge_test_passed(Regime.REG_CF, app.clock.now())
    cid = live_campaign(app, team)
    with pytest.raises(InvalidStateError) as caught:
        pledge(app, backer, cid, "100.00")
    assert caught.value.code == "KNOWLEDGE_TEST_REQUIRED"


def test_every_reg_cf_pledge_needs_the_risk_acknowledgement(
    app: Crowdfund, team: Staff
) -> None:
    """227.303(b)(2)(ii): accredited or not, small or large, on every commitment."""
    cid = live_campaign(app, team)
    accredited = verified_backer(app, team, accredited=True)
    for backer in (accredited, verified_backer(app, team)):
        before = app.head_position()
        with pytest.raises(RiskAcknowledgementRequired) as caught:
            pledge(app, backer, cid, "100.00", acknowledge_risk=False)
        assert caught.value.threshold == 0
        assert app.head_position() == before
        assert app.pledge_record(pledge(app, backer, cid, "100.00")).risk_acknowledged


# Staff conflicts ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.RISK_OFFICER, Role.AUDITOR, Role.ADMIN])
def test_staff_can_neither_pledge_nor_found(app: Crowdfund, team: Staff, role: Role) -> None:
    cid = live_campaign(app, team)
    insider = verified_backer(app, team)
    drafted = draft_campaign(app, Staff(team.admin, team.risk_officer, insider))
    app.accounts.grant_role(team.admin, insider, role)
    for attempt in (
        lambda: pledge(app, insider, cid, "100.00"),
        lambda: draft_campaign(app, Staff(team.admin, team.risk_officer, insider)),
    ):
        with pytest.raises(NotAllowedError) as caught:
            attempt()
        assert caught.value.code == "STAFF_CONFLICT"
    # A campaign drafted before the role was granted cannot be launched either.
    app.offerings.submit(insider, drafted)
    app.offerings.approve(team.risk_officer, drafted)
    with pytest.raises(NotAllowedError) as caught:
        app.offerings.launch(insider, drafted)
    assert caught.value.code == "STAFF_CONFLICT"


# Profile updates and declared investments --------------------------------------------------


def test_a_finances_only_update_keeps_kyc_verified(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    submit_profile(app, backer, annual_income="90000.00", net_worth="90000.00",
                   other_reg_cf_investments_12m="100.00", knowledge_test_passed=False)
    user = app.user(backer)
    assert user.kyc_status is KycStatus.VERIFIED
    assert user.profile.annual_income == D("90000.00")  # type: ignore[union-attr]
    assert app.reg_cf_headroom(backer).limit == D("4500.00")
    assert app.reg_cf_headroom(backer).used == D("100.00")
    # A change of identity or investor status is verified again.
    for change in ({"country": "CA"}, {"date_of_birth": "1980-01-01"}, {"accredited": True}):
        submit_profile(app, backer, knowledge_test_passed=False, **change)  # type: ignore[arg-type]
        assert app.user(backer).kyc_status is KycStatus.PENDING
        app.accounts.verify_investor(team.risk_officer, backer)


def test_declared_investments_age_out_twelve_months_after_the_declaration(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, other_reg_cf_investments_12m="2500.00")
    cid = live_campaign(app, team, days=400, max_target="100000.00")
    declared = clock.now()
    assert app.reg_cf_headroom(backer).used == D("2500.00")
    clock.set(declared.replace(year=declared.year + 1) - timedelta(seconds=1))
    with pytest.raises(InvestmentLimitExceeded):
        pledge(app, backer, cid, "100.00")
    clock.set(declared.replace(year=declared.year + 1))
    assert app.reg_cf_headroom(backer).used == 0
    pledge(app, backer, cid, "2500.00")


def test_a_newer_declaration_replaces_the_older_one(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    backer = verified_backer(app, team, other_reg_cf_investments_12m="2000.00")
    clock.advance(days=100)
    submit_profile(app, backer, other_reg_cf_investments_12m="500.00", knowledge_test_passed=False)
    assert app.reg_cf_headroom(backer).used == D("500.00")
    assert app.user(backer).kyc_status is KycStatus.VERIFIED


def test_finances_in_another_currency_are_not_converted(app: Crowdfund, team: Staff) -> None:
    """A REG_CF limit from EUR figures would convert silently: the $2,500 floor applies."""
    rich_in_euros = verified_backer(app, team, annual_income="500000.00",
                                    net_worth="500000.00", country="DE")
    assert app.user(rich_in_euros).finances.currency == "EUR"  # type: ignore[union-attr]
    assert app.reg_cf_headroom(rich_in_euros).limit == D("2500.00")
    in_dollars = verified_backer(app, team, annual_income="500000.00", net_worth="500000.00",
                                 country="DE", currency="USD")
    assert app.reg_cf_headroom(in_dollars).limit == D("50000.00")
    assert app.user(in_dollars).ecsp_loss_bearing() is None
    assert app.user(rich_in_euros).ecsp_loss_bearing() == D("50000.00")
    with pytest.raises(ValidationError) as caught:
        submit_profile(app, in_dollars, currency="GBP")
    assert caught.value.field == "currency"
