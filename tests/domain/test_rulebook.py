"""The rulebook's numbers and formulas: Reg CF investor limit, ECSP risk threshold,
12-month look-back and business-day arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.business_calendars import business_calendars
from domain.rulebook import (
    ECSP,
    REG_CF,
    RULEBOOKS,
    Regime,
    add_business_days,
    ecsp_loss_bearing,
    ecsp_risk_threshold,
    knowledge_test_pass_mark,
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
    assert (REG_CF.business_calendar, REG_CF.business_time_zone) == (
        "US_FEDERAL", "America/New_York"
    )
    assert (ECSP.business_calendar, ECSP.business_time_zone) == ("TARGET2", "Europe/Brussels")


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
        ("123999.99", "1000000.00", "50000.00"),  # 5% of the greater
        ("2000000.00", "100.00", "100000.00"),
        # Read conservatively, the $124,000 ceiling caps the 5% branch too (was $200,000).
        ("60000.00", "4000000.00", "124000.00"),
        ("2480000.00", "0.00", "124000.00"),  # 5% = 124,000.00: exactly the ceiling
        ("2480000.20", "0.00", "124000.00"),  # 5% = 124,000.01: capped
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
    assert limit <= D("124000.00")  # no non-accredited investor above the ceiling
    if income >= D("124000") and worth >= D("124000"):
        assert limit <= greater * D("0.10")
    else:
        assert limit == min(
            D("124000.00"),
            max(D("2500.00"), (greater * D("0.05")).quantize(D("0.01"), "ROUND_DOWN")),
        )


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


# Business days: weekends and the regime's holidays skipped, in its business time zone -----

# The production calendars (the `holidays` package), as crowdfund.bootstrap builds them.
CALENDARS = business_calendars()
US_DAYS = CALENDARS[REG_CF.business_calendar]
TARGET2_DAYS = CALENDARS[ECSP.business_calendar]
NEW_YORK = ZoneInfo("America/New_York")
BRUSSELS = ZoneInfo("Europe/Brussels")


def reg_cf_days(start: datetime, days: int) -> datetime:
    return add_business_days(start, days, REG_CF, US_DAYS)


def ecsp_days(start: datetime, days: int) -> datetime:
    return add_business_days(start, days, ECSP, TARGET2_DAYS)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2027, 3, 1, 12, tzinfo=UTC), 5, datetime(2027, 3, 8, 12, tzinfo=UTC)),  # Mon
        (datetime(2027, 3, 3, 9, tzinfo=UTC), 5, datetime(2027, 3, 10, 9, tzinfo=UTC)),  # Wed
        (datetime(2027, 3, 5, 17, tzinfo=UTC), 1, datetime(2027, 3, 8, 17, tzinfo=UTC)),  # Fri
        (datetime(2027, 3, 5, 17, tzinfo=UTC), 5, datetime(2027, 3, 12, 17, tzinfo=UTC)),
        (datetime(2027, 3, 6, 15, tzinfo=UTC), 1, datetime(2027, 3, 8, 15, tzinfo=UTC)),  # Sat
        (datetime(2027, 3, 6, 15, tzinfo=UTC), 5, datetime(2027, 3, 12, 15, tzinfo=UTC)),
        # Across New York's change to summer time (14 March): 07:00 there, 11:00 UTC.
        (datetime(2027, 3, 4, 12, tzinfo=UTC), 10, datetime(2027, 3, 18, 11, tzinfo=UTC)),
        (datetime(2027, 3, 1, 12, tzinfo=UTC), 0, datetime(2027, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_reg_cf_business_days_skip_weekends(start: datetime, days: int, expected: datetime) -> None:
    assert reg_cf_days(start, days) == expected


def test_reg_cf_business_days_skip_thanksgiving() -> None:
    # Thanksgiving 2027 is Thursday 25 November: Monday + 5 business days is the next
    # Tuesday, not Monday.
    monday = datetime(2027, 11, 22, 10, tzinfo=NEW_YORK)
    assert reg_cf_days(monday, 5) == datetime(2027, 11, 30, 10, tzinfo=NEW_YORK)
    # The day before it: the notice's first business day is the Friday after.
    wednesday = datetime(2027, 11, 24, 10, tzinfo=NEW_YORK)
    assert reg_cf_days(wednesday, 1) == datetime(2027, 11, 26, 10, tzinfo=NEW_YORK)


def test_reg_cf_business_days_skip_christmas_and_its_observed_day() -> None:
    # Christmas 2027 is a Saturday, observed on Friday 24 December; New Year's Day 2028
    # is a Saturday too, observed on Friday 31 December.
    thursday = datetime(2027, 12, 23, 9, tzinfo=NEW_YORK)
    assert reg_cf_days(thursday, 1) == datetime(2027, 12, 27, 9, tzinfo=NEW_YORK)
    assert reg_cf_days(thursday, 5) == datetime(2028, 1, 3, 9, tzinfo=NEW_YORK)


def test_ecsp_business_days_skip_the_target2_christmas_closing_days() -> None:
    # TARGET2 is closed on 25 and 26 December (here a Monday and a Tuesday in 2028), but
    # not on 24 December.
    friday = datetime(2028, 12, 22, 9, tzinfo=BRUSSELS)
    assert ecsp_days(friday, 1) == datetime(2028, 12, 27, 9, tzinfo=BRUSSELS)
    # US federal holidays are not TARGET2 closing days: Thanksgiving counts under ECSP.
    monday = datetime(2027, 11, 22, 10, tzinfo=BRUSSELS)
    assert ecsp_days(monday, 5) == datetime(2027, 11, 29, 10, tzinfo=BRUSSELS)


def test_a_friday_evening_notice_counts_from_friday_in_new_york() -> None:
    # 20:00 on Friday in New York is 01:00 on Saturday in UTC: counted in UTC, five
    # business days would end on Thursday evening in New York, short of a full week.
    friday_evening = datetime(2027, 3, 5, 20, 0, tzinfo=NEW_YORK)
    in_utc = friday_evening.astimezone(UTC)
    assert in_utc.weekday() == 5
    assert reg_cf_days(in_utc, 5) == datetime(2027, 3, 12, 20, 0, tzinfo=NEW_YORK)
    assert reg_cf_days(in_utc, 5).tzinfo is UTC  # the answer keeps the given offset


def test_a_friday_evening_notice_counts_from_friday_in_brussels() -> None:
    # 23:30 on Friday in Brussels is 22:30 UTC: still Friday, as in Brussels.
    friday_night = datetime(2027, 3, 5, 23, 30, tzinfo=BRUSSELS)
    assert ecsp_days(friday_night.astimezone(UTC), 1) == datetime(
        2027, 3, 8, 23, 30, tzinfo=BRUSSELS
    )
    # 00:30 on Saturday in Brussels is Friday 23:30 UTC: counted from Saturday.
    saturday = datetime(2027, 3, 6, 0, 30, tzinfo=BRUSSELS)
    assert ecsp_days(saturday.astimezone(UTC), 1) == datetime(2027, 3, 8, 0, 30, tzinfo=BRUSSELS)


def test_business_days_keep_the_wall_clock_across_summer_time() -> None:
    # New York moves to summer time on Sunday 14 March 2027: the same 09:00 a week later
    # is one hour less in UTC.
    friday = datetime(2027, 3, 12, 9, tzinfo=NEW_YORK)
    end = reg_cf_days(friday, 5)
    assert end == datetime(2027, 3, 19, 9, tzinfo=NEW_YORK)
    assert end.astimezone(UTC) - friday.astimezone(UTC) == timedelta(days=7, hours=-1)


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=1, max_value=30),
)
def test_reg_cf_business_days_properties(start: datetime, days: int) -> None:
    end = reg_cf_days(start, days).astimezone(NEW_YORK)
    first = start.astimezone(NEW_YORK)
    assert end.weekday() < 5 and not US_DAYS.is_holiday(end.date())
    assert end.time() == first.time() or end.fold != first.fold or end.utcoffset() != \
        first.utcoffset()
    between = [first.date() + timedelta(days=i) for i in range(1, (end.date() - first.date()).days
                                                                 + 1)]
    assert sum(1 for d in between if d.weekday() < 5 and not US_DAYS.is_holiday(d)) == days


# Loss-bearing simulation and the knowledge test's pass mark ---------------------------


@pytest.mark.parametrize(
    ("worth", "can_lose"),
    [("0.00", "0.00"), ("10000.00", "1000.00"), ("10000.09", "1000.00"),
     ("123456.78", "12345.67")],
)
def test_ecsp_loss_bearing_is_ten_percent_of_net_worth(worth: str, can_lose: str) -> None:
    assert ecsp_loss_bearing(D(worth)) == D(can_lose)


@pytest.mark.parametrize(("out_of", "needed"), [(5, 4), (6, 5), (7, 6), (10, 8)])
def test_knowledge_test_pass_mark_is_eighty_percent_rounded_up(out_of: int, needed: int) -> None:
    assert knowledge_test_pass_mark(out_of) == needed
