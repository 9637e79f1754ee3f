"""Personal data shown to staff: the KYC queue (`kycQueue`) and the record of who was
shown whose data (`dataAccessLog`). Every read by someone other than the subject is
recorded first (`auth.shown`, `application.data_access`); docs/security.md."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api.aml import Screening, screening_from_record
from api.resolvers.common import read
from api.types import User, clamp_first, load_user, user_from_record
from application.crowdfund import Crowdfund
from application.data_access import DataAccess as AccessRecord
from domain.user import KycStatus
from domain.user import Role as DomainRole
from domain.user import User as UserRecord

MAX_ACCESSES = 1000  # the newest; the table keeps them all


@strawberry.type(description="A PENDING investor profile as a risk officer reviews it. Reading "
                 "one is recorded (see dataAccessLog).")
class KycApplication:
    user: User
    legal_name: str
    date_of_birth: str
    country: str
    annual_income: Decimal
    net_worth: Decimal
    accredited: bool
    sophisticated: bool
    submitted_at: datetime
    screening: Screening


@strawberry.type(description="Who read a user's personal data, when, and through what.")
class DataAccess:
    at: datetime
    purpose: str
    viewer_id: strawberry.Private[str]
    subject_id: strawberry.Private[str]

    @strawberry.field
    async def viewer(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.viewer_id)

    @strawberry.field
    async def subject(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.subject_id)


def _applicants(app: Crowdfund, user_ids: list[str]) -> list[UserRecord]:
    """The profiles still PENDING, each screened against the current list (a profile stored
    before screening existed, or screened against an older list, is screened now: the same
    re-screen `verifyInvestor` runs first)."""
    found = []
    for user_id in user_ids:
        app.aml.rescreen(user_id, statuses=(KycStatus.PENDING,))
        record = app.user(user_id)
        if record.kyc_status is KycStatus.PENDING and record.profile is not None:
            found.append(record)  # else decided since the read model was written
    return found


async def kyc_queue(info: Info[Any, Any], first: int | None = 50) -> list[KycApplication]:
    """Risk officers: PENDING profiles, oldest first."""
    auth.require_role(info, DomainRole.RISK_OFFICER, doing="read the KYC queue")
    services = auth.context(info).services
    views = await read(info, services.read_models.kyc_queue, clamp_first(first, 50))
    records = await read(info, _applicants, services.app, [v.id for v in views])
    # Recorded before anything is answered; gathered, so the page is one insert.
    await asyncio.gather(*(auth.shown(info, str(r.id)) for r in records))
    submitted = {v.id: v.profile_submitted_at or v.registered_at for v in views}
    return [_application(r, submitted[str(r.id)]) for r in records]


def _application(record: UserRecord, submitted_at: datetime) -> KycApplication:
    profile, screening = record.profile, record.screening
    assert profile is not None and screening is not None  # PENDING and screened above
    return KycApplication(
        user=user_from_record(record), legal_name=profile.legal_name,
        date_of_birth=profile.date_of_birth, country=profile.country,
        annual_income=profile.annual_income, net_worth=profile.net_worth,
        accredited=profile.accredited, sophisticated=profile.sophisticated,
        submitted_at=submitted_at, screening=screening_from_record(screening),
    )


async def data_access_log(info: Info[Any, Any], user_id: strawberry.ID) -> list[DataAccess]:
    """Auditors, admins, and the subject themself: newest first (the latest 1,000)."""
    who = auth.require_viewer(info)
    if who.id != str(user_id):
        auth.require_role(info, DomainRole.AUDITOR, DomainRole.ADMIN,
                          doing="read another user's data-access log")
    services = auth.context(info).services
    if await auth.context(info).loaders.users.load(str(user_id)) is None:
        raise auth.not_found_error("No user has this id.")
    records: list[AccessRecord] = await read(
        info, services.data_access.of_subject, str(user_id), MAX_ACCESSES)
    return [DataAccess(at=r.at, purpose=r.purpose, viewer_id=r.viewer_id,
                       subject_id=r.subject_id) for r in records]
