"""Which event makes which notice, for whom, and what it says: pure functions.

`notices_for(cause, facts)` is the one entry point. The notifier (a consumer group,
projections/notifications) hands it each event with the facts it keeps from the
log (the campaign's terms, its backers' open money, the pledge, the question, the
cap table) and stores what it returns; the mail sender sends the same text.

Each notice has a deterministic id from its cause event, its kind and its
recipient, so a redelivered or replayed event makes the same notice, never a
second one. Amounts are in the campaign's currency; instants are written in UTC
with the zone named. docs/notifications.md lists every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from domain.cancellation import cancellation_cutoff
from domain.rulebook import Regime


class NotificationKind(Enum):
    PLEDGE_CONFIRMED = "PLEDGE_CONFIRMED"
    PLEDGE_CANCELLED = "PLEDGE_CANCELLED"
    RECONFIRMATION_REQUIRED = "RECONFIRMATION_REQUIRED"
    PLEDGE_AUTO_CANCELLED = "PLEDGE_AUTO_CANCELLED"
    EARLY_CLOSE = "EARLY_CLOSE"
    CAMPAIGN_FUNDED = "CAMPAIGN_FUNDED"
    CAMPAIGN_FAILED = "CAMPAIGN_FAILED"
    CAMPAIGN_CANCELLED = "CAMPAIGN_CANCELLED"
    REFUND_ISSUED = "REFUND_ISSUED"
    SHARES_ISSUED = "SHARES_ISSUED"
    DISTRIBUTION_PAID = "DISTRIBUTION_PAID"
    KYC_VERIFIED = "KYC_VERIFIED"
    KYC_REJECTED = "KYC_REJECTED"
    CAMPAIGN_APPROVED = "CAMPAIGN_APPROVED"
    CAMPAIGN_REJECTED = "CAMPAIGN_REJECTED"
    QUESTION_ASKED = "QUESTION_ASKED"
    QUESTION_ANSWERED = "QUESTION_ANSWERED"
    CAMPAIGN_UPDATE = "CAMPAIGN_UPDATE"
    # Beyond the contract: the scheduler's reminders (docs/api.md).
    RECONFIRMATION_REMINDER = "RECONFIRMATION_REMINDER"
    CANCELLATION_WINDOW_CLOSING = "CANCELLATION_WINDOW_CLOSING"
    DEADLINE_REACHED = "DEADLINE_REACHED"


K = NotificationKind


@dataclass(frozen=True)
class Cause:
    """The event a notice answers, as the log has it (payload in its JSON form)."""

    stream_id: str
    version: int
    position: int
    type: str
    occurred_at: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class CampaignFacts:
    """A campaign's terms as of the event (the notifier keeps them from its stream)."""

    id: str
    title: str
    regime: str
    currency: str
    founder_id: str
    status: str
    deadline: datetime
    price_per_share: Decimal
    min_target: Decimal
    # The issuer's registered name; None when not known (the notice names the campaign).
    issuer_name: str | None = None

    @property
    def issuer(self) -> str:
        return self.issuer_name or self.title


@dataclass(frozen=True)
class PledgeFacts:
    id: str
    campaign_id: str
    backer_id: str
    amount: Decimal
    shares: int
    currency: str


@dataclass(frozen=True)
class Facts:
    """What the notifier knows besides the event itself; None/empty when not relevant."""

    campaign: CampaignFacts | None = None
    # backer id -> money they have open (or settled) in the campaign, before this event
    backers: Mapping[str, Decimal] = field(default_factory=dict)
    # EscrowReleased: pledge id -> (backer id, amount) of the pledges it settles
    settled: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    pledge: PledgeFacts | None = None
    # QuestionAnswered: who asked, on which campaign.
    asker_id: str | None = None
    question_campaign_id: str | None = None
    # CapTable events: the campaign and currency of the cap table.
    cap_table_campaign_id: str | None = None
    cap_table_currency: str | None = None


@dataclass(frozen=True)
class Notice:
    id: str
    recipient_id: str
    kind: NotificationKind
    subject: str
    body: str
    campaign_id: str | None
    pledge_id: str | None
    position: int
    created_at: datetime


def notice_id(cause: Cause, kind: NotificationKind, recipient_id: str) -> str:
    """One per recipient, kind and cause event: a replay makes the same id."""
    return str(uuid5(
        NAMESPACE_URL,
        f"/crowdfund/notifications/{cause.stream_id}/{cause.version}/{kind.value}/{recipient_id}",
    ))


# Words ------------------------------------------------------------------------------


def money(amount: Decimal | str, currency: str) -> str:
    return f"{currency} {Decimal(str(amount)):,.2f}"


def when(value: datetime | str) -> str:
    """An instant with its zone written out, e.g. "Monday 1 March 2027, 12:00 UTC"."""
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    utc = instant.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y, %H:%M} UTC"


def _title(facts: Facts, campaign_id: str) -> str:
    campaign = facts.campaign
    return f"“{campaign.title}”" if campaign is not None else f"campaign {campaign_id}"


def _lines(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p is not None)


# The rules, one per event type --------------------------------------------------------

Rule = Callable[[Cause, Facts], list[Notice]]


def _notice(
    cause: Cause, kind: NotificationKind, recipient: str, subject: str, body: str,
    campaign_id: str | None, pledge_id: str | None = None,
) -> Notice:
    return Notice(notice_id(cause, kind, recipient), recipient, kind, subject, body,
                  campaign_id, pledge_id, cause.position, cause.occurred_at)


def pledge_confirmed(cause: Cause, facts: Facts) -> list[Notice]:
    """Pledge.PledgePlaced -> the backer (17 CFR 227.303(d)). The pledge's own event
    says everything about the commitment, the cancel-by instant included (ECSP: the
    reflection period in the investor's time zone; REG_CF: 48 hours before the deadline as
    it stood); the campaign names the issuer and the deadline."""
    p = cause.payload
    currency, campaign_id = str(p["currency"]), str(p["campaign_id"])
    amount, shares = Decimal(str(p["amount"])), int(p["shares"])
    campaign = facts.campaign
    until = p.get("cancellable_until")
    if until and Regime(str(p["regime"])) is Regime.ECSP:
        cancel = (f"You may revoke it without giving a reason until {when(until)} (the "
                  "reflection period, Regulation (EU) 2020/1503 Art. 22(2)).")
    elif until:
        cancel = (f"You may cancel it until {when(until)}, 48 hours before the offering's "
                  "deadline (17 CFR 227.304(a)); a later deadline moves that with it.")
    else:
        cancel = ("It can no longer be cancelled: it was made within 48 hours of the "
                  "offering's deadline (17 CFR 227.304(a)).")
    name = campaign.title if campaign is not None else f"campaign {campaign_id}"
    body = _lines(
        f"Your pledge of {money(amount, currency)} to {_title(facts, campaign_id)} is "
        "confirmed.",
        "",
        f"Issuer: {campaign.issuer}" if campaign is not None else None,
        f"Amount: {money(amount, currency)}",
        f"Shares: {shares:,} at {money(amount / shares, currency)} per share",
        f"Pledged: {when(cause.occurred_at)}",
        f"Offering deadline: {when(campaign.deadline)}" if campaign is not None else None,
        "",
        cancel,
        "",
        f"Receipt: this commitment is entry {cause.position} of the platform's public log.",
    )
    return [_notice(cause, K.PLEDGE_CONFIRMED, str(p["backer_id"]),
                    f"Pledge confirmed: {money(amount, currency)} to {name}", body,
                    campaign_id, cause.stream_id)]


def pledge_released(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.PledgeReleased -> the backer: cancelled by them, lapsed for want of a
    reconfirmation, or refunded because the offering failed or was cancelled."""
    campaign = facts.campaign
    if campaign is None:
        return []
    p = cause.payload
    reason, backer, pledge = str(p.get("reason", "")), str(p["backer_id"]), str(p["pledge_id"])
    amount = money(p["amount"], campaign.currency)
    title = _title(facts, campaign.id)
    if reason == "refunded":
        why = {"FAILED": "the offering did not reach its minimum target",
               "CANCELLED": "the offering was cancelled"}.get(campaign.status,
                                                             "the offering did not complete")
        return [_notice(
            cause, K.REFUND_ISSUED, backer, f"Refund issued: {amount}",
            _lines(f"Your pledge of {amount} to {title} was refunded on "
                   f"{when(cause.occurred_at)}.", f"Reason: {why}.", f"Refund amount: {amount}."),
            campaign.id, pledge)]
    if reason == "cancelled":
        return [_notice(
            cause, K.PLEDGE_CANCELLED, backer, f"Pledge cancelled ({amount})",
            _lines(f"Your pledge of {amount} to {title} was cancelled on "
                   f"{when(cause.occurred_at)}, as you asked.",
                   f"Refund: {amount} is released from escrow back to you."),
            campaign.id, pledge)]
    return [_notice(
        cause, K.PLEDGE_AUTO_CANCELLED, backer, f"Pledge cancelled: not reconfirmed ({amount})",
        _lines(f"Your pledge of {amount} to {title} was cancelled on {when(cause.occurred_at)}.",
               f"Reason: it was {reason}.",
               f"Refund: {amount} is released from escrow back to you."),
        campaign.id, pledge)]


def reconfirmation_reminded(cause: Cause, facts: Facts) -> list[Notice]:
    """Pledge.ReconfirmationReminded (the scheduler, a day ahead) -> the backer."""
    pledge = facts.pledge
    if pledge is None:
        return []
    by = when(cause.payload["reconfirm_by"])
    amount = money(pledge.amount, pledge.currency)
    return [_notice(
        cause, K.RECONFIRMATION_REMINDER, pledge.backer_id,
        f"Reminder: reconfirm your pledge by {by}",
        _lines(
            f"The terms of {_title(facts, pledge.campaign_id)} changed and your pledge of "
            f"{amount} is waiting for your reconfirmation.",
            f"Reconfirm it by {by}; otherwise it is cancelled and the {amount} refunded "
            "(17 CFR 227.304(c)).",
        ), pledge.campaign_id, pledge.id)]


def _to_backers(
    cause: Cause, facts: Facts, kind: NotificationKind, subject: str,
    body: Callable[[Decimal], str],
) -> list[Notice]:
    campaign = facts.campaign
    if campaign is None:
        return []
    return [_notice(cause, kind, backer, subject, body(amount), campaign.id)
            for backer, amount in sorted(facts.backers.items())]


def material_change(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.MaterialChangeMade -> every backer with an open pledge (227.304(c))."""
    campaign = facts.campaign
    if campaign is None:
        return []
    by = when(cause.payload["reconfirm_by"])
    changes = _changes(cause.payload.get("changes") or {}, campaign.currency)
    return _to_backers(
        cause, facts, K.RECONFIRMATION_REQUIRED,
        f"Reconfirm your pledge to {campaign.title} by {by}",
        lambda amount: _lines(
            f"The terms of {_title(facts, campaign.id)} changed materially on "
            f"{when(cause.occurred_at)}:",
            *(f"- {line}" for line in changes),
            "",
            f"Your pledge of {money(amount, campaign.currency)} must be reconfirmed by {by}. "
            "If you do not reconfirm it by then, it is cancelled and your money refunded "
            "(17 CFR 227.304(c)).",
        ))


_TERM_NAMES = {
    "title": "title", "summary": "summary", "min_target": "minimum target",
    "max_target": "maximum target", "min_pledge": "minimum pledge",
    "price_per_share": "price per share", "deadline": "deadline",
}


def _changes(changes: Mapping[str, Any], currency: str) -> list[str]:
    if not changes:
        # The terms stayed: a new offering statement was filed while live, or the founder
        # posted an update marked material (the event names no term).
        return ["the offering statement or a founder's update marked material (both are on "
                "the campaign page; the terms themselves did not change)"]
    lines = []
    for name, value in sorted(changes.items()):
        label = _TERM_NAMES.get(name, name.replace("_", " "))
        if name == "deadline":
            shown = when(value)
        elif name in ("min_target", "max_target", "min_pledge", "price_per_share"):
            shown = money(value, currency)
        elif name == "summary":
            shown = "rewritten (see the campaign page)"
        else:
            shown = f"“{value}”"
        lines.append(f"{label}: now {shown}")
    return lines


def early_close(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.EarlyCloseScheduled -> every backer (227.304(b))."""
    campaign = facts.campaign
    if campaign is None:
        return []
    deadline = datetime.fromisoformat(str(cause.payload["new_deadline"]))
    cutoff = cancellation_cutoff(Regime(campaign.regime), deadline)
    if cutoff is not None:
        right = (f"You may cancel your pledge until {when(cutoff)}, 48 hours before the new "
                 "deadline (17 CFR 227.304(b)).")
    else:
        right = ("Your reflection period still applies: you may revoke a pledge for 4 days "
                 "after you made it, even past the deadline (Art. 22(2)).")
    return _to_backers(
        cause, facts, K.EARLY_CLOSE, f"{campaign.title} closes early, on {when(deadline)}",
        lambda amount: _lines(
            f"{_title(facts, campaign.id)} met its target and will close early.",
            f"New deadline: {when(deadline)} (it was {when(campaign.deadline)}).",
            right,
            f"Your pledge: {money(amount, campaign.currency)}.",
        ))


def campaign_funded(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.CampaignFunded -> every backer, and the founder (deadline reached)."""
    campaign = facts.campaign
    if campaign is None:
        return []
    raised = money(cause.payload["raised"], campaign.currency)
    notices = _to_backers(
        cause, facts, K.CAMPAIGN_FUNDED, f"{campaign.title} is funded",
        lambda amount: _lines(
            f"{_title(facts, campaign.id)} reached its deadline of {when(campaign.deadline)} "
            f"with {raised} raised: it is funded.",
            f"Your pledge of {money(amount, campaign.currency)} will be settled and shares "
            "issued to you.",
        ))
    return [*notices, _deadline_reached(cause, campaign, f"It is funded, with {raised} raised.")]


def campaign_failed(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.CampaignFailed -> every backer with their refund (227.304(d)), the founder."""
    campaign = facts.campaign
    if campaign is None:
        return []
    raised = money(cause.payload["raised"], campaign.currency)
    reason = (f"it raised {raised}, short of its minimum target of "
              f"{money(campaign.min_target, campaign.currency)}")
    notices = _to_backers(
        cause, facts, K.CAMPAIGN_FAILED, f"{campaign.title} did not reach its target",
        lambda amount: _lines(
            f"{_title(facts, campaign.id)} reached its deadline of {when(campaign.deadline)} "
            "and did not complete.",
            f"Reason: {reason}.",
            f"Refund: your {money(amount, campaign.currency)} is returned to you in full.",
        ))
    return [*notices, _deadline_reached(cause, campaign, f"It failed: {reason}.")]


def _deadline_reached(cause: Cause, campaign: CampaignFacts, outcome: str) -> Notice:
    return _notice(
        cause, K.DEADLINE_REACHED, campaign.founder_id,
        f"{campaign.title} reached its deadline",
        _lines(f"Your offering {_title(Facts(campaign=campaign), campaign.id)} reached its "
               f"deadline of {when(campaign.deadline)}.", outcome),
        campaign.id)


def campaign_cancelled(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.CampaignCancelled -> every backer with their refund; the founder when
    staff cancelled it."""
    campaign = facts.campaign
    if campaign is None:
        return []
    reason = str(cause.payload.get("reason", ""))
    notices = _to_backers(
        cause, facts, K.CAMPAIGN_CANCELLED, f"{campaign.title} was cancelled",
        lambda amount: _lines(
            f"{_title(facts, campaign.id)} was cancelled on {when(cause.occurred_at)}.",
            f"Reason: {reason}",
            f"Refund: your {money(amount, campaign.currency)} is returned to you in full.",
        ))
    if str(cause.payload.get("by")) != campaign.founder_id:
        notices.append(_notice(
            cause, K.CAMPAIGN_CANCELLED, campaign.founder_id,
            f"{campaign.title} was cancelled by the platform",
            _lines(f"A risk officer cancelled {_title(facts, campaign.id)} on "
                   f"{when(cause.occurred_at)}.", f"Reason: {reason}",
                   "Every backer is refunded in full."),
            campaign.id))
    return notices


def campaign_update(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.UpdatePosted (not the notice of a material change) -> every backer."""
    campaign = facts.campaign
    if campaign is None or cause.payload.get("material"):
        return []
    title, text = str(cause.payload["title"]), str(cause.payload["body"])
    return _to_backers(
        cause, facts, K.CAMPAIGN_UPDATE, f"Update from {campaign.title}: {title}",
        lambda amount: _lines(
            f"{campaign.issuer} posted an update on {when(cause.occurred_at)}:", "",
            title, "", text))


def window_closing(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.CancellationWindowClosing (the scheduler, a day ahead) -> every backer."""
    campaign = facts.campaign
    if campaign is None:
        return []
    closes = when(cause.payload["closes_at"])
    return _to_backers(
        cause, facts, K.CANCELLATION_WINDOW_CLOSING,
        f"Last day to cancel your pledge to {campaign.title}",
        lambda amount: _lines(
            f"You may cancel your pledge of {money(amount, campaign.currency)} to "
            f"{_title(facts, campaign.id)} until {closes}.",
            "After that it can no longer be cancelled: it stands until the deadline of "
            f"{when(campaign.deadline)} (17 CFR 227.304(a)).",
        ))


def campaign_reviewed(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.CampaignApproved / CampaignRejected -> the founder."""
    campaign = facts.campaign
    if campaign is None:
        return []
    if cause.type == "CampaignApproved":
        return [_notice(
            cause, K.CAMPAIGN_APPROVED, campaign.founder_id, f"{campaign.title} is approved",
            _lines(f"A risk officer approved {_title(facts, campaign.id)} on "
                   f"{when(cause.occurred_at)}.", "You can launch it now."), campaign.id)]
    return [_notice(
        cause, K.CAMPAIGN_REJECTED, campaign.founder_id, f"{campaign.title} was not approved",
        _lines(f"A risk officer rejected {_title(facts, campaign.id)} on "
               f"{when(cause.occurred_at)}.",
               f"Reason: {cause.payload.get('reason', '')}",
               "You can amend it and submit it again."), campaign.id)]


def kyc_decided(cause: Cause, facts: Facts) -> list[Notice]:
    """User.InvestorVerified / InvestorRejected -> the investor."""
    user = cause.stream_id
    if cause.type == "InvestorVerified":
        return [_notice(cause, K.KYC_VERIFIED, user, "Your investor profile is verified",
                        f"Your investor profile was verified on {when(cause.occurred_at)}. "
                        "You can pledge now.", None)]
    return [_notice(cause, K.KYC_REJECTED, user, "Your investor profile was not verified",
                    _lines(f"Your investor profile was rejected on {when(cause.occurred_at)}.",
                           f"Reason: {cause.payload.get('reason', '')}",
                           "You can submit a corrected profile."), None)]


def shares_issued(cause: Cause, facts: Facts) -> list[Notice]:
    """Campaign.EscrowReleased (settlement) -> each backer whose pledges were settled."""
    campaign = facts.campaign
    if campaign is None:
        return []
    per_backer: dict[str, Decimal] = {}
    for backer, amount in facts.settled.values():
        per_backer[backer] = per_backer.get(backer, Decimal("0")) + amount
    notices = []
    for backer, amount in sorted(per_backer.items()):
        shares = int(amount / campaign.price_per_share)
        notices.append(_notice(
            cause, K.SHARES_ISSUED, backer, f"Shares issued: {shares:,} of {campaign.title}",
            _lines(f"{shares:,} shares of {campaign.issuer} ({_title(facts, campaign.id)}) were "
                   f"issued to you on {when(cause.occurred_at)}, at "
                   f"{money(campaign.price_per_share, campaign.currency)} per share, for "
                   f"{money(amount, campaign.currency)}.",
                   "Your pledge is settled: the funds went from escrow to the issuer."),
            campaign.id))
    return notices


def distribution_paid(cause: Cause, facts: Facts) -> list[Notice]:
    """CapTable.DistributionDeclared -> each shareholder with a payout."""
    campaign_id = facts.cap_table_campaign_id
    currency = facts.cap_table_currency
    if campaign_id is None or currency is None:
        return []
    total = money(cause.payload["total"], currency)
    return [_notice(
        cause, K.DISTRIBUTION_PAID, str(item["backer_id"]),
        f"Distribution paid: {money(item['amount'], currency)} from {_name(facts)}",
        _lines(f"{_title(facts, campaign_id)} paid a distribution of {total} to its "
               f"shareholders on {when(cause.occurred_at)}.",
               f"Your payout, pro rata to your shares: {money(item['amount'], currency)}."),
        campaign_id) for item in cause.payload.get("payouts") or []]


def _name(facts: Facts) -> str:
    return facts.campaign.title if facts.campaign is not None else "your investment"


def question_asked(cause: Cause, facts: Facts) -> list[Notice]:
    """Question.QuestionAsked -> the campaign's founder (unless they asked it)."""
    p = cause.payload
    founder, asker = str(p["founder_id"]), str(p["asker_id"])
    if founder == asker:
        return []
    campaign_id = str(p["campaign_id"])
    return [_notice(
        cause, K.QUESTION_ASKED, founder, f"New question on {_name(facts)}",
        _lines(f"Someone asked a question on {_title(facts, campaign_id)} on "
               f"{when(cause.occurred_at)}:", "", str(p["body"]), "",
               "Answer it on the campaign page; answers are public."),
        campaign_id)]


def question_answered(cause: Cause, facts: Facts) -> list[Notice]:
    """Question.QuestionAnswered -> the asker (unless the founder answered themself)."""
    asker, campaign_id = facts.asker_id, facts.question_campaign_id
    if asker is None or asker == str(cause.payload.get("answerer_id")):
        return []
    return [_notice(
        cause, K.QUESTION_ANSWERED, asker, f"Your question on {_name(facts)} was answered",
        _lines(f"The founder answered your question on {when(cause.occurred_at)}:", "",
               str(cause.payload["body"])),
        campaign_id)]


RULES: dict[str, Rule] = {
    "PledgePlaced": pledge_confirmed,
    "PledgeReleased": pledge_released,
    "EscrowReleased": shares_issued,
    "ReconfirmationReminded": reconfirmation_reminded,
    "MaterialChangeMade": material_change,
    "EarlyCloseScheduled": early_close,
    "CampaignFunded": campaign_funded,
    "CampaignFailed": campaign_failed,
    "CampaignCancelled": campaign_cancelled,
    "UpdatePosted": campaign_update,
    "CancellationWindowClosing": window_closing,
    "CampaignApproved": campaign_reviewed,
    "CampaignRejected": campaign_reviewed,
    "InvestorVerified": kyc_decided,
    "InvestorRejected": kyc_decided,
    "DistributionDeclared": distribution_paid,
    "QuestionAsked": question_asked,
    "QuestionAnswered": question_answered,
}


def notices_for(cause: Cause, facts: Facts) -> list[Notice]:
    """Every notice `cause` makes (none for most events)."""
    rule = RULES.get(cause.type)
    return rule(cause, facts) if rule is not None else []
