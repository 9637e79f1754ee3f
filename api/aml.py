"""Anti-money-laundering in GraphQL: sanctions screening results, AML alerts
(`amlAlerts`) and risk officers' decisions (`decideAlert`). docs/aml.md."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api import auth
from api.problems import InvalidState, NotAllowed, NotFound, ValidationProblem
from api.resolvers.common import Outcome, mutate, read
from api.scalars import Long
from api.types import Campaign, User, campaign_from_view, clamp_first, load_user
from application.unit_of_work import Written
from domain.aml_alert import AmlAlert as AlertRecord
from domain.screening import Screening as ScreeningRecord
from domain.user import Role as DomainRole
from projections.aml_alerts import AlertView, list_alerts

READERS = (DomainRole.RISK_OFFICER, DomainRole.AUDITOR)
MAX_ALERTS = 500


@strawberry.enum
class AlertStatus(Enum):
    OPEN = "OPEN"
    DISMISSED = "DISMISSED"
    ESCALATED = "ESCALATED"


@strawberry.enum
class ScreeningStatus(Enum):
    CLEAR = "CLEAR"
    POSSIBLE_MATCH = "POSSIBLE_MATCH"


@strawberry.type
class ScreeningMatch:
    list_name: str = strawberry.field(description="e.g. OFAC-SDN")
    entry_id: str
    name: str
    score: float = strawberry.field(description="0 to 1.")
    programs: list[str]


@strawberry.type
class Screening:
    status: ScreeningStatus
    screened_at: datetime
    list_version: str
    matches: list[ScreeningMatch]


def screening_from_record(record: ScreeningRecord) -> Screening:
    """What the KYC queue shows of an investor's latest screening (`app.aml.screening_of`)."""
    return Screening(
        status=ScreeningStatus(record.status.value), screened_at=record.screened_at,
        list_version=record.list_version,
        matches=[ScreeningMatch(list_name=m.list_name, entry_id=m.entry_id, name=m.name,
                                score=m.score, programs=list(m.programs))
                 for m in record.matches],
    )


@strawberry.type
class AmlAlert:
    id: strawberry.ID
    rule: str = strawberry.field(description="SANCTIONS_MATCH, STRUCTURING, RAPID_CANCEL_CYCLE, "
                                 "SELF_DEALING, DUPLICATE_IDENTITY or VELOCITY; more may be added.")
    raised_at: datetime
    details: str = strawberry.field(description="What the rule saw, without personal data.")
    status: AlertStatus
    decision_note: str | None
    subject_id: strawberry.Private[str]
    campaign_id: strawberry.Private[str | None]
    decided_by_id: strawberry.Private[str | None]

    @strawberry.field
    async def subject(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.subject_id)

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign | None:
        if self.campaign_id is None:
            return None
        view = await auth.context(info).loaders.campaigns.load(self.campaign_id)
        return None if view is None else campaign_from_view(view)

    @strawberry.field
    async def decided_by(self, info: Info[Any, Any]) -> User | None:
        return None if self.decided_by_id is None else await load_user(info, self.decided_by_id)


def _from_view(view: AlertView) -> AmlAlert:
    return AmlAlert(
        id=strawberry.ID(view.id), rule=view.rule, raised_at=view.raised_at,
        details=view.details, status=AlertStatus(view.status),
        decision_note=view.decision_note, subject_id=view.subject_id,
        campaign_id=view.campaign_id, decided_by_id=view.decided_by,
    )


def _from_record(record: AlertRecord) -> AmlAlert:
    return AmlAlert(
        id=strawberry.ID(str(record.id)), rule=record.rule.value, raised_at=record.raised_at,
        details=record.details, status=AlertStatus(record.status.value),
        decision_note=record.decision_note, subject_id=record.subject_id,
        campaign_id=record.campaign_id, decided_by_id=record.decided_by,
    )


@strawberry.type
class AlertDecided:
    alert: AmlAlert
    position: Long


AlertResult = Annotated[
    AlertDecided | ValidationProblem | NotAllowed | NotFound | InvalidState,
    strawberry.union("AlertResult"),
]


async def _alert_decided(info: Info[Any, Any], written: Written[Any]) -> AlertDecided:
    services = auth.context(info).services
    record = await services.run(services.app.aml.alert, written.value)
    return AlertDecided(alert=_from_record(record), position=Long(written.position))


ALERT_DECIDED = Outcome(AlertResult, _alert_decided)


async def aml_alerts(
    info: Info[Any, Any], status: AlertStatus | None = AlertStatus.OPEN,
    first: int | None = 50,
    rule: Annotated[str | None, strawberry.argument(
        description="Only alerts of this rule, e.g. SANCTIONS_MATCH (a queue worked one "
        "rule at a time).")] = None,
) -> list[AmlAlert]:
    """Risk officers and auditors: alerts in `status` (default OPEN), oldest first."""
    auth.require_role(info, *READERS, doing="read AML alerts")
    services = auth.context(info).services
    limit = clamp_first(first, 50)
    wanted = (status or AlertStatus.OPEN).value
    views = await read(info, list_alerts, services.read_models.engine, wanted,
                       min(limit, MAX_ALERTS), rule)
    return [_from_view(v) for v in views]


async def decide_alert(
    info: Info[Any, Any], alert_id: strawberry.ID, decision: AlertStatus, note: str
) -> AlertResult:
    """Risk officers: DISMISSED clears a screening hold; ESCALATED freezes the subject's
    pledging. Never on an alert about themself."""
    return await mutate(info, ALERT_DECIDED, lambda app, who: app.aml.decide_alert(
        who.id, str(alert_id), decision.value, note))
