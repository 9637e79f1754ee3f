"""The monitor's per-backer rules (domain.aml_rules): each fires on its pattern, and not
on the nearest pattern that should not raise an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crowdfund.bootstrap import monitoring_thresholds
from crowdfund.settings import AmlMonitoring
from domain.aml_rules import Placed, rapid_cancel_cycle, structuring, velocity

pytestmark = pytest.mark.fast

RULES = monitoring_thresholds(AmlMonitoring())
T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def placed(n: int, amount: str, hours: float = 0, currency: str = "USD",
           released_after: float | None = None) -> Placed:
    at = T0 + hours * HOUR
    released = None if released_after is None else at + released_after * HOUR
    return Placed(f"p{n}", currency, Decimal(amount), at, released)


def test_settings_carry_the_documented_thresholds() -> None:
    assert RULES.reporting_amounts == {"USD": Decimal("10000.00"), "EUR": Decimal("15000.00")}
    assert (RULES.cancel_cycles, RULES.cancel_window) == (3, timedelta(hours=24))
    assert RULES.velocity_share == Decimal("0.25")


# STRUCTURING -------------------------------------------------------------------------


def test_structuring_fires_when_pledges_just_under_the_reporting_amount_pass_it() -> None:
    first, second = placed(1, "9500.00"), placed(2, "9000.00", hours=3)
    assert structuring(first, [first], RULES, None) is None
    details = structuring(second, [first, second], RULES, None)
    assert details is not None and "USD 9500.00, 9000.00" in details
    assert "together USD 18500.00" in details
    third = placed(3, "9900.00", hours=4)  # the same burst: no second alert
    assert structuring(third, [first, second, third], RULES, None) is None


def test_structuring_near_misses() -> None:
    first = placed(1, "9500.00")
    # Not "just under": 8,400 is more than 15% below 10,000.
    low = placed(2, "8400.00", hours=1)
    assert structuring(low, [first, low], RULES, None) is None
    # At the amount is not under it (it is reported anyway).
    at = placed(3, "10000.00", hours=1)
    assert structuring(at, [first, at], RULES, None) is None
    # Outside the 24-hour window.
    late = placed(4, "9500.00", hours=24)
    assert structuring(late, [first, late], RULES, None) is None
    # Another currency: EUR's reporting amount is 15,000.
    eur = placed(5, "9500.00", hours=1, currency="EUR")
    assert structuring(eur, [first, eur], RULES, None) is None


def test_structuring_under_an_ecsp_investors_risk_threshold() -> None:
    first = placed(1, "2300.00", currency="EUR")
    second = placed(2, "2200.00", hours=2, currency="EUR")
    details = structuring(second, [first, second], RULES, Decimal("2500.00"))
    assert details is not None and "ECSP risk-warning threshold" in details
    assert "2500" not in details  # the threshold would tell the investor's net worth
    assert structuring(second, [first, second], RULES, None) is None  # sophisticated


# VELOCITY ----------------------------------------------------------------------------


def test_velocity_fires_when_a_day_of_pledges_passes_a_share_of_declared_means() -> None:
    means = Decimal("40000.00")  # a quarter is 10,000
    pledges = [placed(1, "6000.00"), placed(2, "4500.00", hours=20)]
    details = velocity(pledges[1], pledges, RULES, means)
    assert details is not None and "USD 10500.00 pledged within 24 h" in details
    assert "40000" not in details
    more = [*pledges, placed(3, "1000.00", hours=21)]  # already above: no second alert
    assert velocity(more[2], more, RULES, means) is None


def test_velocity_near_misses() -> None:
    means = Decimal("40000.00")
    exactly = [placed(1, "6000.00"), placed(2, "4000.00", hours=20)]  # 10,000 is not above
    assert velocity(exactly[1], exactly, RULES, means) is None
    spread = [placed(1, "6000.00"), placed(2, "4500.00", hours=25)]  # over 25 hours
    assert velocity(spread[1], spread, RULES, means) is None
    small = [placed(1, "3000.00"), placed(2, "1500.00", hours=1)]  # under the floor
    assert velocity(small[1], small, RULES, Decimal("1000.00")) is None
    assert velocity(exactly[1], exactly, RULES, None) is None  # no declared means


# RAPID_CANCEL_CYCLE ------------------------------------------------------------------


def test_rapid_cancel_cycle_fires_on_the_third_cycle_in_a_day() -> None:
    cycles = [placed(n, "100.00", hours=n * 3, released_after=1) for n in range(3)]
    assert rapid_cancel_cycle(cycles[1], cycles[:2], RULES, None) is None
    details = rapid_cancel_cycle(cycles[2], cycles, RULES, None)
    assert details is not None and "p0, p1, p2" in details
    # Alerted within the window already: the fourth cycle raises nothing new.
    fourth = [*cycles, placed(3, "100.00", hours=10, released_after=1)]
    assert rapid_cancel_cycle(fourth[3], fourth, RULES, cycles[2].released_at) is None


def test_rapid_cancel_cycle_near_misses() -> None:
    # Three cycles, but spread over more than a day.
    spread = [placed(n, "100.00", hours=n * 12, released_after=1) for n in range(3)]
    assert rapid_cancel_cycle(spread[2], spread, RULES, None) is None
    # Three releases in a day, but one pledge was placed a week before.
    old = placed(0, "100.00", hours=-160, released_after=170)
    recent = [old, *(placed(n, "100.00", hours=n * 3, released_after=1) for n in (1, 2))]
    assert rapid_cancel_cycle(recent[2], recent, RULES, None) is None
    # Pledges kept are not cycles.
    kept = [placed(0, "100.00"), placed(1, "100.00", hours=1),
            placed(2, "100.00", hours=2, released_after=1)]
    assert rapid_cancel_cycle(kept[2], kept, RULES, None) is None
