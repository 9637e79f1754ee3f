"""The transaction monitor's rules over one backer's pledges (docs/aml.md): pure
decisions, each answering "does this event complete the pattern?" with what the rule
saw (no personal data), or None. The monitor (`projections.monitor`) keeps the
pledges and calls these; the thresholds come from the settings' one AML block.

Each rule fires when its pattern is first completed, not again for every further
pledge in the same window, so one burst of activity is one alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.money import ZERO


@dataclass(frozen=True)
class MonitoringThresholds:
    cancel_cycles: int
    cancel_window: timedelta
    structuring_window: timedelta
    structuring_margin: Decimal
    # The reporting amount each currency's structuring is measured against.
    reporting_amounts: Mapping[str, Decimal]
    velocity_window: timedelta
    velocity_share: Decimal
    velocity_floor: Decimal


@dataclass(frozen=True)
class Placed:
    """A pledge as the monitor remembers it, from the backer's own stream."""

    pledge_id: str
    currency: str
    amount: Decimal
    at: datetime
    released_at: datetime | None = None


def _hours(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g} h"


def structuring(
    new: Placed, recent: Sequence[Placed], rules: MonitoringThresholds,
    risk_threshold: Decimal | None,
) -> str | None:
    """Several pledges in the window, each just under a threshold, together above it.
    `recent`: the backer's pledges up to and including `new`; `risk_threshold`: the
    backer's ECSP risk-warning threshold (None when it does not apply)."""
    start = new.at - rules.structuring_window
    window = [p for p in recent if p.currency == new.currency and start < p.at <= new.at]
    limits = [("reporting amount", rules.reporting_amounts.get(new.currency))]
    if risk_threshold is not None and new.currency == "EUR":
        limits.append(("ECSP risk-warning threshold", risk_threshold))
    for label, limit in limits:
        if limit is None:
            continue
        floor = limit * (1 - rules.structuring_margin)
        under = [p for p in window if floor <= p.amount < limit]
        if new not in under or len(under) < 2:
            continue
        total = sum((p.amount for p in under), ZERO)
        if total > limit >= total - new.amount:
            amounts = ", ".join(str(p.amount) for p in under)
            return (f"{len(under)} pledges of {new.currency} {amounts} within "
                    f"{_hours(rules.structuring_window)}, each less than "
                    f"{rules.structuring_margin:.0%} under the {label}"
                    f"{'' if label.startswith('ECSP') else f' of {new.currency} {limit}'}, "
                    f"together {new.currency} {total}.")
    return None


def velocity(
    new: Placed, recent: Sequence[Placed], rules: MonitoringThresholds,
    declared_means: Decimal | None,
) -> str | None:
    """The backer's pledges in the window pass a share of their declared means (and
    the floor) with this pledge."""
    if declared_means is None:
        return None
    start = new.at - rules.velocity_window
    total = sum(
        (p.amount for p in recent if p.currency == new.currency and start < p.at <= new.at),
        ZERO,
    )
    limit = rules.velocity_share * declared_means

    def exceeds(amount: Decimal) -> bool:
        return amount >= rules.velocity_floor and amount > limit

    if not exceeds(total) or exceeds(total - new.amount):
        return None
    return (f"{new.currency} {total} pledged within {_hours(rules.velocity_window)}, more than "
            f"{rules.velocity_share:.0%} of the backer's declared means (the greater of "
            "annual income and net worth).")


def rapid_cancel_cycle(
    released: Placed, recent: Sequence[Placed], rules: MonitoringThresholds,
    last_alerted: datetime | None,
) -> str | None:
    """At least N pledges both placed and released within the window ending at this
    release; at most one alert per window."""
    now = released.released_at
    if now is None:
        return None
    start = now - rules.cancel_window
    if last_alerted is not None and last_alerted > start:
        return None
    cycles = [
        p for p in recent
        if p.released_at is not None and start < p.released_at <= now and p.at > start
    ]
    if len(cycles) < rules.cancel_cycles:
        return None
    return (f"{len(cycles)} pledges placed and released (cancelled or refunded) within "
            f"{_hours(rules.cancel_window)}: {', '.join(p.pledge_id for p in cycles)}.")
