"""What falls due: deadlines, reconfirmations, settlement and refunds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from application.unit_of_work import Decision, UnitOfWork
from domain.campaign import Campaign, CampaignStatus
from domain.cap_table import CapTable, cap_table_id
from domain.errors import (
    NotFoundError,
)
from domain.money import ZERO
from domain.offering_calendar import CALENDAR_ID, OfferingCalendar
from domain.pledge import Pledge, PledgeStatus
from domain.pledging import release_pledge
from domain.reminders import reconfirmation_reminder_at, window_closing_at, window_reminder_at
from domain.user import User

CLOSED = (CampaignStatus.SETTLED, CampaignStatus.FAILED, CampaignStatus.CANCELLED)

# Bulk work (settlement, refunds, reconfirmation requests) is saved in chunks
# so that one transaction never grows with the size of a campaign.
CHUNK = 500


class DueWork:
    def __init__(self, uow: UnitOfWork, rescreening: Callable[[], int] | None = None) -> None:
        self.uow = uow
        # Re-screening verified investors after a sanctions list change (app.aml).
        self.rescreening = rescreening

    # What falls due: deadlines, reconfirmations, settlement, refunds ----------------

    def run(self) -> int:
        """Do everything that has fallen due; returns the last position written (0: none)."""
        last = self.rescreening() if self.rescreening is not None else 0
        try:
            calendar = self.uow.load(OfferingCalendar, CALENDAR_ID, "calendar")
        except NotFoundError:
            return last  # nothing was ever scheduled
        # Other processes schedule campaigns too: never miss one for a stale copy.
        if self.uow.refresh_if_stale([(calendar.id, calendar.version)]):
            calendar = self.uow.calendar()
        for campaign_id in calendar.due_by(self.uow.clock.now()):
            last = max(last, self.run_for(campaign_id))
        return last

    def run_for(self, campaign_id: UUID | str) -> int:
        """Advance one campaign as far as the clock allows; safe to repeat or race."""
        last = 0
        steps: list[Callable[[str, datetime], Decision[bool]]] = [
            self._remind_to_reconfirm, self._remind_window_closing,
            self._expire_reconfirmations, self._close_at_deadline, self._hold_settlement,
            self._settle_chunk, self._refund_chunk, self._update_issuer, self._update_calendar,
        ]
        for step in steps:
            while True:
                written = self.uow.run(partial(step, str(campaign_id)))
                if not written.value:
                    break
                last = max(last, written.position)
        return last

    def _pending_pledges(self, campaign: Campaign, limit: int) -> list[Pledge]:
        pending = []
        for pid in self.uow.open_pledge_ids(campaign.id):
            pledge = self.uow.pledge_record(pid)
            if pledge.status is PledgeStatus.PENDING_RECONFIRMATION:
                pending.append(pledge)
                if len(pending) >= limit:
                    break
        return pending

    def _cancel_pending(self, campaign: Campaign, reason: str) -> list[Aggregate]:
        touched: list[Aggregate] = []
        backers: dict[str, User] = {}
        for pledge in self._pending_pledges(campaign, CHUNK):
            backer = backers.get(pledge.backer_id) or self.uow.user(pledge.backer_id)
            backers[pledge.backer_id] = backer
            pledge.cancel(reason)
            # The campaign's PledgeReleased says why too: a lapse, not the backer's choice.
            release_pledge(campaign, pledge, backer, reason)
            touched.append(pledge)
        return [*touched, *backers.values()]

    def _remind_to_reconfirm(self, campaign_id: str, now: datetime) -> Decision[bool]:
        """A day before a reconfirmation window ends, each pending pledge is reminded
        (in chunks); the campaign records when all are."""
        campaign = self.uow.campaign(campaign_id)
        due = reconfirmation_reminder_at(campaign, now)
        if due is None or now < due:
            return False, []
        assert campaign.reconfirm_by is not None
        touched: list[Aggregate] = []
        for pid in self.uow.open_pledge_ids(campaign.id):
            pledge = self.uow.pledge_record(pid)
            pledge.remind_to_reconfirm()
            if pledge.pending_events:
                touched.append(pledge)
                if len(touched) >= CHUNK:
                    break
        if not touched:
            campaign.reconfirmation_reminders_done(campaign.reconfirm_by)
        return True, [campaign, *touched]

    def _remind_window_closing(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        due = window_reminder_at(campaign, now)
        closes = window_closing_at(campaign)
        if due is None or closes is None or now < due:
            return False, []
        campaign.cancellation_window_closing(closes)
        return True, [campaign]

    def _expire_reconfirmations(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        if campaign.status is not CampaignStatus.LIVE or not campaign.reconfirmation_window_closed(
            now
        ):
            return False, []
        touched = self._cancel_pending(campaign, "not reconfirmed after a material change")
        if len(touched) == 0:
            campaign.close_reconfirmation_window()
        return True, [campaign, *touched]

    def _close_at_deadline(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        if not campaign.is_due_to_close(now):
            return False, []
        # Pending reconfirmations lapse before the target is compared.
        touched = self._cancel_pending(campaign, "not reconfirmed by the deadline")
        if not touched and not campaign.close(now):
            # 227.304(b)(4): the early close lost its target; backers are told that the
            # offering runs on to its original deadline.
            campaign.post_update(
                update_id=str(uuid4()), title="The offering continues",
                body=f"The minimum target of {campaign.currency} {campaign.terms.min_target} "
                f"was no longer met at the early closing date, so the offering runs on to its "
                f"original deadline, {campaign.terms.deadline.isoformat()}. You may cancel "
                "your pledge until the cancellation window of that deadline closes.",
                material=False,
            )
        return True, [campaign, *touched]

    def _hold_settlement(self, campaign_id: str, now: datetime) -> Decision[bool]:
        """ECSP: once FUNDED, settlement waits for the end of the last open reflection
        period (Art. 22); no pledge can be added after the deadline, so it is fixed."""
        campaign = self.uow.campaign(campaign_id)
        if (campaign.status is not CampaignStatus.FUNDED or campaign.rules.reflection_period
                is None or campaign.settlement_held_until is not None):
            return False, []
        ends = [now]
        for pid in self.uow.open_pledge_ids(campaign.id):
            pledge = self.uow.pledge_record(pid)
            if pledge.is_open and pledge.cancellable_until is not None:
                ends.append(pledge.cancellable_until)
        campaign.hold_settlement(max(ends))
        return True, [campaign]

    def _settle_chunk(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        if not campaign.may_settle(now):
            return False, []
        table = self.uow.cap_table(campaign.id) or CapTable(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            campaign_id=str(campaign.id), price_per_share=campaign.terms.price_per_share,
            currency=campaign.currency, id=cap_table_id(str(campaign.id)),
        )
        pledges = [self.uow.pledge_record(p) for p in self.uow.open_pledge_ids(campaign.id)[:CHUNK]]
        if not pledges:
            campaign.settle()
            return True, [campaign, table]
        issues = []
        backers: dict[str, User] = {}
        for pledge in pledges:
            pledge.settle()
            # From now on the pledge counts against the backer's limit for 12 months.
            backer = backers.get(pledge.backer_id) or self.uow.user(pledge.backer_id)
            backers[pledge.backer_id] = backer
            backer.settle_investment(str(pledge.id), now)
            issues.append({
                "pledge_id": str(pledge.id), "backer_id": pledge.backer_id,
                "shares": pledge.shares, "amount": pledge.amount,
            })
        table.issue_shares(issues)
        campaign.release_escrow(sum((p.amount for p in pledges), ZERO),
                                [str(p.id) for p in pledges])
        return True, [campaign, table, *pledges, *backers.values()]

    def _refund_chunk(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        if campaign.status not in (CampaignStatus.FAILED, CampaignStatus.CANCELLED):
            return False, []
        pledge_ids = self.uow.open_pledge_ids(campaign.id)[:CHUNK]
        if not pledge_ids:
            return False, []
        failed = campaign.status is CampaignStatus.FAILED
        reason = "campaign failed" if failed else "campaign cancelled"
        touched: list[Aggregate] = [campaign]
        backers: dict[str, User] = {}
        for pid in pledge_ids:
            pledge = self.uow.pledge_record(pid)
            backer = backers.get(pledge.backer_id) or self.uow.user(pledge.backer_id)
            backers[pledge.backer_id] = backer
            pledge.refund(reason)
            release_pledge(campaign, pledge, backer, "refunded")
            touched.append(pledge)
        return True, [*touched, *backers.values()]

    def _update_issuer(self, campaign_id: str, now: datetime) -> Decision[bool]:
        """The issuer's open offering becomes a sale when the campaign settles, and
        nothing when it fails or is cancelled (227.100(a)(1), Art. 1(2)(c))."""
        campaign = self.uow.campaign(campaign_id)
        if campaign.issuer_id is None or campaign.status not in CLOSED:
            return False, []
        issuer = self.uow.issuer(campaign.issuer_id)
        if campaign.status is CampaignStatus.SETTLED:
            issuer.record_sale(campaign_id, campaign.released, now)
        else:
            issuer.close_offering(campaign_id)
        return bool(issuer.pending_events), [issuer]

    def _update_calendar(self, campaign_id: str, now: datetime) -> Decision[bool]:
        campaign = self.uow.campaign(campaign_id)
        calendar = self.uow.calendar()
        done = campaign.open_pledges == 0 and campaign.status in CLOSED
        if done:
            calendar.unschedule(campaign_id)
        elif campaign.status is CampaignStatus.LIVE:
            calendar.schedule(campaign_id, next_due(campaign, now))
        elif campaign.status is CampaignStatus.FUNDED and campaign.settlement_held_until:
            calendar.schedule(campaign_id, max(now, campaign.settlement_held_until))
        return False, [calendar]


def next_due(campaign: Campaign, now: datetime) -> datetime:
    """The next moment the scheduler has work for a live campaign: its deadline, the end
    of a reconfirmation window, or a reminder still owed (domain.reminders)."""
    moments = [campaign.terms.deadline]
    for moment in (
        campaign.reconfirm_by, reconfirmation_reminder_at(campaign, now),
        window_reminder_at(campaign, now),
    ):
        if moment is not None:
            moments.append(moment)
    return min(moments)
