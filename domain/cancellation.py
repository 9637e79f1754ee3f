"""The backer's right to cancel a pledge without giving a reason: the one home of
every cancellation window (17 CFR 227.304(a), ECSP Art. 22, a material change).

Everything that shows or enforces a window (the pledge command, the API, the read
models) asks `cancellable_until`.
"""

from __future__ import annotations

from datetime import datetime

from domain.campaign import Campaign
from domain.errors import InvalidStateError
from domain.pledge import OPEN, Pledge, PledgeStatus
from domain.rulebook import RULEBOOKS, Regime


def reflection_period_end(regime: Regime, pledged_at: datetime) -> datetime | None:
    """ECSP: when the reflection period of a pledge placed at `pledged_at` ends (fixed at
    placement and stored with the pledge); None where the regime has none."""
    period = RULEBOOKS[regime].reflection_period
    return None if period is None else pledged_at + period


def cancellation_cutoff(regime: Regime, deadline: datetime) -> datetime | None:
    """REG_CF: commitments may be cancelled until 48 hours before the (current) deadline;
    None where the regime has no such cutoff."""
    cutoff = RULEBOOKS[regime].cancellation_cutoff
    return None if cutoff is None else deadline - cutoff


def cancellable_until(
    regime: Regime, status: PledgeStatus, pledged_at: datetime,
    reflection_ends: datetime | None, deadline: datetime, reconfirm_by: datetime | None,
    now: datetime,
) -> datetime | None:
    """Until when the backer may cancel without a reason; None when they no longer may.

    - A pledge pending reconfirmation may be walked away from until it is reconfirmed
      or lapses at `reconfirm_by` (a material change reopens the right).
    - REG_CF: until 48 hours before the campaign's current deadline; a pledge made
      inside those 48 hours never could be.
    - ECSP: the reflection period fixed at placement, cut by the current deadline.
    """
    if status not in OPEN:
        return None
    if status is PledgeStatus.PENDING_RECONFIRMATION:
        return reconfirm_by
    if regime is Regime.REG_CF:
        cutoff = cancellation_cutoff(regime, deadline)
        until = cutoff if cutoff is not None and cutoff > pledged_at else None
    else:
        until = None if reflection_ends is None else min(reflection_ends, deadline)
    return until if until is not None and now < until else None


def require_cancellable(campaign: Campaign, pledge: Pledge, now: datetime) -> None:
    """The backer may cancel `pledge` now, or the window that closed is named."""
    if pledge.status is PledgeStatus.PENDING_RECONFIRMATION:
        return  # a material change reopens the right to walk away
    until = cancellable_until(
        campaign.regime, pledge.status, pledge.pledged_at, pledge.cancellable_until,
        campaign.terms.deadline, pledge.reconfirm_by, now,
    )
    if until is None:
        ended = cancellation_cutoff(campaign.regime, campaign.terms.deadline) \
            or pledge.cancellable_until
        when = f" ended at {ended.isoformat()}" if ended else " does not apply"
        raise InvalidStateError(
            f"This pledge can no longer be cancelled: the cancellation window{when}.",
            "CANCELLATION_WINDOW_CLOSED",
        )
