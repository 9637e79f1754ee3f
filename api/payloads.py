"""Mutation payloads and result unions (each union is payload | problems)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api import auth
from api.finance import Distribution, DistributionPreview
from api.offering_types import Document
from api.problems import (
    InvalidState,
    InvestmentLimitExceeded,
    MaxTargetExceeded,
    NotAllowed,
    NotFound,
    RiskAcknowledgementRequired,
    ValidationProblem,
)
from api.scalars import Long
from api.types import (
    Campaign,
    CampaignUpdate,
    Pledge,
    User,
    campaign_from_record,
    campaign_from_view,
)


@strawberry.type
class AuthPayload:
    token: str
    user: User
    # Added to the contract: signUp's write position (signIn: the log head), for caughtUp.
    position: Long


@strawberry.type
class InvestorProfileSaved:
    user: User
    position: Long


async def fresh_campaign(info: Info[Any, Any], campaign_id: str, position: int) -> Campaign:
    """The campaign as of `position`: the read model once it has applied the write,
    else the write model (read-your-writes without waiting for the projections)."""
    services = auth.context(info).services
    read_models = services.read_models

    def load() -> Campaign:
        view = read_models.campaign(campaign_id)
        if view is not None and (
            view.last_position >= position or read_models.applied_through() >= position
        ):
            return campaign_from_view(view)
        record = services.app.campaign(campaign_id)
        # The aggregate does not count backers; no money raised means nobody backs it.
        backers = view.backer_count if view is not None and record.raised > 0 else 0
        return campaign_from_record(record, backers, position)

    return await services.run(load)


@strawberry.type
class CampaignSaved:
    position: Long
    campaign_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        return await fresh_campaign(info, self.campaign_id, self.position)


@strawberry.type
class PledgeSaved:
    pledge: Pledge
    position: Long


@strawberry.type
class UpdatePosted:
    update: CampaignUpdate
    position: Long


@strawberry.type
class DistributionDeclared:
    distribution: Distribution
    position: Long


@strawberry.type
class RoleGranted:
    user: User
    position: Long


@strawberry.type
class KnowledgeTestTaken:
    passed: bool
    score: int
    out_of: int
    position: Long


@strawberry.type
class DocumentUploaded:
    document: Document
    position: Long


@strawberry.type
class ClockSet:
    now: datetime
    position: Long


AuthResult = Annotated[
    AuthPayload | ValidationProblem | NotAllowed, strawberry.union("AuthResult")
]
InvestorProfileResult = Annotated[
    InvestorProfileSaved | ValidationProblem | NotAllowed | InvalidState,
    strawberry.union("InvestorProfileResult"),
]
CampaignResult = Annotated[
    CampaignSaved | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("CampaignResult"),
]
PledgeResult = Annotated[
    PledgeSaved | ValidationProblem | NotAllowed | NotFound | InvalidState
    | InvestmentLimitExceeded | MaxTargetExceeded | RiskAcknowledgementRequired,
    strawberry.union("PledgeResult"),
]
UpdateResult = Annotated[
    UpdatePosted | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("UpdateResult"),
]
DistributionResult = Annotated[
    DistributionDeclared | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("DistributionResult"),
]
DistributionPreviewResult = Annotated[
    DistributionPreview | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("DistributionPreviewResult"),
]
RoleResult = Annotated[
    RoleGranted | ValidationProblem | NotAllowed | NotFound, strawberry.union("RoleResult")
]
DocumentResult = Annotated[
    DocumentUploaded | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("DocumentResult"),
]
ClockResult = Annotated[ClockSet | NotAllowed | ValidationProblem, strawberry.union("ClockResult")]
KnowledgeTestResult = Annotated[
    KnowledgeTestTaken | ValidationProblem | NotAllowed | InvalidState,
    strawberry.union("KnowledgeTestResult"),
]


@strawberry.type
class SignedOut:
    ok: bool


@strawberry.type
class PasswordResetRequested:
    ok: bool


@strawberry.type
class TotpEnrollment:
    secret: str = strawberry.field(description="Base32 secret.")
    otpauth_uri: str = strawberry.field(description="otpauth:// URI for authenticator apps.")
    # Added to the contract: the URI as a QR code, and the codes for a lost device.
    qr_code: str = strawberry.field(
        description="The otpauth URI as a QR code: an SVG image as a data: URL."
    )
    recovery_codes: list[str] = strawberry.field(
        description="Ten single-use codes for signing in without the device; shown once, "
        "valid once the enrollment is confirmed."
    )


SignedOutResult = Annotated[SignedOut | NotAllowed, strawberry.union("SignedOutResult")]
TotpEnrollmentResult = Annotated[
    TotpEnrollment | NotAllowed | InvalidState, strawberry.union("TotpEnrollmentResult")
]
