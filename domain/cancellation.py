"""The backer's right to cancel a pledge without giving a reason: the one home of
every cancellation window (17 CFR 227.304(a), ECSP Art. 22, a material change).

Everything that shows or enforces a window (the pledge command, the API and the read
models) asks `cancellable_until`.
"""

from __future__ import annotations

from datetime import datetime

from domain.campaign import Campaign, CampaignStatus
from domain.errors import InvalidStateError
from domain.pledge import OPEN, Pledge, PledgeStatus
from domain.rulebook import RULEBOOKS, Regime, calendar_days_later
from domain.time_zones import investor_time_zone


def reflection_period_end(
    regime: Regime, pledged_at: datetime, country: str | None = None
) -> datetime | None:
    """ECSP: when the reflection period of a pledge placed at `pledged_at` ends: the
    same wall-clock time 4 calendar days later in the investor's time zone (from the
    country of their profile; UTC if unknown). Fixed at placement and stored with the
    pledge; None where the regime has none."""
    days = RULEBOOKS[regime].reflection_days
    if days is None:
        return None
    return calendar_days_later(pledged_at, days, investor_time_zone(country))


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
    - ECSP: the whole reflection period fixed at placement, whatever the deadline: a
      pledge made 2 hours before it may be revoked for 4 days (Art. 22(2)).
    """
    if status not in OPEN:
        return None
    if status is PledgeStatus.PENDING_RECONFIRMATION:
        return reconfirm_by
    if regime is Regime.REG_CF:
        cutoff = cancellation_cutoff(regime, deadline)
        until = cutoff if cutoff is not None and cutoff > pledged_at else None
    else:
        until = reflection_ends
    return until if until is not None and now < until else None


def in_reflection_period(pledge: Pledge, now: datetime) -> bool:
    """An open ECSP pledge whose reflection period still runs."""
    ends = pledge.cancellable_until if Regime(pledge.regime) is Regime.ECSP else None
    return pledge.status is PledgeStatus.ACTIVE and ends is not None and now < ends


def cancellable_if_placed_now(
    regime: Regime, deadline: datetime, now: datetime, country: str | None = None
) -> datetime | None:
    """Until when a pledge placed `now` by an investor in `country` could be cancelled
    (what a backer is told before confirming); None when it could not be at all."""
    return cancellable_until(
        regime, PledgeStatus.ACTIVE, now, reflection_period_end(regime, now, country),
        deadline, None, now,
    )


def require_cancellable(campaign: Campaign, pledge: Pledge, now: datetime) -> None:
    """The backer may cancel `pledge` now, or the window that closed is named.

    Before the deadline every window applies; after it (the campaign LIVE until the
    scheduler closes it, or FUNDED until settlement) only a running reflection period.
    """
    if in_reflection_period(pledge, now) and campaign.status in (
        CampaignStatus.LIVE, CampaignStatus.FUNDED
    ):
        return
    campaign.require_status(CampaignStatus.LIVE, doing="cancel a pledge")
    campaign.require_before_deadline(now, doing="cancel a pledge")
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
