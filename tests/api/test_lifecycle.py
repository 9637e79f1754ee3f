"""A whole campaign, from draft to distribution, through GraphQL alone (only the first
admin comes from the environment, as at start-up)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tests.api.conftest import Api
from tests.api.flows import (
    APPROVE,
    CAMPAIGN_RESULT,
    DRAFT,
    LAUNCH,
    PROBLEM,
    SET_CLOCK,
    SUBMIT,
    cast,
    draft_input,
    file_statement,
    pledge,
    verified_backer,
)


async def test_draft_to_distribution(api: Api) -> None:
    team = await cast(api)
    founder, officer, backer = team.founder, team.officer, team.backer
    second = await verified_backer(api, officer, "second")

    drafted = (await api.ok(DRAFT, {"input": draft_input(api)}, founder.token))["draftCampaign"]
    assert drafted["__typename"] == "CampaignSaved"
    assert drafted["campaign"]["status"] == "DRAFT"
    assert drafted["campaign"]["founder"]["id"] == founder.id
    cid = drafted["campaign"]["id"]

    amended = await api.ok(
        f"mutation($id: ID!) {{ amendCampaign(id: $id, input: {{title: \"Solar Co-op II\"}}) "
        f"{{ {CAMPAIGN_RESULT} }} }}", {"id": cid}, founder.token,
    )
    assert amended["amendCampaign"]["campaign"]["title"] == "Solar Co-op II"

    # No review without the offering statement (17 CFR 227.201, filed as a Form C).
    refused = (await api.ok(SUBMIT, {"id": cid}, founder.token))["submitCampaign"]
    assert (refused["__typename"], refused["code"]) == (
        "InvalidState", "OFFERING_DOCUMENT_MISSING"
    )
    await file_statement(api, founder, cid, "REG_CF")
    submitted = await api.ok(SUBMIT, {"id": cid}, founder.token)
    assert submitted["submitCampaign"]["campaign"]["status"] == "IN_REVIEW"
    queue = await api.ok("{ reviewQueue { id status } }", token=officer.token)
    assert queue["reviewQueue"] == [{"id": cid, "status": "IN_REVIEW"}]
    # Not public yet: anonymous readers do not see it.
    assert (await api.ok("query($id: ID!) { campaign(id: $id) { id } }", {"id": cid}))[
        "campaign"] is None

    approved = await api.ok(APPROVE, {"id": cid}, officer.token)
    assert approved["approveCampaign"]["campaign"]["status"] == "APPROVED"
    approved_at = api.clock.now()
    moved = await api.ok(SET_CLOCK, {"now": (approved_at + timedelta(hours=1)).isoformat()},
                         team.admin.token)
    assert moved["setClock"]["__typename"] == "ClockSet"
    launched = await api.ok(LAUNCH, {"id": cid}, founder.token)
    assert launched["launchCampaign"]["campaign"]["status"] == "LIVE"
    assert launched["launchCampaign"]["campaign"]["launchedAt"] is not None

    first = await pledge(api, backer, cid, "500.00", key="k1")
    assert first["__typename"] == "PledgeSaved", first
    assert first["pledge"]["shares"] == 50 and first["pledge"]["status"] == "ACTIVE"
    assert first["pledge"]["cancellableUntil"] is not None
    again = await pledge(api, backer, cid, "500.00", key="k1")  # idempotent
    assert again["pledge"]["id"] == first["pledge"]["id"]
    assert (await pledge(api, backer, cid, "1000.00"))["__typename"] == "PledgeSaved"
    last = await pledge(api, second, cid, "600.00")
    assert last["__typename"] == "PledgeSaved"

    caught = await api.ok("query($p: Long!) { caughtUp(position: $p, timeoutMs: 100) }",
                          {"p": last["position"]})
    assert caught["caughtUp"] is True
    public = await api.ok(
        "query($id: ID!) { campaign(id: $id) { raised backerCount status } }", {"id": cid}
    )
    assert public["campaign"] == {"raised": "2100.00", "backerCount": 2, "status": "LIVE"}
    listed = await api.ok("{ campaigns(status: LIVE) { totalCount edges { node { id } } } }")
    assert listed["campaigns"]["totalCount"] == 1
    pledges = await api.ok(
        "query($id: ID!) { campaign(id: $id) { pledges(first: 2) { totalCount "
        "pageInfo { hasNextPage endCursor } edges { node { amount investor { id email } } } } } }",
        {"id": cid}, founder.token,
    )
    connection = pledges["campaign"]["pledges"]
    assert connection["totalCount"] == 3 and connection["pageInfo"]["hasNextPage"] is True
    # The founder sees the e-mail of people who back the campaign.
    assert connection["edges"][0]["node"]["investor"]["email"] == backer.email
    rest = await api.ok(
        "query($id: ID!, $after: String) { campaign(id: $id) { pledges(after: $after) "
        "{ edges { node { amount } } pageInfo { hasNextPage } } } }",
        {"id": cid, "after": connection["pageInfo"]["endCursor"]}, founder.token,
    )
    assert [e["node"]["amount"] for e in rest["campaign"]["pledges"]["edges"]] == ["600.00"]

    posted = await api.ok(
        f"mutation($id: ID!) {{ postUpdate(campaignId: $id, input: {{title: \"Week 1\", "
        f"body: \"Going well.\"}}) {{ __typename ... on UpdatePosted {{ position update "
        f"{{ id title material postedAt }} }} {PROBLEM} }} }}", {"id": cid}, founder.token,
    )
    assert posted["postUpdate"]["update"]["title"] == "Week 1"
    updates = await api.ok("query($id: ID!) { campaign(id: $id) { updates { title } } }",
                           {"id": cid})
    assert [u["title"] for u in updates["campaign"]["updates"]] == ["Week 1"]

    # Past the deadline: the platform closes, settles and issues shares.
    deadline = datetime.fromisoformat(drafted["campaign"]["deadline"])
    after = await api.ok(SET_CLOCK, {"now": (deadline + timedelta(minutes=1)).isoformat()},
                         team.admin.token)
    assert after["setClock"]["__typename"] == "ClockSet"
    settled = await api.ok("query($id: ID!) { campaign(id: $id) { status raised } }",
                           {"id": cid})
    assert settled["campaign"] == {"status": "SETTLED", "raised": "2100.00"}

    table = await api.ok(
        "query($id: ID!) { capTable(campaignId: $id) { totalShares campaign { id } "
        "holdings { shares amountInvested investor { id } } } }", {"id": cid}, founder.token,
    )
    assert table["capTable"]["totalShares"] == 210
    assert {h["investor"]["id"]: h["shares"] for h in table["capTable"]["holdings"]} == {
        backer.id: 150, second.id: 60,
    }
    escrow = await api.ok(
        "query($id: ID!) { escrow(campaignId: $id) { held releasedToIssuer refunded } }",
        {"id": cid}, team.auditor.token,
    )
    assert escrow["escrow"] == {"held": "0.00", "releasedToIssuer": "2100.00", "refunded": "0.00"}

    declared = await api.ok(
        f"mutation($id: ID!) {{ declareDistribution(campaignId: $id, total: \"100.00\") {{ "
        f"__typename ... on DistributionDeclared {{ position distribution {{ id total "
        f"payouts {{ amount investor {{ id }} }} }} }} {PROBLEM} }} }}",
        {"id": cid}, founder.token,
    )
    distribution = declared["declareDistribution"]["distribution"]
    assert sum(Decimal(p["amount"]) for p in distribution["payouts"]) == Decimal("100.00")
    seen_by_backer = await api.ok(
        "query($id: ID!) { distributions(campaignId: $id) { total payouts { amount investor "
        "{ id } } } }", {"id": cid}, backer.token,
    )
    (only,) = seen_by_backer["distributions"]
    assert [p["investor"]["id"] for p in only["payouts"]] == [backer.id]
    assert only["payouts"][0]["amount"] == "71.43"  # 150/210 of 100.00, largest remainder

    mine = await api.ok("{ myPledges { status amount campaign { status } } }", token=backer.token)
    assert {p["status"] for p in mine["myPledges"]} == {"SETTLED"}

    # The auditor's view of what happened.
    trail = await api.ok(
        "query($id: ID!) { auditTrail(streamId: $id) { position version type streamType "
        "occurredAt hash prevHash payload } }", {"id": cid}, team.auditor.token,
    )
    types = [e["type"] for e in trail["auditTrail"]]
    assert types[:5] == [
        "CampaignDrafted", "IssuerAssigned", "CampaignAmended", "DocumentUploaded",
        "CampaignSubmitted",
    ]
    assert "CampaignSettled" in types and trail["auditTrail"][0]["prevHash"] is None
    as_of = await api.ok(
        "query($id: ID!, $at: DateTime!) { campaignAsOf(id: $id, asOf: $at) { status title } }",
        {"id": cid, "at": approved_at.isoformat()}, team.auditor.token,
    )
    assert as_of["campaignAsOf"] == {"status": "APPROVED", "title": "Solar Co-op II"}
    log = await api.ok("{ eventLog(after: 0, limit: 5) { headPosition nextPosition "
                       "events { position type } } }", token=team.auditor.token)
    assert len(log["eventLog"]["events"]) == 5 and log["eventLog"]["nextPosition"] == 5
    chains = await api.ok("{ verifyAuditChains { ok checkedEvents firstBadPosition } }",
                          token=team.auditor.token)
    assert chains["verifyAuditChains"]["ok"] is True
    stats = await api.ok("{ platformStats { liveCampaigns fundedCampaigns backers pledges "
                         "raisedUsd raisedEur } }", token=team.admin.token)
    assert stats["platformStats"] == {
        "liveCampaigns": 0, "fundedCampaigns": 1, "backers": 2, "pledges": 3,
        "raisedUsd": "2100.00", "raisedEur": "0.00",
    }
