"""What the founder workspace reads (issue 13): `myCampaigns`, `Campaign.reviewHistory`
and `distributionPreview`, with who may see them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tests.api.conftest import Api
from tests.api.flows import (
    PROBLEM,
    SET_CLOCK,
    SUBMIT,
    cast,
    draft,
    live_campaign,
    pledge,
    sign_up,
    verified_backer,
)

MY_CAMPAIGNS = "{ myCampaigns { id title status founder { id } } }"
HISTORY = """query($id: ID!) { campaign(id: $id) { id status
  reviewHistory { action at reason } } }"""
REJECT = f"""mutation($id: ID!, $r: String!) {{ rejectCampaign(id: $id, reason: $r) {{
  __typename ... on CampaignSaved {{ position }} {PROBLEM} }} }}"""
APPROVE = f"""mutation($id: ID!) {{ approveCampaign(id: $id) {{
  __typename ... on CampaignSaved {{ position }} {PROBLEM} }} }}"""
PREVIEW = f"""query($id: ID!, $t: Decimal!) {{ distributionPreview(campaignId: $id, total: $t) {{
  __typename ... on DistributionPreview {{ total campaign {{ id }}
    payouts {{ amount investor {{ id }} }} }} {PROBLEM} }} }}"""
DECLARE = f"""mutation($id: ID!, $t: Decimal!) {{ declareDistribution(campaignId: $id, total: $t) {{
  __typename ... on DistributionDeclared {{ position distribution {{ total
    payouts {{ amount investor {{ id }} }} }} }} {PROBLEM} }} }}"""


async def test_my_campaigns_lists_the_founders_own_campaigns_in_every_status(api: Api) -> None:
    team = await cast(api)
    first = await draft(api, team.founder, title="First")
    second = await draft(api, team.founder, title="Second")
    await api.ok(SUBMIT, {"id": second}, team.founder.token)
    other = await sign_up(api, "founder2")
    theirs = await draft(api, other, title="Someone else's")

    mine = (await api.ok(MY_CAMPAIGNS, token=team.founder.token))["myCampaigns"]
    assert [(c["id"], c["status"]) for c in mine] == [(second, "IN_REVIEW"), (first, "DRAFT")]
    assert {c["founder"]["id"] for c in mine} == {team.founder.id}
    assert [c["id"] for c in (await api.ok(MY_CAMPAIGNS, token=other.token))["myCampaigns"]] \
        == [theirs]
    assert (await api.ok(MY_CAMPAIGNS, token=team.backer.token))["myCampaigns"] == []
    assert await api.error_code(MY_CAMPAIGNS) == "UNAUTHENTICATED"


async def test_review_history_shows_the_rejection_reason_to_the_founder_and_insiders(
    api: Api,
) -> None:
    team = await cast(api)
    campaign_id = await draft(api, team.founder)
    await api.ok(SUBMIT, {"id": campaign_id}, team.founder.token)
    rejected = await api.ok(REJECT, {"id": campaign_id, "r": "The Form C names another issuer."},
                            team.officer.token)
    assert rejected["rejectCampaign"]["__typename"] == "CampaignSaved", rejected
    await api.ok(SUBMIT, {"id": campaign_id}, team.founder.token)
    await api.ok(APPROVE, {"id": campaign_id}, team.officer.token)

    for who in (team.founder, team.officer, team.auditor):
        found = (await api.ok(HISTORY, {"id": campaign_id}, who.token))["campaign"]
        steps = [(s["action"], s["reason"]) for s in found["reviewHistory"]]
        assert steps == [
            ("SUBMITTED", None), ("REJECTED", "The Form C names another issuer."),
            ("SUBMITTED", None), ("APPROVED", None),
        ]
        instants = [datetime.fromisoformat(s["at"]) for s in found["reviewHistory"]]
        assert instants == sorted(instants)

    # Someone else may not read it, even once the campaign is public.
    await launch(api, team.founder.token, campaign_id)
    for who in (team.outsider, team.backer):
        assert await api.error_code(HISTORY, {"id": campaign_id}, who.token) == "FORBIDDEN"
    assert await api.error_code(HISTORY, {"id": campaign_id}) == "UNAUTHENTICATED"
    # The history stops at the launch: nothing after it is a review.
    steps = (await api.ok(HISTORY, {"id": campaign_id}, team.founder.token))["campaign"]
    assert [s["action"] for s in steps["reviewHistory"]][-1] == "APPROVED"


async def launch(api: Api, token: str, campaign_id: str) -> None:
    data = await api.ok(
        "mutation($id: ID!) { launchCampaign(id: $id) { __typename } }", {"id": campaign_id},
        token,
    )
    assert data["launchCampaign"]["__typename"] == "CampaignSaved", data


async def test_the_distribution_preview_pays_what_the_declaration_pays(api: Api) -> None:
    team = await cast(api)
    deadline = api.clock.now() + timedelta(days=22)
    campaign_id = await live_campaign(api, team.founder, team.officer,
                                      deadline=deadline.isoformat(), minTarget="300.00")
    second = await verified_backer(api, team.officer, "second")
    third = await verified_backer(api, team.officer, "third")
    for who, amount in ((team.backer, "100.00"), (second, "100.00"), (third, "100.00")):
        assert (await pledge(api, who, campaign_id, amount))["__typename"] == "PledgeSaved"

    # Before settlement: the same problem the declaration answers.
    early = (await api.ok(PREVIEW, {"id": campaign_id, "t": "100.00"}, team.founder.token))
    assert early["distributionPreview"]["__typename"] == "InvalidState", early

    moved = await api.ok(SET_CLOCK, {"now": (deadline + timedelta(minutes=1)).isoformat()},
                         team.admin.token)
    assert moved["setClock"]["__typename"] == "ClockSet", moved
    assert (await api.ok("query($id: ID!) { campaign(id: $id) { status } }",
                         {"id": campaign_id}))["campaign"]["status"] == "SETTLED"

    # 100.00 over three equal holdings: 33.34 + 33.33 + 33.33, to the cent.
    preview = (await api.ok(PREVIEW, {"id": campaign_id, "t": "100.00"},
                            team.founder.token))["distributionPreview"]
    assert preview["__typename"] == "DistributionPreview", preview
    assert preview["campaign"]["id"] == campaign_id and preview["total"] == "100.00"
    previewed = {p["investor"]["id"]: p["amount"] for p in preview["payouts"]}
    assert sorted(previewed.values()) == ["33.33", "33.33", "33.34"]
    assert sum(Decimal(a) for a in previewed.values()) == Decimal("100.00")
    # Nothing was declared.
    listed = await api.ok("query($id: ID!) { distributions(campaignId: $id) { id } }",
                          {"id": campaign_id}, team.founder.token)
    assert listed["distributions"] == []

    declared = (await api.ok(DECLARE, {"id": campaign_id, "t": "100.00"},
                             team.founder.token))["declareDistribution"]
    assert declared["__typename"] == "DistributionDeclared", declared
    paid = {p["investor"]["id"]: p["amount"] for p in declared["distribution"]["payouts"]}
    assert paid == previewed

    # Invalid totals and other callers get the declaration's own problems.
    bad = (await api.ok(PREVIEW, {"id": campaign_id, "t": "10.005"},
                        team.founder.token))["distributionPreview"]
    assert bad["__typename"] == "ValidationProblem", bad
    for who in (team.backer, team.outsider, team.officer):
        refused = (await api.ok(PREVIEW, {"id": campaign_id, "t": "100.00"},
                                who.token))["distributionPreview"]
        assert refused["__typename"] == "NotAllowed", refused
    anonymous = (await api.ok(PREVIEW, {"id": campaign_id, "t": "100.00"}))
    assert anonymous["distributionPreview"]["__typename"] == "NotAllowed"
    auditor = (await api.ok(PREVIEW, {"id": campaign_id, "t": "100.00"}, team.auditor.token))
    assert auditor["distributionPreview"]["__typename"] == "NotAllowed"
    missing = (await api.ok(PREVIEW, {"id": "00000000-0000-0000-0000-000000000000",
                                      "t": "100.00"}, team.founder.token))
    assert missing["distributionPreview"]["__typename"] == "NotFound"
