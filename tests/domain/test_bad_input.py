"""Bad input raises a specific domain error and stores nothing: the log's head position and
the raw row count of the event table are unchanged. Runs on both event stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application.crowdfund import Crowdfund
from domain.errors import (
    DomainError,
    InvalidStateError,
    InvestmentLimitExceeded,
    MaxTargetExceeded,
    NotAllowedError,
    NotFoundError,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.user import Role
from tests.conftest import Store
from tests.scenario import (
    PASSWORD_HASH,
    Staff,
    live_campaign,
    pledge,
    register,
    staff,
    verified_backer,
)


@dataclass
class World:
    store: Store
    app: Crowdfund
    team: Staff
    backer: UUID  # verified, Reg CF limit 2,500.00
    novice: UUID  # verified, no knowledge test
    reg_cf: UUID  # live, price 10.00, min pledge 100.00, max 10,000.00
    ecsp: UUID  # live
    pledge: UUID  # the backer's 500.00 pledge to reg_cf
    email: str  # the backer's e-mail address


@pytest.fixture(scope="module")
def world(module_store: Store) -> World:
    """One world per store for the whole module: every case below must leave it unchanged."""
    app = module_store.open()
    team = staff(app)
    backer = verified_backer(app, team)
    novice = verified_backer(app, team, knowledge_test_passed=False)
    reg_cf = live_campaign(app, team)
    ecsp = live_campaign(app, team, regime="ECSP", max_target="4000.00")
    pid = pledge(app, backer, reg_cf, "500.00")
    app.pledges.place(backer, reg_cf, "100.00", "dup", True)  # for "reused idempotency key"
    return World(module_store, app, team, backer, novice, reg_cf, ecsp, pid,
                 app.user(backer).email)


Case = tuple[str, Callable[[World], object], type[DomainError], str | None]


def deadline(w: World, days: float = 30) -> datetime:
    return w.app.clock.now() + timedelta(days=days)


def draft(w: World, **override: object) -> object:
    terms: dict[str, object] = {
        "title": "T", "summary": "S", "regime": "REG_CF", "min_target": "1000.00",
        "max_target": "10000.00", "min_pledge": "100.00", "price_per_share": "10.00",
        "deadline": deadline(w),
    }
    terms.update(override)
    return w.app.offerings.draft(w.team.founder, **terms)  # type: ignore[arg-type]


def profile(w: World, user: UUID | None = None, **override: object) -> object:
    fields: dict[str, object] = {
        "legal_name": "Jane Roe", "date_of_birth": "1990-01-01", "country": "US",
        "annual_income": "50000.00", "net_worth": "50000.00",
    }
    fields.update(override)
    return w.app.accounts.submit_investor_profile(user or w.backer, **fields)  # type: ignore[arg-type]


def pledge_of(amount: object, campaign: str = "reg_cf", key: str | None = None,
              **kw: object) -> Callable[[World], object]:
    return lambda w: w.app.pledges.place(w.backer, getattr(w, campaign), amount, key or uuid4().hex,
                                  **kw)  # type: ignore[arg-type]


CASES: list[Case] = [
    # Pledge amounts.
    ("negative", pledge_of("-100.00"), ValidationError, "amount"),
    ("zero", pledge_of("0.00"), ValidationError, "amount"),
    ("three decimals", pledge_of("100.001"), ValidationError, "amount"),
    ("float", pledge_of(100.0), ValidationError, "amount"),
    ("not a number", pledge_of("one hundred"), ValidationError, "amount"),
    ("NaN", pledge_of("NaN"), ValidationError, "amount"),
    ("infinite", pledge_of("Infinity"), ValidationError, "amount"),
    ("absurdly large", pledge_of("1000000000000.00"), ValidationError, "amount"),
    ("absurd exponent", pledge_of("1e40"), ValidationError, "amount"),
    ("with a currency code", pledge_of("100.00 USD"), ValidationError, "amount"),
    ("with a currency prefix", pledge_of("EUR 100.00", "ecsp"), ValidationError, "amount"),
    ("not a share multiple", pledge_of("105.00"), ValidationError, "amount"),
    ("below minimum", pledge_of("90.00"), ValidationError, "amount"),
    ("above max target", pledge_of("9600.00"), MaxTargetExceeded, None),
    ("above Reg CF cap", pledge_of("2100.00"), InvestmentLimitExceeded, None),
    ("ECSP without acknowledgement", pledge_of("2600.00", "ecsp"),
     RiskAcknowledgementRequired, None),
    ("REG_CF without knowledge test",
     lambda w: w.app.pledges.place(w.novice, w.reg_cf, "100.00", "k", True), InvalidStateError,
     None),
    ("REG_CF without acknowledgement", pledge_of("100.00", acknowledge_risk=False),
     RiskAcknowledgementRequired, None),
    ("ECSP without knowledge test nor acknowledgement",
     lambda w: w.app.pledges.place(w.novice, w.ecsp, "100.00", "k", False),
     RiskAcknowledgementRequired, None),
    ("empty idempotency key", pledge_of("100.00", key="   "), ValidationError, "idempotencyKey"),
    ("long idempotency key", pledge_of("100.00", key="k" * 129), ValidationError,
     "idempotencyKey"),
    ("unprintable idempotency key", pledge_of("100.00", key="a\x00b"), ValidationError,
     "idempotencyKey"),
    ("reused idempotency key",
     lambda w: w.app.pledges.place(w.backer, w.reg_cf, "200.00", "dup", True),
     ValidationError, "idempotencyKey"),
    # Unknown and malformed ids.
    ("unknown campaign", lambda w: w.app.pledges.place(w.backer, uuid4(), "100.00", "k", True),
     NotFoundError, None),
    ("malformed campaign id",
     lambda w: w.app.pledges.place(w.backer, "not-an-id", "100.00", "k", True),
     NotFoundError, None),
    ("unknown backer", lambda w: w.app.pledges.place(uuid4(), w.reg_cf, "100.00", "k", True),
     NotFoundError, None),
    ("a pledge id as campaign id",
     lambda w: w.app.pledges.place(w.backer, w.pledge, "100.00", "k", True),
     NotFoundError, None),
    ("a campaign id as pledge id", lambda w: w.app.pledges.cancel(w.backer, w.reg_cf),
     NotFoundError, None),
    ("cancel unknown pledge", lambda w: w.app.pledges.cancel(w.backer, uuid4()),
     NotFoundError, None),
    ("reconfirm unknown pledge", lambda w: w.app.pledges.reconfirm(w.backer, str(uuid4())),
     NotFoundError, None),
    ("verify unknown user", lambda w: w.app.accounts.verify_investor(w.team.risk_officer, uuid4()),
     NotFoundError, None),
    ("grant to unknown user",
     lambda w: w.app.accounts.grant_role(w.team.admin, uuid4(), Role.AUDITOR),
     NotFoundError, None),
    ("launch unknown campaign", lambda w: w.app.offerings.launch(w.team.founder, uuid4()),
     NotFoundError, None),
    ("distribution to unknown campaign",
     lambda w: w.app.offerings.declare_distribution(w.team.founder, uuid4(), "10.00"),
     NotFoundError, None),
    ("draft by unknown founder",
     lambda w: w.app.offerings.draft(uuid4(), title="T", summary="S", regime="REG_CF",
                                    min_target="1000.00", max_target="10000.00",
                                    min_pledge="100.00", price_per_share="10.00",
                                    deadline=deadline(w)), NotFoundError, None),
    # Campaign terms.
    ("unknown regime", lambda w: draft(w, regime="REG_A"), ValidationError, "regime"),
    ("regime in lower case", lambda w: draft(w, regime="ecsp"), ValidationError, "regime"),
    ("over the offering limit", lambda w: draft(w, max_target="5000000.01"), ValidationError,
     "maxTarget"),
    ("absurd max target", lambda w: draft(w, max_target="1e15"), ValidationError, "maxTarget"),
    ("3-decimal price", lambda w: draft(w, price_per_share="0.001"), ValidationError,
     "pricePerShare"),
    ("zero price", lambda w: draft(w, price_per_share="0"), ValidationError, "pricePerShare"),
    ("negative min target", lambda w: draft(w, min_target="-1"), ValidationError, "minTarget"),
    ("max below min", lambda w: draft(w, min_target="5000", max_target="4000"), ValidationError,
     "maxTarget"),
    ("min pledge below a share", lambda w: draft(w, min_pledge="5.00"), ValidationError,
     "minPledge"),
    ("empty title", lambda w: draft(w, title="   "), ValidationError, "title"),
    ("long title", lambda w: draft(w, title="x" * 201), ValidationError, "title"),
    ("long summary", lambda w: draft(w, summary="x" * 5001), ValidationError, "summary"),
    ("naive deadline", lambda w: draft(w, deadline=datetime(2027, 6, 1)), ValidationError,
     "deadline"),
    ("past deadline", lambda w: draft(w, deadline=deadline(w, -1)), ValidationError, "deadline"),
    ("amend unknown term",
     lambda w: w.app.offerings.amend(w.team.founder, w.reg_cf, {"currency": "EUR"}),
     ValidationError, "currency"),
    ("amend with a naive deadline",
     lambda w: w.app.offerings.amend(w.team.founder, w.reg_cf, {"deadline": datetime(2028, 1, 1)}),
     ValidationError, "deadline"),
    ("amend with a bad amount",
     lambda w: w.app.offerings.amend(w.team.founder, w.reg_cf, {"maxTarget": "12000.005"}),
     ValidationError, "maxTarget"),
    # Accounts and profiles.
    ("taken e-mail", lambda w: w.app.accounts.register(w.email.upper(), "Again", PASSWORD_HASH),
     ValidationError, "email"),
    ("empty display name",
     lambda w: w.app.accounts.register("new@example.test", " ", PASSWORD_HASH),
     ValidationError, "displayName"),
    ("empty legal name", lambda w: profile(w, legal_name=""), ValidationError, "legalName"),
    ("three-letter country", lambda w: profile(w, country="USA"), ValidationError, "country"),
    ("country with a digit", lambda w: profile(w, country="U1"), ValidationError, "country"),
    ("bad date of birth", lambda w: profile(w, date_of_birth="30/04/1990"), ValidationError,
     "dateOfBirth"),
    ("under 18", lambda w: profile(w, date_of_birth="2009-03-02"), ValidationError,
     "dateOfBirth"),
    ("implausibly old", lambda w: profile(w, date_of_birth="1850-01-01"), ValidationError,
     "dateOfBirth"),
    ("negative income", lambda w: profile(w, annual_income="-1"), ValidationError,
     "annualIncome"),
    ("3-decimal net worth", lambda w: profile(w, net_worth="1.001"), ValidationError,
     "netWorth"),
    ("negative other investments", lambda w: profile(w, other_reg_cf_investments_12m="-5"),
     ValidationError, "otherRegCfInvestments12m"),
    ("empty rejection reason",
     lambda w: w.app.accounts.reject_investor(w.team.risk_officer, w.backer, "  "), ValidationError,
     "reason"),
    # Roles.
    ("backer verifies",
     lambda w: w.app.accounts.verify_investor(w.backer, w.novice), NotAllowedError,
     None),
    ("founder grants a role",
     lambda w: w.app.accounts.grant_role(w.team.founder, w.backer, Role.ADMIN),
     NotAllowedError, None),
    ("someone else cancels a pledge", lambda w: w.app.pledges.cancel(w.novice, w.pledge),
     NotAllowedError, None),
]


@pytest.mark.parametrize(("name", "command", "error", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_stored(
    world: World, name: str, command: Callable[[World], object],
    error: type[DomainError], field: str | None,
) -> None:
    store = world.store
    head, rows = world.app.head_position(), store.event_count()
    with pytest.raises(error) as caught:
        command(world)
    assert type(caught.value) is error  # the specific class, not a parent
    if field is not None:
        assert caught.value.field == field  # type: ignore[attr-defined]
    assert caught.value.message
    assert world.app.head_position() == head
    assert store.event_count() == rows


def test_the_specific_codes(world: World) -> None:
    app = world.app
    expected = {
        "BELOW_MIN_PLEDGE": pledge_of("90.00"),
        "NOT_WHOLE_SHARES": pledge_of("105.00"),
        "MAX_TARGET_EXCEEDED": pledge_of("9600.00"),
        "INVESTMENT_LIMIT_EXCEEDED": pledge_of("2100.00"),
        "RISK_ACKNOWLEDGEMENT_REQUIRED": pledge_of("2600.00", "ecsp"),
        "KNOWLEDGE_TEST_REQUIRED": lambda w: app.pledges.place(
            w.novice, w.reg_cf, "100.00", "k", True
        ),
        "EMAIL_TAKEN": lambda w: app.accounts.register(w.email, "Again", PASSWORD_HASH),
        "NOT_FOUND": lambda w: app.pledges.place(w.backer, uuid4(), "100.00", "k", True),
        "NOT_ALLOWED": lambda w: app.pledges.cancel(w.novice, w.pledge),
    }
    for code, command in expected.items():
        with pytest.raises(DomainError) as caught:
            command(world)
        assert caught.value.code == code


def test_a_new_user_can_be_registered_after_refusals(world: World) -> None:
    """The refusals above leave nothing half-done: e.g. a refused e-mail stays free."""
    app = world.app
    with pytest.raises(ValidationError):
        app.accounts.register("fresh@example.test", "", PASSWORD_HASH)
    assert app.user_by_email("fresh@example.test") is None
    user = register(app)
    assert app.user(user).display_name == "User"
