"""What notices a log owes, worked out independently of the notifier: one pass over
the whole log in order, for the kinds a pledge load makes (the fault run's and the
SIGKILL test's oracle). Returns a multiset of (kind, recipient, pledge id or "")."""

from __future__ import annotations

from collections import Counter
from typing import Any

from application.crowdfund import Crowdfund
from projections.envelope import names_of

Owed = Counter[tuple[str, str, str]]


def owed_by_log(app: Crowdfund) -> Owed:
    owed: Owed = Counter()
    founders: dict[str, str] = {}
    backings: dict[str, dict[str, str]] = {}  # campaign -> pledge -> backer (not released)
    after = 0
    while True:
        page = app.recorder.select_notifications(after, 2000, inclusive_of_start=False)
        if not page:
            return owed
        for note in page:
            _, kind = names_of(note.topic)
            stream = str(note.originator_id)
            event: Any = None
            if kind in WANTED:
                event = app.mapper.to_domain_event(note)
            if kind == "CampaignDrafted":
                founders[stream] = event.founder_id
                backings[stream] = {}
            elif kind == "PledgePlaced":
                owed[("PLEDGE_CONFIRMED", event.backer_id, stream)] += 1
            elif kind == "PledgeAccepted":
                backings[stream][event.pledge_id] = event.backer_id
            elif kind == "PledgeReleased":
                backings[stream].pop(event.pledge_id, None)
                released = {"cancelled": "PLEDGE_CANCELLED", "refunded": "REFUND_ISSUED"}
                owed[(released.get(event.reason, "PLEDGE_AUTO_CANCELLED"), event.backer_id,
                      event.pledge_id)] += 1
            elif kind == "EscrowReleased":
                for backer in {backings[stream][p] for p in event.pledge_ids}:
                    owed[("SHARES_ISSUED", backer, "")] += 1
            elif kind in ("CampaignFunded", "CampaignFailed"):
                for backer in set(backings[stream].values()):
                    owed[(kind.replace("Campaign", "CAMPAIGN_").upper(), backer, "")] += 1
                owed[("DEADLINE_REACHED", founders[stream], "")] += 1
            elif kind in ("CampaignApproved", "CampaignRejected"):
                owed[(kind.replace("Campaign", "CAMPAIGN_").upper(), founders[stream], "")] += 1
            elif kind in ("InvestorVerified", "InvestorRejected"):
                owed[({"InvestorVerified": "KYC_VERIFIED"}.get(kind, "KYC_REJECTED"), stream,
                       "")] += 1
        after = page[-1].id


WANTED = frozenset({
    "CampaignDrafted", "PledgePlaced", "PledgeAccepted", "PledgeReleased", "EscrowReleased",
    "CampaignFunded",
    "CampaignFailed", "CampaignApproved", "CampaignRejected", "InvestorVerified",
    "InvestorRejected",
})


def stored_as_owed(notices: list[dict[str, Any]]) -> Owed:
    return Counter((n["kind"], n["recipient_id"],
                    n["pledge_id"] if n["kind"] in PER_PLEDGE else "") for n in notices)


PER_PLEDGE = frozenset({"PLEDGE_CONFIRMED", "PLEDGE_CANCELLED", "REFUND_ISSUED",
                        "PLEDGE_AUTO_CANCELLED"})
