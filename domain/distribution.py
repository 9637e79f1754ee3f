"""Pro-rata payouts to the cent by the largest-remainder method."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from domain.money import CENT


@dataclass(frozen=True)
class DeclaredDistribution:
    """A distribution as the cap table declared it: each backer's payout to the cent."""

    id: str
    campaign_id: str
    total: Decimal
    payouts: dict[str, Decimal]
    declared_at: datetime


def pro_rata(total: Decimal, shares: Mapping[str, int]) -> dict[str, Decimal]:
    """Split `total` by shares so the payouts sum exactly to `total`.

    Each holder gets the floor of their exact share in cents; the cents left
    over go one each to the largest remainders, ties broken by holder id so the
    result never depends on input order.
    """
    holders = {h: n for h, n in shares.items() if n > 0}
    all_shares = sum(holders.values())
    if not holders or all_shares == 0:
        raise ValueError("a distribution needs at least one shareholder")
    total_cents = int((total / CENT).to_integral_value(rounding=ROUND_DOWN))
    if Decimal(total_cents) * CENT != total:
        raise ValueError("the total must be a whole number of cents")
    floors: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for holder, n in holders.items():
        whole, remainder = divmod(total_cents * n, all_shares)
        floors[holder] = whole
        remainders.append((remainder, holder))
    left = total_cents - sum(floors.values())
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, holder in remainders[:left]:
        floors[holder] += 1
    return {h: (Decimal(c) * CENT).quantize(CENT) for h, c in sorted(floors.items())}
