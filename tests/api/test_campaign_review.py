"""A campaign review through GraphQL: the `checklist` argument of approveCampaign and
rejectCampaign, `Campaign.reviewHistory` (who may read it, and what each reader sees),
`Campaign.issuerRoom`, and the checklist in the audit trail."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.flows import (
    PROBLEM,
    SUBMIT,
    Account,
    Cast,
    cast,
    draft,
    live_campaign,
)

TICKED = {"foundersIdentified": True, "offeringStatementConsistent": True,
          "issuerLimitChecked": True, "badActorDeclaration": True}
RESULT = f"__typename ... on CampaignSaved {{ position campaign {{ id status }} }} {PROBLEM}"
APPROVE = f"""mutation A($id: ID!, $c: ReviewChecklistInput) {{
  approveCampaign(id: $id, checklist: $c) {{ {RESULT} }} }}"""
REJECT = f"""mutation R($id: ID!, $reason: String!, $c: ReviewChecklistInput) {{
  rejectCampaign(id: $id, reason: $reason, checklist: $c) {{ {RESULT} }} }}"""
HISTORY = """query H($id: ID!) { campaign(id: $id) { status reviewHistory {
  action at reason reviewer { id } checklist { foundersIdentified offeringStatementConsistent
  issuerLimitChecked badActorDeclaration } } } }"""
ROOM = "query R($id: ID!) { campaign(id: $id) { maxTarget issuerRoom } }"
TRAIL = "query T($id: ID!) { auditTrail(streamId: $id) { type payload } }"


async def in_review(api: Api, people: Cast, **overrides: Any) -> str:
    campaign_id = await draft(api, people.founder, **overrides)
    data = await api.ok(SUBMIT, {"id": campaign_id}, people.founder.token)
    assert data["submitCampaign"]["__typename"] == "CampaignSaved", data
    return campaign_id


async def approve(api: Api, who: Account, campaign_id: str,
                  checklist: dict[str, bool] | None) -> dict[str, Any]:
    data = await api.ok(APPROVE, {"id": campaign_id, "c": checklist}, who.token)
    result: dict[str, Any] = data["approveCampaign"]
    return result


async def history(api: Api, who: Account, campaign_id: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = (await api.ok(HISTORY, {"id": campaign_id}, who.token))[
        "campaign"]["reviewHistory"]
    return steps


async def test_an_approval_with_the_checklist_is_in_the_history_and_the_audit_trail(
    api: Api,
) -> None:
    people = await cast(api)
    campaign_id = await in_review(api, people)
    result = await approve(api, people.officer, campaign_id, TICKED)
    assert result["__typename"] == "CampaignSaved", result
    assert result["campaign"]["status"] == "APPROVED"

    for reader in (people.officer, people.auditor):
        steps = await history(api, reader, campaign_id)
        assert [s["action"] for s in steps] == ["SUBMITTED", "APPROVED"]
        assert steps[1]["checklist"] == TICKED
        assert steps[1]["reviewer"] == {"id": people.officer.id}
        assert steps[0]["checklist"] is None and steps[0]["reviewer"] is None
    # The founder reads the outcome and the answers, not which officer decided.
    steps = await history(api, people.founder, campaign_id)
    assert steps[1]["checklist"] == TICKED and steps[1]["reviewer"] is None

    trail = (await api.ok(TRAIL, {"id": campaign_id}, people.auditor.token))["auditTrail"]
    approved = [e for e in trail if e["type"] == "CampaignApproved"]
    assert approved[0]["payload"]["checklist"] == {
        "founders_identified": True, "offering_statement_consistent": True,
        "issuer_limit_checked": True, "bad_actor_declaration": True,
    }


async def test_an_unticked_item_refuses_the_approval_with_a_problem_naming_it(
    api: Api,
) -> None:
    people = await cast(api)
    campaign_id = await in_review(api, people)
    result = await approve(api, people.officer, campaign_id,
                           {**TICKED, "issuerLimitChecked": False})
    assert result["__typename"] == "ValidationProblem", result
    assert result["code"] == "DUE_DILIGENCE_INCOMPLETE"
    assert result["field"] == "checklist.issuerLimitChecked"
    assert "12-month offering limit" in result["message"]
    steps = await history(api, people.officer, campaign_id)
    assert [s["action"] for s in steps] == ["SUBMITTED"]
    # Without the argument the approval goes through as before, recorded without answers.
    result = await approve(api, people.officer, campaign_id, None)
    assert result["__typename"] == "CampaignSaved", result
    assert (await history(api, people.officer, campaign_id))[-1]["checklist"] is None


async def test_a_rejection_records_the_reason_and_the_answers_for_the_founder(
    api: Api,
) -> None:
    people = await cast(api)
    campaign_id = await in_review(api, people)
    answers = {**TICKED, "badActorDeclaration": False}
    data = await api.ok(REJECT, {"id": campaign_id, "reason": "No bad-actor declaration.",
                                 "c": answers}, people.officer.token)
    assert data["rejectCampaign"]["campaign"]["status"] == "REJECTED", data
    (step,) = [s for s in await history(api, people.founder, campaign_id)
               if s["action"] == "REJECTED"]
    assert step["reason"] == "No bad-actor declaration."
    assert step["checklist"] == answers


async def test_only_risk_officers_review_and_only_insiders_read_the_history(
    api: Api,
) -> None:
    people = await cast(api)
    campaign_id = await in_review(api, people)
    for who in (people.founder, people.auditor, people.admin, people.outsider):
        result = await approve(api, who, campaign_id, TICKED)
        assert result["__typename"] == "NotAllowed", (who, result)
        data = await api.ok(REJECT, {"id": campaign_id, "reason": "No.", "c": TICKED},
                            who.token)
        assert data["rejectCampaign"]["__typename"] == "NotAllowed", (who, data)
    # Nothing was written by the refusals.
    assert [s["action"] for s in await history(api, people.officer, campaign_id)] == [
        "SUBMITTED"]

    live = await live_campaign(api, people.founder, people.officer)
    query = "query H($id: ID!) { campaign(id: $id) { reviewHistory { action } } }"
    for who in (people.outsider, people.backer):
        assert await api.error_code(query, {"id": live}, who.token) == "FORBIDDEN"
    assert await api.error_code(query, {"id": live}) in ("FORBIDDEN", "UNAUTHENTICATED")


async def test_the_issuer_room_counts_the_issuers_other_open_offerings(api: Api) -> None:
    people = await cast(api)
    issuer = {"legalName": "Harbour Bakery Ltd", "jurisdiction": "US"}
    first = await live_campaign(api, people.founder, people.officer, issuer=issuer,
                                maxTarget="250000.00")
    second = await in_review(api, people, issuer=issuer, maxTarget="40000.00")
    room = (await api.ok(ROOM, {"id": second}, people.officer.token))["campaign"]
    assert room == {"maxTarget": "40000.00", "issuerRoom": "4750000.00"}
    # The first campaign's own maximum target is not counted against itself.
    own = (await api.ok(ROOM, {"id": first}, people.officer.token))["campaign"]
    assert own["issuerRoom"] == "5000000.00"
