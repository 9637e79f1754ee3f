"""A campaign: an offering's terms, its lifecycle and its escrow account.

The aggregate stays small (no list of pledges) so that a hot campaign costs the
same to load at its 100,000th pledge as at its first; the pledges are their own
streams, and the campaign keeps only the totals that its invariants need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain import limits
from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, MaxTargetExceeded, NotAllowedError, ValidationError
from domain.money import ZERO
from domain.offering import (
    MAX_DOCUMENTS,
    OFFERING_STATEMENT,
    STATEMENT_NAMES,
    Disclosure,
    Document,
    DocumentKind,
    check_document,
)
from domain.review import ReviewChecklist
from domain.rulebook import RULEBOOKS, BusinessCalendar, Regime, Rulebook, add_business_days


class CampaignStatus(Enum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    REJECTED = "REJECTED"
    APPROVED = "APPROVED"
    LIVE = "LIVE"
    FUNDED = "FUNDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SETTLED = "SETTLED"


EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.REJECTED)
CANCELLABLE = (*EDITABLE, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.LIVE)
# A founder files documents while the offering can change: before review, or live
# (a new offering statement while live is a material change).
DOCUMENTS_OPEN = (*EDITABLE, CampaignStatus.LIVE)
TERM_FIELDS = (
    "title", "summary", "min_target", "max_target", "min_pledge", "price_per_share", "deadline"
)


@dataclass(frozen=True)
class CampaignTerms:
    title: str
    summary: str
    min_target: Decimal
    max_target: Decimal
    min_pledge: Decimal
    price_per_share: Decimal
    deadline: datetime

    def check(self, rules: Rulebook) -> None:
        """Terms that make sense on their own and under the regime's rulebook."""
        if not self.title.strip() or len(self.title) > limits.CAMPAIGN_TITLE:
            raise ValidationError(
                f"Give the campaign a title of 1 to {limits.CAMPAIGN_TITLE} characters.", "title"
            )
        if len(self.summary) > limits.CAMPAIGN_SUMMARY:
            raise ValidationError(
                f"The summary can be at most {limits.CAMPAIGN_SUMMARY} characters.", "summary"
            )
        if self.max_target < self.min_target:
            raise ValidationError("maxTarget must be at least minTarget.", "maxTarget")
        if self.max_target > rules.offering_limit:
            raise ValidationError(
                f"Under {rules.regime.value} an offering may raise at most "
                f"{rules.currency} {rules.offering_limit} in 12 months.", "maxTarget",
            )
        if self.min_pledge < self.price_per_share:
            raise ValidationError("minPledge must be at least the price of one share.", "minPledge")
        if self.min_pledge > self.max_target:
            raise ValidationError("minPledge cannot be larger than maxTarget.", "minPledge")
        if self.deadline.tzinfo is None:
            raise ValidationError("The deadline needs a timezone offset.", "deadline")

    def as_event_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TERM_FIELDS}


class Campaign(ChainedAggregate):
    id: UUID
    # State added after the first release: defaults for snapshots taken before it.
    issuer_id: str | None = None
    # 227.304(b): the deadline an early close replaced, run on to if the target is lost.
    deadline_before_early_close: datetime | None = None
    # Settlement waits until every open reflection period has ended (Art. 22); None
    # until the wait has been worked out at the deadline.
    settlement_held_until: datetime | None = None
    # Reminders recorded for the current reconfirmation window and cancellation cutoff
    # (domain.reminders). Class defaults: snapshots taken before reminders existed.
    reconfirm_reminded_for: datetime | None = None
    window_reminded_for: datetime | None = None
    # The disclosure and the documents filed (replaced, never changed in place: the class
    # default is shared; `documents` is a list, as a snapshot restores it).
    offering: Disclosure = Disclosure()
    documents: Sequence[Document] = ()

    @event("CampaignDrafted")
    def __init__(
        self, founder_id: str, regime: str, currency: str, title: str, summary: str,
        min_target: Decimal, max_target: Decimal, min_pledge: Decimal,
        price_per_share: Decimal, deadline: datetime,
    ) -> None:
        self.founder_id = founder_id
        self.regime = Regime(regime)
        self.currency = currency
        self.terms = CampaignTerms(
            title, summary, min_target, max_target, min_pledge, price_per_share, deadline
        )
        self.status = CampaignStatus.DRAFT
        self.launched_at: datetime | None = None
        self.terms_version = 1
        self.reconfirm_by: datetime | None = None
        # The escrow account: held + released + refunded == pledged, always.
        self.pledged = ZERO
        self.held = ZERO
        self.released = ZERO
        self.refunded = ZERO
        self.open_pledges = 0

    # Reading -----------------------------------------------------------------

    @property
    def rules(self) -> Rulebook:
        return RULEBOOKS[self.regime]

    @property
    def raised(self) -> Decimal:
        """Open and settled pledges: what the campaign has raised so far."""
        return self.held + self.released

    @property
    def original_deadline(self) -> datetime | None:
        """The deadline the offering runs to unless it closes early (None before launch)."""
        if self.deadline_before_early_close is not None:
            return self.deadline_before_early_close
        return self.terms.deadline if self.launched_at is not None else None

    @event("IssuerAssigned")
    def assign_issuer(self, issuer_id: str) -> None:
        self.issuer_id = issuer_id

    def require_founder(self, user_id: str) -> None:
        if user_id != self.founder_id:
            raise NotAllowedError("Only the campaign's founder can do this.")

    def require_status(self, *allowed: CampaignStatus, doing: str) -> None:
        if self.status not in allowed:
            wanted = " or ".join(s.value for s in allowed)
            raise InvalidStateError(
                f"Cannot {doing}: the campaign is {self.status.value}, it must be {wanted}.",
                "CAMPAIGN_NOT_" + allowed[0].value if len(allowed) == 1 else None,
            )

    def require_before_deadline(self, now: datetime, *, doing: str) -> None:
        """Once a live offering's deadline passes its outcome is fixed, however late
        the scheduler gets to it: nothing may change it any more."""
        if self.status is CampaignStatus.LIVE and now >= self.terms.deadline:
            raise InvalidStateError(
                f"Cannot {doing}: the deadline passed at {self.terms.deadline.isoformat()} "
                "and the offering is being closed.", "DEADLINE_PASSED",
            )

    # Founder and risk officer ----------------------------------------------------

    def amend(
        self, changes: dict[str, Any], now: datetime, holidays: BusinessCalendar,
        offering_changes: dict[str, Any] | None = None,
    ) -> bool:
        """A plain edit before review, a material change while live. True if material."""
        self.require_status(*EDITABLE, CampaignStatus.LIVE, doing="amend the campaign")
        self.require_before_deadline(now, doing="amend the campaign")
        changed = {k: v for k, v in changes.items() if getattr(self.terms, k) != v}
        offering = self.offering.with_changes(offering_changes or {})
        described = offering != self.offering
        if not changed and not described:
            raise ValidationError("The amendment changes nothing.", None, "NOTHING_CHANGED")
        new_terms = replace(self.terms, **changed)
        new_terms.check(self.rules)
        offering.check()
        if self.status is not CampaignStatus.LIVE:
            if changed:
                self._amended(changed)
            if described:
                self.describe(offering)
            return False
        self._check_material_change(changed, new_terms, now)
        if described:
            self.describe(offering)
        self._make_material_change(changed, new_terms.deadline, now, holidays)
        return True

    def flag_material_update(self, now: datetime, holidays: BusinessCalendar) -> None:
        """The founder says an update is a material change (227.304(c)): the terms stay,
        every open pledge must be reconfirmed as after a material amendment."""
        self.require_status(CampaignStatus.LIVE, doing="post a material update")
        self.require_before_deadline(now, doing="post a material update")
        self._make_material_change({}, self.terms.deadline, now, holidays)

    def _make_material_change(
        self, changed: dict[str, Any], deadline: datetime, now: datetime,
        holidays: BusinessCalendar,
    ) -> None:
        reconfirm_by = add_business_days(
            now, self.rules.reconfirmation_business_days, self.rules, holidays
        )
        if reconfirm_by > deadline:
            # Backers keep their full window to reconfirm (Rule 304(c)): a late
            # change moves the deadline out to the end of that window.
            changed["deadline"] = reconfirm_by
        self._material_change_made(changed, reconfirm_by)

    def _check_material_change(
        self, changed: dict[str, Any], new_terms: CampaignTerms, now: datetime
    ) -> None:
        if "price_per_share" in changed and self.pledged > 0:
            raise InvalidStateError(
                "The share price cannot change once pledges have been made.", "PRICE_LOCKED"
            )
        if new_terms.max_target < self.held:
            raise ValidationError(
                f"maxTarget cannot go below the {self.currency} {self.held} already pledged.",
                "maxTarget",
            )
        if "deadline" in changed and new_terms.deadline < self.terms.deadline:
            raise ValidationError(
                "A live campaign's deadline can only move later; use closeEarly to shorten it.",
                "deadline",
            )

    @event("CampaignAmended")
    def _amended(self, changes: dict[str, Any]) -> None:
        self.terms = replace(self.terms, **changes)

    @event("MaterialChangeMade")
    def _material_change_made(self, changes: dict[str, Any], reconfirm_by: datetime) -> None:
        self.terms = replace(self.terms, **changes)
        self.terms_version += 1
        self.reconfirm_by = reconfirm_by

    def submit(self) -> None:
        self.require_status(*EDITABLE, doing="submit the campaign for review")
        statement = OFFERING_STATEMENT[self.regime]
        if not any(d.kind is statement for d in self.documents):
            raise InvalidStateError(
                f"Upload the offering statement ({STATEMENT_NAMES[statement]}, document kind "
                f"{statement.value}) before submitting the campaign for review.",
                "OFFERING_DOCUMENT_MISSING",
            )
        self._submitted()

    @event("CampaignSubmitted")
    def _submitted(self) -> None:
        self.status = CampaignStatus.IN_REVIEW

    def approve(self, officer_id: str, checklist: ReviewChecklist | None = None) -> None:
        """With a due-diligence checklist, every item must be ticked (domain.review)."""
        self.require_status(CampaignStatus.IN_REVIEW, doing="approve the campaign")
        if officer_id == self.founder_id:
            raise NotAllowedError("A risk officer cannot approve their own campaign.")
        if checklist is not None:
            checklist.require_complete()
        self._approved(officer_id, None if checklist is None else checklist.as_event())

    # `checklist`: added after the first release; events stored before have none (null).
    @event("CampaignApproved")
    def _approved(self, officer_id: str, checklist: dict[str, bool] | None = None) -> None:
        self.status = CampaignStatus.APPROVED

    def reject(
        self, officer_id: str, reason: str, checklist: ReviewChecklist | None = None
    ) -> None:
        """The checklist's answers, whatever they are, are recorded with the reason."""
        self.require_status(CampaignStatus.IN_REVIEW, doing="reject the campaign")
        self._rejected(officer_id, reason, None if checklist is None else checklist.as_event())

    @event("CampaignRejected")
    def _rejected(
        self, officer_id: str, reason: str, checklist: dict[str, bool] | None = None
    ) -> None:
        self.status = CampaignStatus.REJECTED

    def launch(self, now: datetime) -> None:
        self.require_status(CampaignStatus.APPROVED, doing="launch the campaign")
        minimum = self.rules.minimum_offering_period
        if minimum is not None and self.terms.deadline < now + minimum:
            raise InvalidStateError(
                f"A {self.regime.value} offering must stay open at least {minimum.days} days: "
                f"move the deadline to {(now + minimum).isoformat()} or later.",
                "OFFERING_PERIOD_TOO_SHORT",
            )
        if self.terms.deadline <= now:
            raise InvalidStateError("The deadline has passed; amend it first.", "DEADLINE_PASSED")
        self._launched(now)

    @event("CampaignLaunched")
    def _launched(self, launched_at: datetime) -> None:
        self.status = CampaignStatus.LIVE
        self.launched_at = launched_at

    def close_early(
        self, new_deadline: datetime, now: datetime, holidays: BusinessCalendar
    ) -> None:
        """Rule 304(b): only with the target met, after 21 days, on 5 business days' notice."""
        self.require_status(CampaignStatus.LIVE, doing="close early")
        self.require_before_deadline(now, doing="close early")
        if self.raised < self.terms.min_target:
            raise InvalidStateError(
                f"Close early only once the minimum target of {self.currency} "
                f"{self.terms.min_target} is met.", "TARGET_NOT_MET",
            )
        minimum = self.rules.minimum_offering_period
        assert self.launched_at is not None
        if minimum is not None and now < self.launched_at + minimum:
            raise InvalidStateError(
                f"The offering must have been open {minimum.days} days before closing early.",
                "OFFERING_PERIOD_TOO_SHORT",
            )
        earliest = add_business_days(
            now, self.rules.early_close_notice_business_days, self.rules, holidays
        )
        if new_deadline < earliest:
            raise ValidationError(
                f"The new deadline must be at least {self.rules.early_close_notice_business_days} "
                f"business days away: {earliest.isoformat()} or later.", "newDeadline",
            )
        if new_deadline >= self.terms.deadline:
            raise ValidationError("The new deadline must be before the current one.", "newDeadline")
        self._early_close_scheduled(new_deadline)

    @event("EarlyCloseScheduled")
    def _early_close_scheduled(self, new_deadline: datetime) -> None:
        if self.deadline_before_early_close is None:
            self.deadline_before_early_close = self.terms.deadline
        self.terms = replace(self.terms, deadline=new_deadline)

    @event("EarlyCloseWithdrawn")
    def _early_close_withdrawn(self, deadline: datetime, raised: Decimal) -> None:
        """227.304(b)(4): the target was no longer met at the early deadline; the offering
        runs on to its original deadline."""
        self.terms = replace(self.terms, deadline=deadline)
        self.deadline_before_early_close = None

    def cancel(self, by: str, reason: str, now: datetime) -> None:
        self.require_status(*CANCELLABLE, doing="cancel the campaign")
        self.require_before_deadline(now, doing="cancel the campaign")
        self._cancelled(by, reason)

    @event("CampaignCancelled")
    def _cancelled(self, by: str, reason: str) -> None:
        self.status = CampaignStatus.CANCELLED

    # The disclosure ---------------------------------------------------------------

    def describe(self, offering: Disclosure) -> None:
        offering.check()
        self._offering_described(**offering.as_event_fields())

    @event("OfferingDescribed")
    def _offering_described(
        self, security_type: str, valuation: Decimal | None, story: str, use_of_proceeds: str,
        risks: str, team: list[dict[str, Any]],
    ) -> None:
        self.offering = Disclosure.from_event_fields(
            security_type, valuation, story, use_of_proceeds, risks, team
        )

    def file_document(
        self, document: Document, uploaded_by: str, now: datetime, holidays: BusinessCalendar
    ) -> bool:
        """Record a document the founder uploaded; True if it is a material change
        (a new offering statement while live: backers must reconfirm)."""
        self.require_status(*DOCUMENTS_OPEN, doing="upload a document")
        self.require_before_deadline(now, doing="upload a document")
        check_document(document.kind, self.regime, document.content_type, document.size,
                       document.sha256)
        if len(self.documents) >= MAX_DOCUMENTS:
            raise InvalidStateError(
                f"A campaign can have at most {MAX_DOCUMENTS} documents.", "TOO_MANY_DOCUMENTS"
            )
        self._document_uploaded(
            document_id=document.id, kind=document.kind.value, name=document.name,
            content_type=document.content_type, size=document.size, sha256=document.sha256,
            uploaded_at=document.uploaded_at, uploaded_by=uploaded_by,
        )
        material = (
            self.status is CampaignStatus.LIVE and document.kind is OFFERING_STATEMENT[self.regime]
        )
        if material:
            self._make_material_change({}, self.terms.deadline, now, holidays)
        return material

    @event("DocumentUploaded")
    def _document_uploaded(
        self, document_id: str, kind: str, name: str, content_type: str, size: int,
        sha256: str, uploaded_at: datetime, uploaded_by: str,
    ) -> None:
        document = Document(
            document_id, DocumentKind(kind), name, content_type, size, sha256, uploaded_at
        )
        self.documents = [*self.documents, document]

    @event("UpdatePosted")
    def post_update(self, update_id: str, title: str, body: str, material: bool) -> None:
        pass

    # Pledges and escrow --------------------------------------------------------

    def check_pledge(self, amount: Decimal, now: datetime) -> int:
        """The number of shares `amount` buys, or the rule it breaks."""
        self.require_status(CampaignStatus.LIVE, doing="pledge")
        if now >= self.terms.deadline:
            raise InvalidStateError("The campaign's deadline has passed.", "CAMPAIGN_CLOSED")
        if amount < self.terms.min_pledge:
            raise ValidationError(
                f"The minimum pledge is {self.currency} {self.terms.min_pledge}.", "amount",
                "BELOW_MIN_PLEDGE",
            )
        shares, rest = divmod(amount, self.terms.price_per_share)
        if rest != 0:
            raise ValidationError(
                f"Pledge a whole number of shares: a multiple of {self.currency} "
                f"{self.terms.price_per_share}.", "amount", "NOT_WHOLE_SHARES",
            )
        remaining = self.terms.max_target - self.held
        if amount > remaining:
            raise MaxTargetExceeded(max(remaining, ZERO), self.currency)
        return int(shares)

    @event("PledgeAccepted")
    def accept_pledge(self, pledge_id: str, backer_id: str, amount: Decimal, shares: int) -> None:
        self.pledged += amount
        self.held += amount
        self.open_pledges += 1

    @event("PledgeReleased")
    def release_pledge(self, pledge_id: str, backer_id: str, amount: Decimal, reason: str) -> None:
        """Funds of a cancelled or refunded pledge go back to the backer."""
        self.held -= amount
        self.refunded += amount
        self.open_pledges -= 1

    # Closing and settlement ----------------------------------------------------

    def is_due_to_close(self, now: datetime) -> bool:
        return self.status is CampaignStatus.LIVE and now >= self.terms.deadline

    def close(self, now: datetime) -> bool:
        """All or nothing at the deadline (pending reconfirmations already cancelled).
        An early close that lost its target runs on to the original deadline instead
        (227.304(b)(4)): False then, the campaign stays LIVE."""
        self.require_status(CampaignStatus.LIVE, doing="close the campaign")
        original = self.deadline_before_early_close
        if self.raised >= self.terms.min_target:
            self._funded(self.raised)
        elif original is not None and now < original:
            self._early_close_withdrawn(original, self.raised)
            return False
        else:
            self._failed(self.raised)
        return True

    def fail_if_below_target(self) -> bool:
        """Revocations in reflection periods after the deadline took a FUNDED campaign
        below its minimum target: it fails, and every backer is refunded (Art. 22)."""
        if self.status is CampaignStatus.FUNDED and self.raised < self.terms.min_target:
            self._failed(self.raised)
            return True
        return False

    @event("CampaignFunded")
    def _funded(self, raised: Decimal) -> None:
        self.status = CampaignStatus.FUNDED
        self.reconfirm_by = None

    @event("CampaignFailed")
    def _failed(self, raised: Decimal) -> None:
        self.status = CampaignStatus.FAILED
        self.reconfirm_by = None

    @event("EscrowReleased")
    def release_escrow(self, amount: Decimal, pledge_ids: list[str]) -> None:
        """Funds of settled pledges go to the issuer."""
        self.held -= amount
        self.released += amount
        self.open_pledges -= len(pledge_ids)

    def hold_settlement(self, until: datetime) -> None:
        """Settlement waits until `until`, when the last open reflection period ends."""
        self.require_status(CampaignStatus.FUNDED, doing="hold the settlement")
        self._settlement_held(until)

    @event("SettlementHeld")
    def _settlement_held(self, until: datetime) -> None:
        self.settlement_held_until = until

    def may_settle(self, now: datetime) -> bool:
        """FUNDED, and no reflection period still open (Art. 22: no funds go to the
        project owner while one runs)."""
        if self.status is not CampaignStatus.FUNDED:
            return False
        if self.rules.reflection_period is None:
            return True
        held = self.settlement_held_until
        return held is not None and now >= held

    def settle(self) -> None:
        self.require_status(CampaignStatus.FUNDED, doing="settle the campaign")
        if self.open_pledges:
            raise InvalidStateError("Pledges remain to settle.", "SETTLEMENT_INCOMPLETE")
        self._settled(self.released)

    @event("CampaignSettled")
    def _settled(self, released: Decimal) -> None:
        self.status = CampaignStatus.SETTLED

    def reconfirmation_window_closed(self, now: datetime) -> bool:
        return self.reconfirm_by is not None and now >= self.reconfirm_by

    @event("ReconfirmationWindowClosed")
    def close_reconfirmation_window(self) -> None:
        self.reconfirm_by = None

    # Reminders (domain.reminders decides when) -------------------------------------

    @event("ReconfirmationRemindersDone")
    def reconfirmation_reminders_done(self, reconfirm_by: datetime) -> None:
        """Every pledge pending reconfirmation was reminded of `reconfirm_by`."""
        self.reconfirm_reminded_for = reconfirm_by

    @event("CancellationWindowClosing")
    def cancellation_window_closing(self, closes_at: datetime) -> None:
        """Backers may cancel without a reason until `closes_at`, and no longer after."""
        self.window_reminded_for = closes_at

    def escrow_balances(self) -> bool:
        return self.held + self.released + self.refunded == self.pledged


def deadline_guard(deadline: datetime, now: datetime) -> None:
    if deadline <= now + timedelta(minutes=1):
        raise ValidationError("The deadline must be in the future.", "deadline")
