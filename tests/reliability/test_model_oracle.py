"""The reference model's formulas, checked against rules.md by hand-worked examples,
then against the domain's own rulebook over many inputs (two independent
implementations agreeing, each checked against the text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.business_calendars import business_calendars
from domain import rulebook
from tests.reliability import model as m

D = Decimal


@pytest.mark.parametrize(("income", "worth", "accredited", "limit"), [
    # Either below $124,000: the greater of $2,500 or 5% of the greater of the two.
    ("0.00", "0.00", False, "2500.00"),
    ("30000.00", "20000.00", False, "2500.00"),  # 5% = 1,500: the floor wins
    ("50000.00", "50000.00", False, "2500.00"),  # 5% = 2,500 exactly
    ("80000.00", "60000.00", False, "4000.00"),
    ("123999.99", "2000000.00", False, "100000.00"),  # income below: 5% of net worth
    ("2000000.00", "123999.99", False, "100000.00"),
    ("50000.01", "0.00", False, "2500.00"),  # 5% = 2,500.0005, cut to the cent
    ("60000.19", "0.00", False, "3000.00"),  # 3,000.0095 cut, never rounded up
    # Both at least $124,000: 10% of the greater, capped at $124,000.
    ("124000.00", "124000.00", False, "12400.00"),
    ("124000.00", "200000.00", False, "20000.00"),
    ("1240000.00", "500000.00", False, "124000.00"),
    ("5000000.00", "5000000.00", False, "124000.00"),
    # Accredited: no limit.
    ("0.00", "0.00", True, None),
])
def test_reg_cf_limit_worked_examples(
    income: str, worth: str, accredited: bool, limit: str | None
) -> None:
    assert m.reg_cf_limit(D(income), D(worth), accredited) == (D(limit) if limit else None)


@pytest.mark.parametrize(("worth", "threshold"), [
    ("0.00", "1000.00"), ("19999.99", "1000.00"), ("20000.00", "1000.00"),
    ("20000.20", "1000.01"), ("50000.00", "2500.00"), ("2000000.00", "100000.00"),
])
def test_ecsp_risk_threshold_worked_examples(worth: str, threshold: str) -> None:
    assert m.ecsp_risk_threshold(D(worth)) == D(threshold)


def test_business_days_skip_weekends_and_holidays() -> None:
    friday_noon = datetime(2027, 4, 2, 12, 0, tzinfo=UTC)  # no holiday or clock change near
    assert m.business_days_after(friday_noon, 1) == friday_noon + timedelta(days=3)
    assert m.business_days_after(friday_noon, 5) == friday_noon + timedelta(days=7)
    monday = friday_noon + timedelta(days=3)
    assert m.business_days_after(monday, 5) == monday + timedelta(days=7)
    saturday = friday_noon + timedelta(days=1)
    assert m.business_days_after(saturday, 1) == saturday + timedelta(days=2)
    # Thanksgiving (25 November 2027) is a US holiday, not a TARGET2 closing day.
    monday = datetime(2027, 11, 22, 15, 0, tzinfo=UTC)
    assert m.business_days_after(monday, 5, "REG_CF") == monday + timedelta(days=8)
    assert m.business_days_after(monday, 5, "ECSP") == monday + timedelta(days=7)


def test_twelve_months_before() -> None:
    assert m.twelve_months_before(datetime(2028, 2, 29, 9, tzinfo=UTC)) == datetime(
        2027, 2, 28, 9, tzinfo=UTC)
    assert m.twelve_months_before(datetime(2027, 3, 1, 12, tzinfo=UTC)) == datetime(
        2026, 3, 1, 12, tzinfo=UTC)


money = st.decimals(min_value=0, max_value=10_000_000, places=2)
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1),
                        timezones=st.just(UTC))


@settings(max_examples=300, derandomize=True, database=None)
@given(income=money, worth=money, accredited=st.booleans())
def test_the_domain_limit_agrees_with_the_model(
    income: Decimal, worth: Decimal, accredited: bool
) -> None:
    assert rulebook.reg_cf_limit(income, worth, accredited) == m.reg_cf_limit(
        income, worth, accredited)


@settings(max_examples=200, derandomize=True, database=None)
@given(worth=money)
def test_the_domain_risk_threshold_agrees_with_the_model(worth: Decimal) -> None:
    assert rulebook.ecsp_risk_threshold(worth) == m.ecsp_risk_threshold(worth)


CALENDARS = business_calendars()


@settings(max_examples=200, derandomize=True, database=None)
@given(start=instants, days=st.integers(0, 30), regime=st.sampled_from(["REG_CF", "ECSP"]))
def test_the_domain_calendar_agrees_with_the_model(start: datetime, days: int,
                                                   regime: str) -> None:
    rules = rulebook.RULEBOOKS[rulebook.Regime(regime)]
    assert rulebook.add_business_days(
        start, days, rules, CALENDARS[rules.business_calendar]
    ) == m.business_days_after(start, days, regime)
    assert rulebook.months_before(start, 12) == m.twelve_months_before(start)
