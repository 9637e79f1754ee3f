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


@strawberry.enum
class SecurityType(Enum):
    COMMON_EQUITY = "COMMON_EQUITY"
    PREFERRED_EQUITY = "PREFERRED_EQUITY"
    SAFE = "SAFE"
    CONVERTIBLE_NOTE = "CONVERTIBLE_NOTE"
    REVENUE_SHARE = "REVENUE_SHARE"


@strawberry.enum
class DocumentKind(Enum):
    FORM_C = strawberry.enum_value(
        "FORM_C", description="REG_CF: the issuer's offering statement (Form C). One is "
        "required before submitCampaign.",
    )
    KIIS = strawberry.enum_value(
        "KIIS", description="ECSP: the key investment information sheet (Art. 23). One is "
        "required before submitCampaign.",
    )
    FINANCIAL_STATEMENTS = "FINANCIAL_STATEMENTS"
    PITCH_DECK = "PITCH_DECK"
    IMAGE = "IMAGE"
    OTHER = "OTHER"


# Statuses anyone may see; the others are the founder's and the staff's business.
PUBLIC_CAMPAIGN_STATUSES = frozenset({
    CampaignStatus.LIVE, CampaignStatus.FUNDED, CampaignStatus.FAILED,
    CampaignStatus.CANCELLED, CampaignStatus.SETTLED,
})


@strawberry.enum(description="A step of a campaign's review.")
class ReviewAction(Enum):
    SUBMITTED = strawberry.enum_value("SUBMITTED", description="The founder submitted it.")
    APPROVED = strawberry.enum_value("APPROVED", description="A risk officer approved it.")
    REJECTED = strawberry.enum_value(
        "REJECTED", description="A risk officer rejected it, with a reason."
    )
