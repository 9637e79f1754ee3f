"""An investor's time zone, from the country of their profile: where the 4 calendar
days of the ECSP reflection period (Art. 22(2)) end at the wall-clock time they began.

A country with several zones is read in the zone whose clock is furthest behind
among those of its territory, so the period never ends before 4 full days for
anyone living there (the investor's side; docs/rules.md). A country not listed
has no known zone: its investors' periods are counted in UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

# ISO 3166-1 alpha-2 -> IANA zone. EU and EEA states, Switzerland, the UK and the US.
COUNTRY_ZONES: dict[str, str] = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn", "ES": "Atlantic/Canary",
    "FI": "Europe/Helsinki", "FR": "America/Martinique", "GR": "Europe/Athens",
    "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin",
    "IT": "Europe/Rome", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw", "PT": "Atlantic/Azores", "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava",
    "IS": "Atlantic/Reykjavik", "LI": "Europe/Vaduz", "NO": "Europe/Oslo",
    "CH": "Europe/Zurich", "GB": "Europe/London", "US": "Pacific/Honolulu",
}

UTC = ZoneInfo("UTC")


def investor_time_zone(country: str | None) -> ZoneInfo:
    """The zone an investor from `country` counts calendar days in (UTC if unknown)."""
    name = COUNTRY_ZONES.get((country or "").upper())
    return ZoneInfo(name) if name else UTC
