"""The rules of a pledge: every check it must pass, and the events it makes.

Pure decisions over the aggregates a pledge touches (the backer, the campaign);
the application layer loads them, calls these, and saves what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.campaign import Campaign
from domain.cancellation import cancellation_cutoff, reflection_period_end
from domain.errors import (
    InvalidStateError,
    InvestmentLimitExceeded,
    RiskAcknowledgementRequired,
    ValidationError,
)
from domain.money import ZERO
from domain.pledge import Pledge
from domain.rulebook import Regime
from domain.user import InvestorProfile, User


@dataclass(frozen=True)
class Pledging:
    """A pledge with valid input: what the decision works on."""

    backer_id: UUID | str
    campaign_id: UUID | str
    amount: Decimal
    pledge_id: UUID
    acknowledge_risk: bool


class KnownPledge(Protocol):
    """What an idempotency check reads of an earlier pledge (a `Pledge` has it all)."""

    @property
    def id(self) -> UUID: ...

    @property
    def campaign_id(self) -> str: ...

    @property
    def amount(self) -> Decimal: ...


def require_same_pledge(earlier: KnownPledge, pledging: Pledging) -> None:
    """A repeated idempotency key must repeat the same pledge."""
    try:  # any spelling of the same campaign's UUID is the same campaign
        campaign_id = str(UUID(str(pledging.campaign_id)))
    except ValueError:
        campaign_id = str(pledging.campaign_id)
    if earlier.campaign_id != campaign_id or earlier.amount != pledging.amount:
        raise ValidationError(
            "This idempotency key was already used for a different pledge; "
            "use a new key for a new pledge.", "idempotencyKey", "IDEMPOTENCY_KEY_REUSED",
        )


def check_pledge(pledging: Pledging, backer: User, campaign: Campaign, now: datetime) -> int:
    """The number of shares the pledge buys, or the first rule it breaks (in the order
    the errors take precedence): staff, KYC, the campaign, the knowledge test, the
    investment limit, the risk acknowledgement."""
    backer.require_not_staff("pledge")
    profile = backer.require_verified_investor()
    backer.require_not_frozen()
    value = pledging.amount
    shares = campaign.check_pledge(value, now)
    if campaign.regime is Regime.REG_CF:
        _check_reg_cf(pledging, backer, campaign, now)
    else:
        _check_ecsp(pledging, backer, profile, campaign, now)
    return shares


def _check_reg_cf(pledging: Pledging, backer: User, campaign: Campaign, now: datetime) -> None:
    if not backer.knowledge_test_passed(Regime.REG_CF, now):
        # 17 CFR 227.303(b)(2)(i): the questionnaire is passed before any commitment.
        raise InvalidStateError(
            "Pass the Reg CF investor questionnaire (knowledgeTest, takeKnowledgeTest) "
            "before pledging; it is valid for 2 years.", "KNOWLEDGE_TEST_REQUIRED",
        )
    headroom = backer.reg_cf_headroom(now)
    if headroom.limit is not None and headroom.used + pledging.amount > headroom.limit:
        raise InvestmentLimitExceeded(
            headroom.limit, headroom.remaining or ZERO, campaign.currency
        )
    if not pledging.acknowledge_risk:
        # 17 CFR 227.303(b)(2)(ii): on every commitment, the investor represents that
        # they can lose the whole amount and can bear that loss.
        raise RiskAcknowledgementRequired(ZERO, campaign.currency)


def _check_ecsp(
    pledging: Pledging, backer: User, profile: InvestorProfile, campaign: Campaign,
    now: datetime,
) -> None:
    if profile.sophisticated or pledging.acknowledge_risk:
        return
    if not backer.knowledge_test_passed(Regime.ECSP, now):
        # Art. 21(4): without a passed test the investor is warned and acknowledges the
        # warning on every pledge; not passing does not bar them.
        raise RiskAcknowledgementRequired(ZERO, campaign.currency)
    # Art. 21(7): the investor's open pledges in this offer count, not this one alone.
    threshold = backer.ecsp_risk_threshold()
    if backer.open_in(str(campaign.id)) + pledging.amount > threshold:
        raise RiskAcknowledgementRequired(threshold, campaign.currency)


def place_pledge(
    pledging: Pledging, backer: User, campaign: Campaign, shares: int, now: datetime
) -> list[Aggregate]:
    """The events of an accepted pledge (raises no `DomainError`): the new pledge, the
    campaign's escrow, the backer's commitment. The pledge comes first."""
    value, pledge_id = pledging.amount, pledging.pledge_id
    pledge = Pledge(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
        campaign_id=str(campaign.id), backer_id=str(backer.id),
        regime=campaign.regime.value, currency=campaign.currency, amount=value,
        shares=shares, pledged_at=now, terms_version=campaign.terms_version,
        risk_acknowledged=pledging.acknowledge_risk,
        cancellable_until=_cancellable_at_placement(campaign, backer, now), id=pledge_id,
    )
    campaign.accept_pledge(str(pledge_id), str(backer.id), value, shares)
    backer.commit_investment(str(pledge_id), str(campaign.id), campaign.regime.value, value, now)
    return [pledge, campaign, backer]


def _cancellable_at_placement(campaign: Campaign, backer: User, now: datetime) -> datetime | None:
    """What the PledgePlaced event records: ECSP's reflection period end (in the
    investor's time zone); REG_CF's window follows the deadline, so the event records
    the cutoff as it stood."""
    country = backer.profile.country if backer.profile is not None else None
    ends = reflection_period_end(campaign.regime, now, country)
    if ends is not None:
        return ends
    cutoff = cancellation_cutoff(campaign.regime, campaign.terms.deadline)
    return cutoff if cutoff is not None and now < cutoff else None


def revoke_pledge(
    campaign: Campaign, pledge: Pledge, backer: User, now: datetime
) -> list[Aggregate]:
    """The backer cancels (ECSP: revokes) an open pledge. After the deadline, in a
    reflection period, the funds are refunded at once; if that takes a FUNDED campaign
    below its minimum target, the campaign fails and every backer is refunded."""
    pledge.cancel("cancelled by the backer")
    touched = release_pledge(campaign, pledge, backer, "cancelled")
    campaign.fail_if_below_target()
    return touched


def release_pledge(
    campaign: Campaign, pledge: Pledge, backer: User, reason: str
) -> list[Aggregate]:
    """A cancelled or refunded pledge's funds go back and stop counting against the backer."""
    campaign.release_pledge(str(pledge.id), pledge.backer_id, pledge.amount, reason)
    backer.release_investment(str(pledge.id))
    return [pledge, campaign, backer]
