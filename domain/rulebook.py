"""The rulebook of each regime: every number the platform enforces, with its source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from domain.money import cents


class Regime(Enum):
    REG_CF = "REG_CF"
    ECSP = "ECSP"


@dataclass(frozen=True)
class Rulebook:
    regime: Regime
    currency: str
    # Most an issuer may raise in 12 months.
    offering_limit: Decimal
    # Shortest time an offering must stay open (None: no minimum).
    minimum_offering_period: timedelta | None
    # REG_CF: no cancellation in the final window before the deadline.
    cancellation_cutoff: timedelta | None
    # ECSP: a pledge may be revoked for this long after it was placed.
    reflection_period: timedelta | None
    # Business days a backer has to reconfirm after a material change.
    reconfirmation_business_days: int
    # Business days between an early-close notice and the new deadline.
    early_close_notice_business_days: int


REG_CF = Rulebook(
    regime=Regime.REG_CF,
    currency="USD",
    offering_limit=Decimal("5000000.00"),  # 17 CFR 227.100(a)(1)
    minimum_offering_period=timedelta(days=21),  # 17 CFR 227.303(a)
    cancellation_cutoff=timedelta(hours=48),  # 17 CFR 227.304(a)
    reflection_period=None,
    reconfirmation_business_days=5,  # 17 CFR 227.304(c)
    early_close_notice_business_days=5,  # 17 CFR 227.304(b)
)

ECSP = Rulebook(
    regime=Regime.ECSP,
    currency="EUR",
    offering_limit=Decimal("5000000.00"),  # Reg. (EU) 2020/1503 Art. 1(2)(c)
    minimum_offering_period=None,
    cancellation_cutoff=None,
    reflection_period=timedelta(days=4),  # Reg. (EU) 2020/1503 Art. 22(2)
    # ECSP sets no number for re-confirmation; the platform applies Reg CF's.
    reconfirmation_business_days=5,
    # Our choice: a notice long enough to cover the 4-day reflection period.
    early_close_notice_business_days=5,
)

RULEBOOKS = {Regime.REG_CF: REG_CF, Regime.ECSP: ECSP}

# 17 CFR 227.100(a)(2), thresholds as adjusted for inflation in 2022.
REG_CF_THRESHOLD = Decimal("124000.00")
REG_CF_FLOOR = Decimal("2500.00")
REG_CF_LOW_RATE = Decimal("0.05")
REG_CF_HIGH_RATE = Decimal("0.10")
REG_CF_CEILING = Decimal("124000.00")
REG_CF_LOOKBACK_MONTHS = 12

# Reg. (EU) 2020/1503 Art. 21(7): non-sophisticated investors must acknowledge
# the risk above the greater of EUR 1,000 or 5% of their net worth.
ECSP_RISK_FLOOR = Decimal("1000.00")
ECSP_RISK_RATE = Decimal("0.05")


def reg_cf_limit(annual_income: Decimal, net_worth: Decimal, accredited: bool) -> Decimal | None:
    """A backer's 12-month Reg CF investment limit; None for accredited investors."""
    if accredited:
        return None  # the 2021 amendments removed the limit for accredited investors
    greater = max(annual_income, net_worth)
    if annual_income < REG_CF_THRESHOLD or net_worth < REG_CF_THRESHOLD:
        return max(REG_CF_FLOOR, cents(greater * REG_CF_LOW_RATE))
    return min(cents(greater * REG_CF_HIGH_RATE), REG_CF_CEILING)


def ecsp_risk_threshold(net_worth: Decimal) -> Decimal:
    return max(ECSP_RISK_FLOOR, cents(net_worth * ECSP_RISK_RATE))


def months_before(when: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (day clamped to the month's end)."""
    year, month = divmod(when.month - 1 - months, 12)
    year += when.year
    month += 1
    day = min(when.day, _days_in_month(year, month))
    return when.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def add_business_days(start: datetime, days: int) -> datetime:
    """`days` business days (Monday to Friday) after `start`, at the same time of day."""
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current
