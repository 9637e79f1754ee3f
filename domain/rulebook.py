"""The rulebook of each regime: every number the platform enforces, with its source.

Where a text can be read two ways, the reading that protects the investor is taken
(docs/rules.md says where). Holidays are not hard-coded: the rulebook names each
regime's calendar and time zone, and the application injects the calendar
(`BusinessCalendar`, built from the `holidays` package in `adapters/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Protocol
from zoneinfo import ZoneInfo

from domain.money import cents


class Regime(Enum):
    REG_CF = "REG_CF"
    ECSP = "ECSP"


# The calendars business days are counted on (see `BusinessCalendar`).
US_FEDERAL = "US_FEDERAL"  # Saturdays, Sundays and US federal holidays (5 U.S.C. 6103)
TARGET2 = "TARGET2"  # the TARGET2 closing days published by the ECB


@dataclass(frozen=True)
class Rulebook:
    regime: Regime
    currency: str
    # Most an issuer may sell in this regime's offerings in 12 months (all its campaigns).
    offering_limit: Decimal
    # Shortest time an offering must stay open (None: no minimum).
    minimum_offering_period: timedelta | None
    # REG_CF: no cancellation in the final window before the deadline.
    cancellation_cutoff: timedelta | None
    # ECSP: calendar days after the offer during which the investor may revoke it.
    reflection_days: int | None
    # Business days a backer has to reconfirm after a material change.
    reconfirmation_business_days: int
    # Business days between an early-close notice and the new deadline.
    early_close_notice_business_days: int
    # Which holidays business days skip, and the time zone they are counted in.
    business_calendar: str
    business_time_zone: str
    # Whether every pledge needs the investor's representation that they may lose it all.
    risk_acknowledged_on_every_pledge: bool
    # Whether a passed knowledge test is required before pledging (else: a warning).
    knowledge_test_required: bool

    @property
    def reflection_period(self) -> timedelta | None:
        return None if self.reflection_days is None else timedelta(days=self.reflection_days)


REG_CF = Rulebook(
    regime=Regime.REG_CF,
    currency="USD",
    offering_limit=Decimal("5000000.00"),  # 17 CFR 227.100(a)(1)
    minimum_offering_period=timedelta(days=21),  # 17 CFR 227.303(a)
    cancellation_cutoff=timedelta(hours=48),  # 17 CFR 227.304(a)
    reflection_days=None,
    reconfirmation_business_days=5,  # 17 CFR 227.304(c)
    early_close_notice_business_days=5,  # 17 CFR 227.304(b)(2)
    business_calendar=US_FEDERAL,  # 17 CFR 227.304 counts business days; federal holidays
    business_time_zone="America/New_York",  # the SEC's own business day
    risk_acknowledged_on_every_pledge=True,  # 17 CFR 227.303(b)(2)(ii)
    knowledge_test_required=True,  # 17 CFR 227.303(b)(2)(i): before accepting a commitment
)

ECSP = Rulebook(
    regime=Regime.ECSP,
    currency="EUR",
    offering_limit=Decimal("5000000.00"),  # Reg. (EU) 2020/1503 Art. 1(2)(c)
    minimum_offering_period=None,
    cancellation_cutoff=None,
    reflection_days=4,  # Reg. (EU) 2020/1503 Art. 22(2): 4 calendar days
    # ECSP sets no number for re-confirmation; the platform applies Reg CF's.
    reconfirmation_business_days=5,
    # Our choice: a notice long enough to cover the 4-day reflection period.
    early_close_notice_business_days=5,
    business_calendar=TARGET2,  # Our choice: the euro area's settlement calendar
    business_time_zone="Europe/Brussels",
    risk_acknowledged_on_every_pledge=False,  # Art. 21(7): above a threshold only
    knowledge_test_required=False,  # Art. 21(4): a warning, not a bar
)

RULEBOOKS = {Regime.REG_CF: REG_CF, Regime.ECSP: ECSP}

# 17 CFR 227.100(a)(2), thresholds as adjusted for inflation in 2022 (Release 33-11098).
REG_CF_THRESHOLD = Decimal("124000.00")
REG_CF_FLOOR = Decimal("2500.00")
REG_CF_LOW_RATE = Decimal("0.05")
REG_CF_HIGH_RATE = Decimal("0.10")
# 227.100(a)(2)(ii) caps the 10% branch; read conservatively it caps both branches:
# no non-accredited investor exceeds $124,000 in 12 months (docs/rules.md).
REG_CF_CEILING = Decimal("124000.00")
# 227.100(a)(1) and (a)(2): "in the 12-month period preceding".
REG_CF_LOOKBACK_MONTHS = 12
# Reg. (EU) 2020/1503 Art. 1(2)(c): "over a period of 12 months".
ISSUER_LOOKBACK_MONTHS = 12
# Our choice (both regimes): a declaration of investments on other platforms counts
# for 12 months after it was made, the longest any of them can still count.
DECLARATION_LIFETIME_MONTHS = 12

# Reg. (EU) 2020/1503 Art. 21(7): non-sophisticated investors must acknowledge
# the risk above the greater of EUR 1,000 or 5% of their net worth, counting
# their open pledges in the same offer.
ECSP_RISK_FLOOR = Decimal("1000.00")
ECSP_RISK_RATE = Decimal("0.05")
# Reg. (EU) 2020/1503 Art. 21(5): the ability to bear loss is 10% of net worth.
ECSP_LOSS_BEARING_RATE = Decimal("0.10")
# Reg. (EU) 2020/1503 Art. 21(3): the assessment is reviewed every two years; the
# platform applies the same to the Reg CF questionnaire (227.303(b)(2) sets no period).
KNOWLEDGE_TEST_VALIDITY_MONTHS = 24
# Our choice: a test is passed with at least 80% of the answers right.
KNOWLEDGE_TEST_PASS_RATE = Decimal("0.80")


class BusinessCalendar(Protocol):
    """The holidays of one calendar (`US_FEDERAL`, `TARGET2`): injected, never hard-coded."""

    def is_holiday(self, day: date) -> bool: ...


def reg_cf_limit(annual_income: Decimal, net_worth: Decimal, accredited: bool) -> Decimal | None:
    """A backer's 12-month Reg CF investment limit; None for accredited investors."""
    if accredited:
        return None  # 227.100(a)(2), as amended in 2021: no limit for accredited investors
    greater = max(annual_income, net_worth)
    if annual_income < REG_CF_THRESHOLD or net_worth < REG_CF_THRESHOLD:
        limit = max(REG_CF_FLOOR, cents(greater * REG_CF_LOW_RATE))  # 227.100(a)(2)(i)
    else:
        limit = cents(greater * REG_CF_HIGH_RATE)  # 227.100(a)(2)(ii)
    return min(limit, REG_CF_CEILING)


def ecsp_risk_threshold(net_worth: Decimal) -> Decimal:
    return max(ECSP_RISK_FLOOR, cents(net_worth * ECSP_RISK_RATE))


def ecsp_loss_bearing(net_worth: Decimal) -> Decimal:
    """Art. 21(5): the simulated ability to bear loss, 10% of net worth."""
    return cents(net_worth * ECSP_LOSS_BEARING_RATE)


def knowledge_test_pass_mark(out_of: int) -> int:
    """Right answers needed to pass a test of `out_of` questions (80%, rounded up)."""
    needed = Decimal(out_of) * KNOWLEDGE_TEST_PASS_RATE
    return int(needed.to_integral_value(rounding="ROUND_CEILING"))


def months_before(when: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (day clamped to the month's end)."""
    return months_after(when, -months)


def months_after(when: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months later (day clamped)."""
    year, month = divmod(when.month - 1 + months, 12)
    year += when.year
    month += 1
    day = min(when.day, _days_in_month(year, month))
    return when.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def add_business_days(
    start: datetime, days: int, rules: Rulebook, holidays: BusinessCalendar
) -> datetime:
    """`days` business days after `start`, at the same wall-clock time in the regime's
    business time zone: Saturdays, Sundays and the calendar's holidays are skipped, and
    the days are those of that zone (a Friday-evening notice in New York starts on
    Friday, whatever the UTC date). The answer is in `start`'s offset."""
    zone = ZoneInfo(rules.business_time_zone)
    local = start.astimezone(zone)
    day = local.date()
    added = 0
    while added < days:
        day += timedelta(days=1)
        if day.weekday() < 5 and not holidays.is_holiday(day):
            added += 1
    return _at_wall_clock(datetime.combine(day, local.time()), zone, start)


def calendar_days_later(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same wall-clock time `days` calendar days later in `zone` (in `start`'s offset):
    across a change to or from summer time that is 23 or 25 hours a day. A wall-clock
    time that the change skips or repeats ends at the later of its two readings."""
    local = start.astimezone(zone)
    return _at_wall_clock(datetime.combine(local.date() + timedelta(days=days), local.time()),
                          zone, start)


def _at_wall_clock(wall: datetime, zone: ZoneInfo, like: datetime) -> datetime:
    """The naive `wall` time read in `zone`, in `like`'s offset; a time that a change of
    summer time skips or repeats is read the later way (the investor's side)."""
    return max(wall.replace(tzinfo=zone, fold=fold).astimezone(like.tzinfo) for fold in (0, 1))
