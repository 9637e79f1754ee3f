"""How the domain's value objects are stored in events and snapshots."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.aml_alert import AlertRule, AlertStatus
from domain.campaign import CampaignStatus, CampaignTerms
from domain.chain import iso_text
from domain.issuer import Offering, Sale
from domain.offering import Disclosure, Document, DocumentKind, SecurityType
from domain.pledge import PledgeStatus
from domain.rulebook import Regime
from domain.screening import Screening, ScreeningMatch, ScreeningStatus
from domain.user import Commitment, Finances, InvestorProfile, KnowledgeTestResult, KycStatus


class EnumAsValue(Transcoding):
    def __init__(self, enum_type: type[Enum]) -> None:
        self.type = enum_type
        self.name = f"enum_{enum_type.__name__}"

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class DataclassAsDict(Transcoding):
    def __init__(self, cls: type) -> None:
        self.type = cls
        self.name = f"dc_{cls.__name__}"

    def encode(self, obj: Any) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class DatetimeAsISO(Transcoding):
    """The library's `datetime_iso`, with the text of a recent instant remembered."""

    type = datetime
    name = "datetime_iso"

    def encode(self, obj: datetime) -> str:
        return iso_text(obj)

    def decode(self, data: str) -> datetime:
        return datetime.fromisoformat(data)


class ScreeningAsDict(Transcoding):
    """A user's latest screening in snapshots, its matches as their event form."""

    type = Screening
    name = "screening"

    def encode(self, obj: Screening) -> dict[str, Any]:
        return {"status": obj.status.value, "screened_at": obj.screened_at,
                "list_name": obj.list_name, "list_version": obj.list_version,
                "matches": [m.as_event_field() for m in obj.matches]}

    def decode(self, data: dict[str, Any]) -> Screening:
        return Screening(
            ScreeningStatus(data["status"]), data["screened_at"], data["list_name"],
            data["list_version"],
            tuple(ScreeningMatch.from_event_field(m) for m in data["matches"]),
        )


class DisclosureAsFields(Transcoding):
    """An offering's disclosure in a snapshot: the fields its event carries."""

    type = Disclosure
    name = "offering_disclosure"

    def encode(self, obj: Disclosure) -> dict[str, Any]:
        return obj.as_event_fields()

    def decode(self, data: dict[str, Any]) -> Disclosure:
        return Disclosure.from_event_fields(**data)


def domain_transcodings() -> list[Transcoding]:
    enums: list[type[Enum]] = [
        CampaignStatus, PledgeStatus, Regime, KycStatus, AlertStatus, AlertRule, SecurityType,
        DocumentKind,
    ]
    classes: list[type] = [
        CampaignTerms, InvestorProfile, Commitment, Finances, KnowledgeTestResult, Offering, Sale,
        Document,
    ]
    return [
        DatetimeAsISO(), ScreeningAsDict(), DisclosureAsFields(),
        *(EnumAsValue(e) for e in enums),
        *(DataclassAsDict(c) for c in classes),
    ]
