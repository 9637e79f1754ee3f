"""What the read models answer: frozen, typed rows for the API and the CLI.

Money is `Decimal` with two fraction digits in the campaign's currency; every
instant is a timezone-aware `datetime` in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a connection: `cursors[i]` is the opaque cursor of `items[i]`."""

    items: tuple[T, ...]
    cursors: tuple[str, ...]
    total_count: int
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


@dataclass(frozen=True)
class CampaignView:
    id: str
    founder_id: str
    title: str
    summary: str
    regime: str  # "REG_CF" | "ECSP"
    currency: str
    status: str  # CampaignStatus value
    min_target: Decimal
    max_target: Decimal
    min_pledge: Decimal
    price_per_share: Decimal
    deadline: datetime
    launched_at: datetime | None
    # ACTIVE + PENDING_RECONFIRMATION + SETTLED pledges = held + released.
    raised: Decimal
    backer_count: int
    # Pledges ever accepted, cancelled and refunded ones included.
    pledge_count: int
    terms_version: int
    reconfirm_by: datetime | None
    # Global position of the last event applied to this campaign's row.
    last_position: int
    drafted_at: datetime
    # Position of CampaignDrafted: the stable order of `campaigns()`.
    seq: int
    held: Decimal
    released: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class PledgeView:
    id: str
    campaign_id: str
    backer_id: str
    amount: Decimal
    shares: int
    status: str  # PledgeStatus value
    pledged_at: datetime
    # As placed: ECSP's end of the reflection period (`domain.cancellation` decides
    # the window from it, the status and the campaign's current deadline).
    reflection_ends: datetime | None
    campaign_deadline: datetime | None
    reconfirm_by: datetime | None
    regime: str
    currency: str
    terms_version: int
    last_position: int
    seq: int


@dataclass(frozen=True)
class UpdateView:
    id: str
    campaign_id: str
    posted_at: datetime
    title: str
    body: str
    material: bool
    position: int


@dataclass(frozen=True)
class TeamMemberView:
    name: str
    role: str
    bio: str | None


@dataclass(frozen=True)
class OfferingView:
    """An offering's disclosure; `OfferingView.empty(id)` until the founder describes it."""

    campaign_id: str
    security_type: str  # SecurityType value
    valuation: Decimal | None
    story: str
    use_of_proceeds: str
    risks: str
    team: tuple[TeamMemberView, ...]

    @classmethod
    def empty(cls, campaign_id: str) -> OfferingView:
        return cls(campaign_id, "COMMON_EQUITY", None, "", "", "", ())


@dataclass(frozen=True)
class DocumentView:
    id: str
    campaign_id: str
    kind: str  # DocumentKind value
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    position: int


@dataclass(frozen=True)
class HoldingView:
    campaign_id: str
    backer_id: str
    shares: int
    amount_invested: Decimal


@dataclass(frozen=True)
class PayoutView:
    backer_id: str
    amount: Decimal


@dataclass(frozen=True)
class DistributionView:
    id: str
    campaign_id: str
    total: Decimal
    declared_at: datetime
    payouts: tuple[PayoutView, ...]
    position: int


@dataclass(frozen=True)
class EscrowView:
    campaign_id: str
    currency: str
    # Funds of open pledges (ACTIVE, PENDING_RECONFIRMATION).
    held: Decimal
    released_to_issuer: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class StatsView:
    live_campaigns: int
    funded_campaigns: int  # FUNDED or SETTLED
    backers: int  # distinct backers with at least one pledge, any status
    pledges: int  # pledges ever placed, cancelled ones included
    raised_usd: Decimal  # sum of `raised` over REG_CF campaigns
    raised_eur: Decimal  # sum of `raised` over ECSP campaigns


@dataclass(frozen=True)
class UserView:
    """What may be shown about a user without personal data (no e-mail, no finances)."""

    id: str
    display_name: str
    roles: tuple[str, ...]
    kyc_status: str  # KycStatus value
    country: str | None
    accredited: bool
    sophisticated: bool
    knowledge_test_passed: bool
    registered_at: datetime
    profile_submitted_at: datetime | None = None


@dataclass(frozen=True)
class EventFilter:
    """Which events of the log an auditor asks for (`eventLog`'s filters); None: any."""

    stream_type: str | None = None
    type: str | None = None
    stream_id: str | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_until: datetime | None = None  # inclusive

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in (self.stream_type, self.type, self.stream_id,
                                       self.occurred_from, self.occurred_until))
