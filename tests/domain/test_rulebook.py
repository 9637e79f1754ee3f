"""The rulebook's numbers and formulas: Reg CF investor limit, ECSP risk threshold,
12-month look-back and business-day arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.rulebook import (
    ECSP,
    REG_CF,
    RULEBOOKS,
    Regime,
    add_business_days,
    ecsp_risk_threshold,
    months_before,
    reg_cf_limit,
)

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

D = Decimal
MONDAY = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_rulebooks_carry_the_regulatory_numbers() -> None:
    assert RULEBOOKS == {Regime.REG_CF: REG_CF, Regime.ECSP: ECSP}
    assert (REG_CF.currency, ECSP.currency) == ("USD", "EUR")
    assert REG_CF.offering_limit == ECSP.offering_limit == D("5000000.00")
    assert REG_CF.minimum_offering_period == timedelta(days=21)
    assert ECSP.minimum_offering_period is None
    assert REG_CF.cancellation_cutoff == timedelta(hours=48)
    assert REG_CF.reflection_period is None
    assert ECSP.reflection_period == timedelta(days=4)
    assert ECSP.cancellation_cutoff is None
    assert REG_CF.reconfirmation_business_days == 5
    assert REG_CF.early_close_notice_business_days == 5


# Reg CF investor limit, 17 CFR 227.100(a)(2) with the 2022 inflation adjustment ----------


@pytest.mark.parametrize(
    ("income", "worth", "limit"),
    [
        # Either below 124,000: greater of 2,500 and 5% of the greater of the two.
        ("0.00", "0.00", "2500.00"),
        ("49999.99", "10000.00", "2500.00"),  # 5% = 2499.99 < floor
        ("50000.00", "0.00", "2500.00"),  # 5% = 2500.00 exactly
        ("50000.20", "0.00", "2500.01"),  # 5% = 2500.01
        ("0.00", "60000.00", "3000.00"),  # net worth is the greater
        ("60000.19", "1.00", "3000.00"),  # 3000.0095 rounds DOWN to the cent
        ("123999.99", "123999.99", "6199.99"),  # both just below the threshold
        ("123999.99", "124000.00", "6200.00"),  # one below: still 5%
        ("124000.00", "123999.99", "6200.00"),
        ("123999.99", "1000000.00", "50000.00"),  # 5% of the greater, not capped
        ("2000000.00", "100.00", "100000.00"),
        # Both at least 124,000: 10% of the greater, capped at 124,000.
        ("124000.00", "124000.00", "12400.00"),  # exactly at the threshold
        ("124000.19", "124000.00", "12400.01"),  # 12400.019 rounds down
        ("124000.00", "1000000.00", "100000.00"),
        ("1239999.99", "124000.00", "123999.99"),
        ("1240000.00", "124000.00", "124000.00"),  # exactly at the cap
        ("1240000.10", "124000.00", "124000.00"),  # above it: capped
        ("124000.00", "99000000.00", "124000.00"),
    ],
)
def test_reg_cf_limit_at_and_around_its_thresholds(income: str, worth: str, limit: str) -> None:
    assert reg_cf_limit(D(income), D(worth), accredited=False) == D(limit)


def test_reg_cf_limit_jumps_from_5_to_10_percent_when_both_reach_the_threshold() -> None:
    below = reg_cf_limit(D("123999.99"), D("500000.00"), accredited=False)
    at = reg_cf_limit(D("124000.00"), D("500000.00"), accredited=False)
    assert (below, at) == (D("25000.00"), D("50000.00"))


def test_accredited_investors_have_no_reg_cf_limit() -> None:
    assert reg_cf_limit(D("0"), D("0"), accredited=True) is None
    assert reg_cf_limit(D("10000000"), D("10000000"), accredited=True) is None


money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)


@given(income=money, worth=money)
def test_reg_cf_limit_properties(income: Decimal, worth: Decimal) -> None:
    limit = reg_cf_limit(income, worth, accredited=False)
    assert limit is not None
    assert limit >= D("2500.00")
    assert limit == limit.quantize(D("0.01"))
    greater = max(income, worth)
    if income >= D("124000") and worth >= D("124000"):
        assert limit <= D("124000.00")
        assert limit <= greater * D("0.10")
    else:
        assert limit == max(D("2500.00"), (greater * D("0.05")).quantize(D("0.01"), "ROUND_DOWN"))


# ECSP: risk acknowledgement above the greater of EUR 1,000 and 5% of net worth ------------


@pytest.mark.parametrize(
    ("worth", "threshold"),
    [
        ("0.00", "1000.00"),
        ("19999.99", "1000.00"),
        ("20000.00", "1000.00"),
        ("20000.20", "1000.01"),
        ("40000.00", "2000.00"),
        ("40000.19", "2000.00"),  # 2000.0095 rounds down
        ("1000000.00", "50000.00"),
    ],
)
def test_ecsp_risk_threshold(worth: str, threshold: str) -> None:
    assert ecsp_risk_threshold(D(worth)) == D(threshold)


# The 12-month look-back ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "months", "expected"),
    [
        (datetime(2027, 3, 1, 12, tzinfo=UTC), 12, datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (datetime(2027, 3, 31, 8, 30, 15, tzinfo=UTC), 1, datetime(2027, 2, 28, 8, 30, 15,
                                                                    tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 12, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2028, 3, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),  # leap
        (datetime(2027, 1, 15, tzinfo=UTC), 1, datetime(2026, 12, 15, tzinfo=UTC)),
        (datetime(2027, 1, 15, tzinfo=UTC), 13, datetime(2025, 12, 15, tzinfo=UTC)),
        (datetime(2027, 12, 31, tzinfo=UTC), 0, datetime(2027, 12, 31, tzinfo=UTC)),
    ],
)
def test_months_before(when: datetime, months: int, expected: datetime) -> None:
    assert months_before(when, months) == expected


# Business days: Monday to Friday, same time of day -------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2027, 3, 1, 12, tzinfo=UTC), 5, datetime(2027, 3, 8, 12, tzinfo=UTC)),  # Mon
        (datetime(2027, 3, 3, 9, tzinfo=UTC), 5, datetime(2027, 3, 10, 9, tzinfo=UTC)),  # Wed
        (datetime(2027, 3, 5, 17, tzinfo=UTC), 1, datetime(2027, 3, 8, 17, tzinfo=UTC)),  # Fri
        (datetime(2027, 3, 5, 17, tzinfo=UTC), 5, datetime(2027, 3, 12, 17, tzinfo=UTC)),
        (datetime(2027, 3, 6, 10, tzinfo=UTC), 1, datetime(2027, 3, 8, 10, tzinfo=UTC)),  # Sat
        (datetime(2027, 3, 6, 10, tzinfo=UTC), 5, datetime(2027, 3, 12, 10, tzinfo=UTC)),
        (datetime(2027, 3, 7, 23, 59, 59, tzinfo=UTC), 5,
         datetime(2027, 3, 12, 23, 59, 59, tzinfo=UTC)),  # Sun
        (datetime(2027, 3, 4, 12, tzinfo=UTC), 10, datetime(2027, 3, 18, 12, tzinfo=UTC)),
        (datetime(2027, 3, 1, 12, tzinfo=UTC), 0, datetime(2027, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_add_business_days_skips_weekends(start: datetime, days: int, expected: datetime) -> None:
    assert add_business_days(start, days) == expected


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=1, max_value=30),
)
def test_add_business_days_properties(start: datetime, days: int) -> None:
    end = add_business_days(start, days)
    assert end.weekday() < 5
    assert end.time() == start.time()
    between = [(start + timedelta(days=i)).weekday() for i in range(1, (end - start).days + 1)]
    assert sum(1 for wd in between if wd < 5) == days
    # Five business days span exactly one calendar week from a weekday.
    if days == 5 and start.weekday() < 5:
        assert end - start == timedelta(days=7)


def test_business_days_count_in_the_instants_own_offset() -> None:
    # Friday 23:00 in New York is Saturday 04:00 UTC; the arithmetic keeps the given offset.
    new_york = timezone(timedelta(hours=-5))
    friday_evening = datetime(2027, 3, 5, 23, 0, tzinfo=new_york)
    assert add_business_days(friday_evening, 1) == datetime(2027, 3, 8, 23, 0, tzinfo=new_york)
