"""GraphQL enums. Own classes (not the domain's) so that decorating them never
touches the domain; values equal the domain's, so converting is `Enum(value)`."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class Role(Enum):
    BACKER = "BACKER"
    FOUNDER = "FOUNDER"
    RISK_OFFICER = "RISK_OFFICER"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


@strawberry.enum(description="The rulebook a campaign is offered under.")
class Regime(Enum):
    REG_CF = strawberry.enum_value(
        "REG_CF", description="US Regulation Crowdfunding (17 CFR 227), USD."
    )
    ECSP = strawberry.enum_value(
        "ECSP",
        description="EU Regulation 2020/1503 (European crowdfunding service providers), EUR.",
    )


@strawberry.enum
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


@strawberry.enum
class PledgeStatus(Enum):
    ACTIVE = "ACTIVE"
    PENDING_RECONFIRMATION = "PENDING_RECONFIRMATION"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    SETTLED = "SETTLED"


@strawberry.enum
class KycStatus(Enum):
    NOT_SUBMITTED = "NOT_SUBMITTED"
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


# Statuses anyone may see; the others are the founder's and the staff's business.
PUBLIC_CAMPAIGN_STATUSES = frozenset({
    CampaignStatus.LIVE, CampaignStatus.FUNDED, CampaignStatus.FAILED,
    CampaignStatus.CANCELLED, CampaignStatus.SETTLED,
})

