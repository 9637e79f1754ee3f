"""The holiday calendars business days are counted on, from the `holidays` package:
US federal holidays (Reg CF) and the TARGET2 closing days (ECSP)."""

from __future__ import annotations

import threading
from datetime import date

import holidays

from domain.rulebook import TARGET2, US_FEDERAL, BusinessCalendar


class HolidayCalendar:
    """A `domain.rulebook.BusinessCalendar` over a `holidays` calendar. The package
    fills in years on first use; the lock keeps concurrent commands from racing it."""

    def __init__(self, calendar: holidays.HolidayBase) -> None:
        self._calendar = calendar
        self._lock = threading.Lock()

    def is_holiday(self, day: date) -> bool:
        with self._lock:
            return day in self._calendar


def business_calendars() -> dict[str, BusinessCalendar]:
    return {
        # Federal holidays, observed days included (5 U.S.C. 6103).
        US_FEDERAL: HolidayCalendar(holidays.country_holidays("US")),
        # The ECB's TARGET2 closing days.
        TARGET2: HolidayCalendar(holidays.financial_holidays("XECB")),
    }
