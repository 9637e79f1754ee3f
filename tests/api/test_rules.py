"""Issue 10 through GraphQL: one test per rule of the rulebook that the API exposes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import Api
from tests.api.flows import (
    DRAFT,
    LAUNCH,
    PROBLEM,
    PROFILE,
    SET_CLOCK,
    Account,
    Cast,
    answers,
    cast,
    draft_input,
    file_statement,
    live_campaign,
    pledge,
    profile_input,
    sign_up,
    take_test,
    verified_backer,
)

NEW_YORK = ZoneInfo("America/New_York")
MY_PLEDGES = "{ myPledges { id status cancellableUntil reconfirmBy campaign { status } } }"
CAMPAIGN = """query($id: ID!) { campaign(id: $id) { status deadline originalDeadline
  updates { title material }
  issuer { id legalName jurisdiction website soldLast12MonthsUsd soldLast12MonthsEur } } }"""
LIMIT = """query($r: Regime!) { investmentLimit(regime: $r) {
  limit used remaining canBearToLose knowledgeTestPassed } }"""
CANCEL = f"""mutation($id: ID!) {{ cancelPledge(pledgeId: $id) {{
  __typename ... on PledgeSaved {{ pledge {{ status }} }} {PROBLEM} }} }}"""
AMEND = f"""mutation($id: ID!, $input: AmendCampaignInput!) {{ amendCampaign(id: $id, input: $input)
  {{ __typename {PROBLEM} }} }}"""
CLOSE_EARLY = f"""mutation($id: ID!, $at: DateTime!) {{ closeEarly(id: $id, newDeadline: $at)
  {{ __typename {PROBLEM} }} }}"""
POST_UPDATE = f"""mutation($id: ID!, $input: UpdateInput!) {{ postUpdate(campaignId: $id,
  input: $input) {{ __typename ... on UpdatePosted {{ update {{ material }} }} {PROBLEM} }} }}"""


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


async def set_clock(api: Api, team: Cast, when: datetime) -> None:
    data = await api.ok(SET_CLOCK, {"now": when.isoformat()}, team.admin.token)
    assert data["setClock"]["__typename"] == "ClockSet", data


async def campaign(api: Api, cid: str, token: str | None = None) -> dict[str, Any]:
    data = await api.ok(CAMPAIGN, {"id": cid}, token)
    result: dict[str, Any] = data["campaign"]
    return result


async def my_pledge(api: Api, who: Account, pid: str) -> dict[str, Any]:
    data = await api.ok(MY_PLEDGES, token=who.token)
    (found,) = [p for p in data["myPledges"] if p["id"] == pid]
    return dict(found)


# 1. ECSP reflection period past the deadline --------------------------------------------


async def test_an_ecsp_pledge_stays_revocable_after_the_deadline(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer, regime="ECSP",
                              minTarget="100.00")
    deadline = datetime.fromisoformat((await campaign(api, cid))["deadline"])
    keeper = await verified_backer(api, team.officer, "keeper", country="DE")
    await pledge(api, keeper, cid, "500.00")
    await set_clock(api, team, deadline - timedelta(hours=2))
    late = (await pledge(api, team.backer, cid, "200.00"))["pledge"]
    ends = deadline - timedelta(hours=2) + timedelta(days=4)
    assert datetime.fromisoformat(late["cancellableUntil"]) == ends
    await set_clock(api, team, deadline + timedelta(days=1))
    assert (await campaign(api, cid))["status"] == "FUNDED"
    seen = await my_pledge(api, team.backer, late["id"])
    assert datetime.fromisoformat(seen["cancellableUntil"]) == ends
    answer = (await api.ok(CANCEL, {"id": late["id"]}, team.backer.token))["cancelPledge"]
    assert answer == {"__typename": "PledgeSaved", "pledge": {"status": "CANCELLED"}}
    await set_clock(api, team, ends)
    assert (await campaign(api, cid))["status"] == "SETTLED"


# 2. The issuer and its limit ------------------------------------------------------------


async def test_campaigns_belong_to_issuers_and_share_their_limit(api: Api, team: Cast) -> None:
    acme = {"legalName": "Acme Robotics, Inc.", "jurisdiction": "US",
            "website": "https://acme.example"}
    cid = await live_campaign(api, team.founder, team.officer, issuer=acme,
                              maxTarget="3000000.00")
    issuer = (await campaign(api, cid))["issuer"]
    assert issuer | {"id": None} == {
        "id": None, "legalName": "Acme Robotics, Inc.", "jurisdiction": "US",
        "website": "https://acme.example", "soldLast12MonthsUsd": "0.00",
        "soldLast12MonthsEur": "0.00",
    }
    found = await api.ok("query($id: ID!) { issuer(id: $id) { legalName } }", {"id": issuer["id"]})
    assert found["issuer"] == {"legalName": "Acme Robotics, Inc."}
    # A second campaign of the same issuer (spelled differently) shares the $5M.
    over = draft_input(api, issuer={"legalName": "ACME ROBOTICS INC", "jurisdiction": "us"},
                       maxTarget="2000000.01")
    second = (await api.ok(DRAFT, {"input": over}, team.founder.token))["draftCampaign"]
    second_id = second["campaign"]["id"]
    assert (await campaign(api, second_id, team.founder.token))["issuer"]["id"] == issuer["id"]
    await file_statement(api, team.founder, second_id, "REG_CF")
    for query, token in (("mutation($id: ID!) { submitCampaign(id: $id) { __typename } }",
                          team.founder.token),
                         ("mutation($id: ID!) { approveCampaign(id: $id) { __typename } }",
                          team.officer.token)):
        await api.ok(query, {"id": second_id}, token)
    refused = (await api.ok(LAUNCH, {"id": second_id}, team.founder.token))["launchCampaign"]
    assert (refused["__typename"], refused["code"]) == ("InvalidState", "ISSUER_LIMIT_EXCEEDED")
    # Exactly what is left fits; then raising the first one's maximum is refused.
    await live_campaign(api, team.founder, team.officer, issuer=acme, maxTarget="2000000.00")
    raised = await api.ok(AMEND, {"id": cid, "input": {"maxTarget": "3000000.01"}},
                          team.founder.token)
    assert raised["amendCampaign"]["code"] == "ISSUER_LIMIT_EXCEEDED"
    # Another founder may not raise for Acme.
    rival = await sign_up(api, "rival")
    theirs = (await api.ok(DRAFT, {"input": draft_input(api, issuer=acme)}, rival.token))
    assert (theirs["draftCampaign"]["__typename"], theirs["draftCampaign"]["code"]) == (
        "NotAllowed", "ISSUER_OF_ANOTHER_FOUNDER")


async def test_the_default_issuer_is_named_after_the_founder(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer, regime="ECSP")
    issuer = (await campaign(api, cid))["issuer"]
    assert (issuer["legalName"], issuer["jurisdiction"]) == ("Founder", "DE")


async def test_what_an_issuer_sold_shows_for_twelve_months(api: Api, team: Cast) -> None:
    rich = await verified_backer(api, team.officer, "rich", accredited=True)
    cid = await live_campaign(api, team.founder, team.officer, minTarget="100.00")
    await pledge(api, rich, cid, "5000.00")
    deadline = datetime.fromisoformat((await campaign(api, cid))["deadline"])
    await set_clock(api, team, deadline)
    issuer = (await campaign(api, cid))["issuer"]
    assert (issuer["soldLast12MonthsUsd"], issuer["soldLast12MonthsEur"]) == ("5000.00", "0.00")
    await set_clock(api, team, deadline.replace(year=deadline.year + 1))
    assert (await campaign(api, cid))["issuer"]["soldLast12MonthsUsd"] == "0.00"


# 3. and 11. What counts against the Reg CF limit -------------------------------------------


async def test_settled_pledges_count_for_twelve_months_after_settlement(
    api: Api, team: Cast
) -> None:
    cid = await live_campaign(api, team.founder, team.officer, minTarget="100.00")
    await pledge(api, team.backer, cid, "2500.00")
    deadline = datetime.fromisoformat((await campaign(api, cid))["deadline"])
    await set_clock(api, team, deadline)
    assert (await campaign(api, cid))["status"] == "SETTLED"
    await set_clock(api, team, deadline.replace(year=deadline.year + 1) - timedelta(seconds=1))
    used = (await api.ok(LIMIT, {"r": "REG_CF"}, team.backer.token))["investmentLimit"]
    assert (used["used"], used["remaining"]) == ("2500.00", "0.00")
    await set_clock(api, team, deadline.replace(year=deadline.year + 1))
    used = (await api.ok(LIMIT, {"r": "REG_CF"}, team.backer.token))["investmentLimit"]
    assert (used["used"], used["remaining"]) == ("0.00", "2500.00")


async def test_a_finances_update_keeps_kyc_verified_and_dates_the_declaration(
    api: Api, team: Cast
) -> None:
    update = profile_input(annualIncome="90000.00", netWorth="90000.00",
                           otherRegCfInvestments12m="4500.00")
    saved = await api.ok(PROFILE, {"input": update}, team.backer.token)
    assert saved["submitInvestorProfile"]["user"]["investorProfile"]["kycStatus"] == "VERIFIED"
    limit = (await api.ok(LIMIT, {"r": "REG_CF"}, team.backer.token))["investmentLimit"]
    assert (limit["limit"], limit["used"]) == ("4500.00", "4500.00")
    await set_clock(api, team, api.clock.now().replace(year=api.clock.now().year + 1))
    limit = (await api.ok(LIMIT, {"r": "REG_CF"}, team.backer.token))["investmentLimit"]
    assert limit["used"] == "0.00"  # the declaration aged out
    moved = await api.ok(PROFILE, {"input": profile_input(country="CA")}, team.backer.token)
    assert moved["submitInvestorProfile"]["user"]["investorProfile"]["kycStatus"] == "PENDING"


# 4. The $124,000 ceiling ---------------------------------------------------------------


async def test_no_non_accredited_limit_passes_124000(api: Api, team: Cast) -> None:
    backer = await verified_backer(api, team.officer, "wealthy", annualIncome="60000.00",
                                   netWorth="4000000.00")
    limit = (await api.ok(LIMIT, {"r": "REG_CF"}, backer.token))["investmentLimit"]
    assert limit["limit"] == "124000.00"


# 5. Business days on the US federal calendar, in New York ---------------------------------


async def test_reconfirmation_skips_thanksgiving(api: Api, team: Cast) -> None:
    await set_clock(api, team, datetime(2027, 11, 1, 15, 0, tzinfo=UTC))
    cid = await live_campaign(api, team.founder, team.officer)
    placed = (await pledge(api, team.backer, cid, "500.00"))["pledge"]
    monday = datetime(2027, 11, 22, 10, 0, tzinfo=NEW_YORK)
    await set_clock(api, team, monday)
    changed = await api.ok(AMEND, {"id": cid, "input": {"minTarget": "2000.00"}},
                           team.founder.token)
    assert changed["amendCampaign"]["__typename"] == "CampaignSaved"
    seen = await my_pledge(api, team.backer, placed["id"])
    # Five business days from Monday: Thanksgiving (Thursday) does not count.
    assert datetime.fromisoformat(seen["reconfirmBy"]) == datetime(
        2027, 11, 30, 10, 0, tzinfo=NEW_YORK
    )


# 6. An early close that loses its target --------------------------------------------------


async def test_an_early_close_without_its_target_runs_on(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer, minTarget="1000.00",
                              deadline=(api.clock.now() + timedelta(days=60)).isoformat())
    original = (await campaign(api, cid))["deadline"]
    assert (await campaign(api, cid))["originalDeadline"] == original
    first = (await pledge(api, team.backer, cid, "600.00"))["pledge"]
    await pledge(api, team.backer, cid, "400.00")
    await set_clock(api, team, api.clock.now() + timedelta(days=21))  # a Monday
    early = api.clock.now() + timedelta(days=7)
    scheduled = await api.ok(CLOSE_EARLY, {"id": cid, "at": early.isoformat()},
                             team.founder.token)
    assert scheduled["closeEarly"]["__typename"] == "CampaignSaved"
    seen = await campaign(api, cid)
    assert (datetime.fromisoformat(seen["deadline"]), seen["originalDeadline"]) == (
        early, original)
    await api.ok(CANCEL, {"id": first["id"]}, team.backer.token)
    await set_clock(api, team, early)
    seen = await campaign(api, cid)
    assert (seen["status"], seen["deadline"], seen["originalDeadline"]) == (
        "LIVE", original, original)
    assert seen["updates"][-1] == {"title": "The offering continues", "material": False}


# 7. and 8. ECSP warnings, the loss simulation and the knowledge test ------------------------


async def test_five_pledges_of_990_need_the_acknowledgement_from_the_second(
    api: Api, team: Cast
) -> None:
    cid = await live_campaign(api, team.founder, team.officer, regime="ECSP",
                              pricePerShare="1.00", minPledge="1.00")
    poor = await verified_backer(api, team.officer, "poor", country="FR", netWorth="0.00")
    first = await pledge(api, poor, cid, "990.00", acknowledgeRisk=False)
    assert first["__typename"] == "PledgeSaved"
    second = await pledge(api, poor, cid, "990.00", acknowledgeRisk=False)
    assert (second["__typename"], second["threshold"]) == ("RiskAcknowledgementRequired",
                                                           "1000.00")
    assert (await pledge(api, poor, cid, "990.00"))["__typename"] == "PledgeSaved"


async def test_the_knowledge_test_is_served_and_graded_by_the_server(
    api: Api, team: Cast
) -> None:
    served = await api.ok("{ knowledgeTest(regime: REG_CF) { id text choices } }")
    assert [q["id"] for q in served["knowledgeTest"]][:3] == [
        "regcf-cancel-1", "regcf-cancel-2", "regcf-resale-1"]
    assert all(len(q["choices"]) >= 3 for q in served["knowledgeTest"])
    # The right choice is not a field anyone can ask for.
    assert (await api.call("{ knowledgeTest(regime: REG_CF) { id correct } }"))["errors"]
    novice = await verified_backer(api, team.officer, "novice", knowledge_tests=False,
                                   knowledgeTestPassed=True)  # the claim is ignored
    cid = await live_campaign(api, team.founder, team.officer)
    blocked = await pledge(api, novice, cid, "100.00")
    assert (blocked["__typename"], blocked["code"]) == ("InvalidState", "KNOWLEDGE_TEST_REQUIRED")
    failed = await take_test(api, novice, "REG_CF", wrong=2)
    assert (failed["__typename"], failed["passed"], failed["score"], failed["outOf"]) == (
        "KnowledgeTestTaken", False, 4, 6)
    passed = await take_test(api, novice, "REG_CF", wrong=1)
    assert (passed["passed"], passed["score"]) == (True, 5)
    no_ack = await pledge(api, novice, cid, "100.00", acknowledgeRisk=False)
    assert (no_ack["__typename"], no_ack["threshold"]) == ("RiskAcknowledgementRequired", "0.00")
    assert (await pledge(api, novice, cid, "100.00"))["__typename"] == "PledgeSaved"
    bad = await api.ok(
        f"""mutation($a: [KnowledgeAnswerInput!]!) {{ takeKnowledgeTest(regime: ECSP,
        answers: $a) {{ __typename {PROBLEM} }} }}""", {"a": answers("REG_CF")}, novice.token)
    assert (bad["takeKnowledgeTest"]["__typename"], bad["takeKnowledgeTest"]["field"]) == (
        "ValidationProblem", "answers")


async def test_investment_limit_shows_the_ecsp_loss_simulation(api: Api, team: Cast) -> None:
    backer = await verified_backer(api, team.officer, "eu", country="DE", netWorth="80000.00",
                                   knowledge_tests=False)
    ecsp = (await api.ok(LIMIT, {"r": "ECSP"}, backer.token))["investmentLimit"]
    assert (ecsp["canBearToLose"], ecsp["knowledgeTestPassed"]) == ("8000.00", False)
    await take_test(api, backer, "ECSP")
    ecsp = (await api.ok(LIMIT, {"r": "ECSP"}, backer.token))["investmentLimit"]
    assert ecsp["knowledgeTestPassed"] is True
    reg_cf = (await api.ok(LIMIT, {"r": "REG_CF"}, backer.token))["investmentLimit"]
    assert (reg_cf["canBearToLose"], reg_cf["knowledgeTestPassed"]) == (None, False)


# 9. Staff conflicts -----------------------------------------------------------------------


async def test_staff_can_neither_pledge_nor_found(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    for insider in (team.officer, team.admin):
        placed = await pledge(api, insider, cid, "100.00")
        assert (placed["__typename"], placed["code"]) == ("NotAllowed", "STAFF_CONFLICT")
        drafted = await api.ok(DRAFT, {"input": draft_input(api)}, insider.token)
        assert drafted["draftCampaign"]["code"] == "STAFF_CONFLICT"


# 10. Material updates -----------------------------------------------------------------------


async def test_a_material_update_asks_backers_to_reconfirm(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    placed = (await pledge(api, team.backer, cid, "500.00"))["pledge"]
    posted = await api.ok(POST_UPDATE, {"id": cid, "input": {
        "title": "Our CEO left", "body": "A material change.", "material": True}},
        team.founder.token)
    assert posted["postUpdate"]["update"] == {"material": True}
    seen = await my_pledge(api, team.backer, placed["id"])
    assert seen["status"] == "PENDING_RECONFIRMATION" and seen["reconfirmBy"]
