"""When the platform reminds backers before a right lapses: one home for the lead
time and for which reminders a campaign still owes.

Two reminders, each recorded as an event by the scheduler so that it is in the
log and the notifier turns it into notices:
- a material change's reconfirmation window closes in `REMINDER_LEAD`: every pledge
  still pending reconfirmation is reminded (`Pledge.ReconfirmationReminded`);
- REG_CF: the right to cancel without a reason ends 48 hours before the deadline
  (17 CFR 227.304(a)); `REMINDER_LEAD` before that, backers are told
  (`Campaign.CancellationWindowClosing`). ECSP's reflection period is per pledge
  (4 days, Art. 22(2)); its end is in the pledge's own confirmation notice.
A reminder whose moment has passed before the scheduler got to it is still sent
while the right lasts, and skipped once it has lapsed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.campaign import Campaign, CampaignStatus
from domain.cancellation import cancellation_cutoff

# Our choice: a day's notice, long enough to act on, short enough to be remembered.
REMINDER_LEAD = timedelta(hours=24)


def reconfirmation_reminder_at(campaign: Campaign, now: datetime) -> datetime | None:
    """When the pending pledges of the current window are to be reminded; None if not owed."""
    until = campaign.reconfirm_by
    if campaign.status is not CampaignStatus.LIVE or until is None or now >= until:
        return None
    if campaign.reconfirm_reminded_for == until:
        return None
    return until - REMINDER_LEAD


def window_closing_at(campaign: Campaign) -> datetime | None:
    """REG_CF: the end of the right to cancel without a reason; None under ECSP."""
    return cancellation_cutoff(campaign.regime, campaign.terms.deadline)


def window_reminder_at(campaign: Campaign, now: datetime) -> datetime | None:
    """When backers are to be told the cancellation window closes; None if not owed."""
    closes = window_closing_at(campaign)
    if campaign.status is not CampaignStatus.LIVE or closes is None or now >= closes:
        return None
    if campaign.window_reminded_for == closes:
        return None
    return closes - REMINDER_LEAD
