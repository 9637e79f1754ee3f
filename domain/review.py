"""The due-diligence checklist a risk officer answers when reviewing a campaign (the
review history that reads it back: application/reviews.py).

A portal must have a reasonable basis for believing an issuer complies with the rules and
must deny access to an issuer that is a "bad actor" or that it believes presents the
potential for fraud (Reg CF: 17 CFR 227.301(a) and (c), 227.503; ECSP: Reg. (EU)
2020/1503 Art. 5 "due diligence" on project owners, Art. 23 the key investment
information sheet). The checklist records what the officer checked; its answers travel
in the CampaignApproved or CampaignRejected event, so the audit trail shows them.

Rule (docs/rules.md): an approval with a checklist needs every item ticked. An approval
without one is accepted as before the checklist existed (older clients), and recorded
as such (`checklist` null).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from domain.errors import ValidationError

# The items, in the order a reviewer goes through them, with what each one asserts.
ITEMS: dict[str, str] = {
    "founders_identified": "the identity of the founders (the issuer's officers) was checked",
    "offering_statement_consistent": "the offering statement is on file and consistent with "
    "the campaign's terms",
    "issuer_limit_checked": "the issuer's 12-month offering limit leaves room for the "
    "maximum target",
    "bad_actor_declaration": "the issuer declared that no bad-actor disqualification applies "
    "(17 CFR 227.503)",
}
# The API's names of the items (ValidationProblem.field: "checklist.<name>").
API_NAMES: dict[str, str] = {
    "founders_identified": "foundersIdentified",
    "offering_statement_consistent": "offeringStatementConsistent",
    "issuer_limit_checked": "issuerLimitChecked",
    "bad_actor_declaration": "badActorDeclaration",
}


@dataclass(frozen=True)
class ReviewChecklist:
    founders_identified: bool
    offering_statement_consistent: bool
    issuer_limit_checked: bool
    bad_actor_declaration: bool

    def unticked(self) -> list[str]:
        return [f.name for f in fields(self) if not getattr(self, f.name)]

    def require_complete(self) -> None:
        """Every item ticked, or the first unticked one is the problem's field."""
        missing = self.unticked()
        if missing:
            raise ValidationError(
                "The campaign cannot be approved with an unticked due-diligence item: "
                + "; ".join(f"not confirmed that {ITEMS[name]}" for name in missing)
                + ". Complete the check, or reject the campaign with a reason.",
                f"checklist.{API_NAMES[missing[0]]}", "DUE_DILIGENCE_INCOMPLETE",
            )

    def as_event(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_event(cls, answers: dict[str, Any] | None) -> ReviewChecklist | None:
        if answers is None:
            return None
        return cls(**{name: bool(answers.get(name, False)) for name in ITEMS})
