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
from domain.rulebook import Regime, ecsp_risk_threshold
from domain.user import User


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
    the errors take precedence)."""
    profile = backer.require_verified_investor()
    backer.require_not_frozen()
    value = pledging.amount
    shares = campaign.check_pledge(value, now)
    if campaign.regime is Regime.REG_CF:
        headroom = backer.reg_cf_headroom(now)
        if headroom.limit is not None and headroom.used + value > headroom.limit:
            raise InvestmentLimitExceeded(
                headroom.limit, headroom.remaining or ZERO, campaign.currency
            )
    elif not profile.sophisticated:
        if not profile.knowledge_test_passed:
            raise InvalidStateError(
                "Pass the entry knowledge test in your investor profile before "
                "pledging to an ECSP offering.", "KNOWLEDGE_TEST_REQUIRED",
            )
        threshold = ecsp_risk_threshold(profile.net_worth)
        if value > threshold and not pledging.acknowledge_risk:
            raise RiskAcknowledgementRequired(threshold, campaign.currency)
    return shares


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
        cancellable_until=_cancellable_at_placement(campaign, now), id=pledge_id,
    )
    campaign.accept_pledge(str(pledge_id), str(backer.id), value, shares)
    backer.commit_investment(str(pledge_id), str(campaign.id), campaign.regime.value, value, now)
    return [pledge, campaign, backer]


def _cancellable_at_placement(campaign: Campaign, now: datetime) -> datetime | None:
    """What the PledgePlaced event records: ECSP's reflection period end; REG_CF's
    window follows the deadline, so the event records the cutoff as it stood."""
    ends = reflection_period_end(campaign.regime, now)
    if ends is not None:
        return ends
    cutoff = cancellation_cutoff(campaign.regime, campaign.terms.deadline)
    return cutoff if cutoff is not None and now < cutoff else None


def release_pledge(
    campaign: Campaign, pledge: Pledge, backer: User, reason: str
) -> list[Aggregate]:
    """A cancelled or refunded pledge's funds go back and stop counting against the backer."""
    campaign.release_pledge(str(pledge.id), pledge.backer_id, pledge.amount, reason)
    backer.release_investment(str(pledge.id))
    return [pledge, campaign, backer]
