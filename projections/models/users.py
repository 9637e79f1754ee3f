"""Users without personal data: display name, roles, KYC status, investor flags."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel

KYC = {"InvestorVerified": "VERIFIED", "InvestorRejected": "REJECTED"}


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.users).prefetch((e.stream_id,) for e in events)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    users = batch.rows(t.users)
    if e.type == "UserRegistered":
        users.insert({
            "id": e.stream_id, "display_name": p["display_name"], "roles": ",".join(p["roles"]),
            "kyc_status": "NOT_SUBMITTED", "country": None, "accredited": False,
            "sophisticated": False, "knowledge_test_passed": False,
            "registered_at": e.occurred_at, "profile_submitted_at": None,
            "last_position": e.position,
        })
        return
    row = users.require(e.stream_id)
    row["last_position"] = e.position
    if e.type == "RoleGranted":
        granted = [r for r in row["roles"].split(",") if r]
        if p["role"] not in granted:
            row["roles"] = ",".join([*granted, p["role"]])
    elif e.type == "InvestorProfileSubmitted":
        # Its knowledge_test_passed was the browser's claim: only KnowledgeTestTaken counts.
        row.update(kyc_status="PENDING", country=p["country"],
                   accredited=bool(p["accredited"]), sophisticated=bool(p["sophisticated"]),
                   profile_submitted_at=e.occurred_at)
    elif e.type == "KnowledgeTestTaken":
        # The latest attempt under any regime (expiry is the write model's to judge).
        row["knowledge_test_passed"] = bool(p["passed"])
    elif e.type in KYC:
        row["kyc_status"] = KYC[e.type]


MODEL = ReadModel(
    name="users",
    tables=(t.users,),
    handles=frozenset({
        "UserRegistered", "RoleGranted", "InvestorProfileSubmitted", "KnowledgeTestTaken", *KYC,
    }),
    apply=apply,
    prefetch=prefetch,
)
