"""The authorization matrix, table-driven: every role (and nobody) against every
mutation and every protected query.

Mutations: a refused caller gets `NotAllowed` and nothing is stored; an allowed one
gets anything else (success or a business problem such as InvalidState).
Queries: UNAUTHENTICATED without a token, FORBIDDEN for a role that may not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.flows import (
    APPROVE,
    PROBLEM,
    PROFILE,
    SUBMIT,
    Account,
    Cast,
    cast,
    draft,
    live_campaign,
    pledge,
    profile_input,
    sign_up,
)

ACTORS = ("anonymous", "outsider", "backer", "founder", "officer", "auditor", "admin")


@dataclass
class World:
    team: Cast
    draft_id: str
    review_id: str
    approved_id: str
    live_id: str
    pledge_id: str
    pending_user: Account

    def token(self, actor: str) -> str | None:
        return None if actor == "anonymous" else getattr(self.team, actor).token


async def build_world(api: Api) -> World:
    team = await cast(api)
    founder, officer = team.founder, team.officer
    draft_id = await draft(api, founder)
    review_id = await draft(api, founder)
    await api.ok(SUBMIT, {"id": review_id}, founder.token)
    approved_id = await draft(api, founder)
    await api.ok(SUBMIT, {"id": approved_id}, founder.token)
    await api.ok(APPROVE, {"id": approved_id}, officer.token)
    live_id = await live_campaign(api, founder, officer)
    placed = await pledge(api, team.backer, live_id, "100.00")
    pending = await sign_up(api, "pending")
    await api.ok(PROFILE, {"input": profile_input()}, pending.token)
    return World(team, draft_id, review_id, approved_id, live_id, placed["pledge"]["id"],
                 pending)


def result(name: str, args: str) -> str:
    return f"mutation {{ {name}{args} {{ __typename {PROBLEM} }} }}"


NOT_AUDITOR = {"outsider", "backer", "founder", "officer", "admin"}
# 17 CFR 227.300(b): staff (risk officers, auditors, admins) may neither found nor invest.
NOT_STAFF = {"outsider", "backer", "founder"}
DEADLINE = "2027-12-01T00:00:00+00:00"

# mutation -> (build the GraphQL document, who may do it)
MUTATIONS: dict[str, tuple[Callable[[World], str], set[str]]] = {
    "grantRole": (lambda w: result("grantRole", f'(email: "{w.pending_user.email}", '
                                   "role: FOUNDER)"), {"admin"}),
    "submitInvestorProfile": (
        lambda w: result("submitInvestorProfile", '(input: {legalName: "L", dateOfBirth: '
                         '"1980-01-01", country: "US", annualIncome: "1.00", netWorth: "1.00"})'),
        NOT_AUDITOR),
    "verifyInvestor": (lambda w: result("verifyInvestor", f'(userId: "{w.pending_user.id}")'),
                       {"officer"}),
    "rejectInvestor": (lambda w: result("rejectInvestor", f'(userId: "{w.pending_user.id}", '
                                        'reason: "Blurry passport.")'), {"officer"}),
    "draftCampaign": (
        lambda w: result("draftCampaign", '(input: {title: "T", summary: "S", regime: ECSP, '
                         'minTarget: "100.00", maxTarget: "200.00", minPledge: "10.00", '
                         f'pricePerShare: "1.00", deadline: "{DEADLINE}"}})'),
        NOT_STAFF),
    "amendCampaign": (lambda w: result("amendCampaign", f'(id: "{w.draft_id}", '
                                       'input: {summary: "New words."})'), {"founder"}),
    "submitCampaign": (lambda w: result("submitCampaign", f'(id: "{w.draft_id}")'), {"founder"}),
    "approveCampaign": (lambda w: result("approveCampaign", f'(id: "{w.review_id}")'),
                        {"officer"}),
    "rejectCampaign": (lambda w: result("rejectCampaign", f'(id: "{w.review_id}", '
                                        'reason: "Numbers do not add up.")'), {"officer"}),
    "launchCampaign": (lambda w: result("launchCampaign", f'(id: "{w.approved_id}")'),
                       {"founder"}),
    "closeEarly": (lambda w: result("closeEarly", f'(id: "{w.live_id}", '
                                    f'newDeadline: "{DEADLINE}")'), {"founder"}),
    "cancelCampaign": (lambda w: result("cancelCampaign", f'(id: "{w.live_id}", '
                                        'reason: "Withdrawn.")'), {"founder", "officer", "admin"}),
    "postUpdate": (lambda w: result("postUpdate", f'(campaignId: "{w.live_id}", '
                                    'input: {title: "News", body: "Body."})'), {"founder"}),
    "pledge": (lambda w: result("pledge", f'(input: {{campaignId: "{w.live_id}", '
                                'amount: "100.00", idempotencyKey: "matrix"})'), NOT_STAFF),
    "takeKnowledgeTest": (lambda w: result("takeKnowledgeTest", '(regime: ECSP, answers: '
                                           '[{questionId: "loss-1", choice: 2}])'), NOT_AUDITOR),
    "cancelPledge": (lambda w: result("cancelPledge", f'(pledgeId: "{w.pledge_id}")'),
                     {"backer"}),
    "reconfirmPledge": (lambda w: result("reconfirmPledge", f'(pledgeId: "{w.pledge_id}")'),
                        {"backer"}),
    "declareDistribution": (lambda w: result("declareDistribution", f'(campaignId: '
                                             f'"{w.live_id}", total: "10.00")'), {"founder"}),
    "setClock": (lambda w: result("setClock", '(now: "2027-03-01T13:00:00+00:00")'), {"admin"}),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
async def test_mutation_matrix(api: Api, mutation: str) -> None:
    world = await build_world(api)
    build, allowed = MUTATIONS[mutation]
    document = build(world)
    # Refused callers first, so that an allowed success cannot change their answer.
    for actor in sorted(ACTORS, key=lambda a: a in allowed):
        head = api.store.head_position()
        data = await api.ok(document, token=world.token(actor))
        answer = data[mutation]
        if actor in allowed:
            assert answer["__typename"] != "NotAllowed", (actor, answer)
        else:
            assert answer["__typename"] == "NotAllowed", (actor, answer)
            assert api.store.head_position() == head, (actor, "stored something")


INSIDERS = {"founder", "officer", "auditor"}
SIGNED_IN = set(ACTORS) - {"anonymous"}

# query -> (document, who may read it)
QUERIES: dict[str, tuple[Callable[[World], str], set[str]]] = {
    "myPledges": (lambda w: "{ myPledges { id } }", SIGNED_IN),
    "investmentLimit": (lambda w: "{ investmentLimit(regime: REG_CF) { used } }", SIGNED_IN),
    "distributions": (lambda w: f'{{ distributions(campaignId: "{w.live_id}") {{ id }} }}',
                      SIGNED_IN),
    "capTable": (lambda w: f'{{ capTable(campaignId: "{w.live_id}") {{ totalShares }} }}',
                 INSIDERS),
    "escrow": (lambda w: f'{{ escrow(campaignId: "{w.live_id}") {{ held }} }}', INSIDERS),
    "campaign.pledges": (
        lambda w: f'{{ campaign(id: "{w.live_id}") {{ pledges {{ totalCount }} }} }}', INSIDERS),
    "campaign.reviewHistory": (
        lambda w: f'{{ campaign(id: "{w.live_id}") {{ reviewHistory {{ action }} }} }}',
        INSIDERS),
    "myCampaigns": (lambda w: "{ myCampaigns { id } }", SIGNED_IN),
    "reviewQueue": (lambda w: "{ reviewQueue { id } }", {"officer", "auditor"}),
    "auditTrail": (lambda w: f'{{ auditTrail(streamId: "{w.live_id}") {{ type }} }}',
                   {"auditor"}),
    "eventLog": (lambda w: "{ eventLog { headPosition } }", {"auditor"}),
    "eventLog(filtered)": (lambda w: f'{{ eventLog(eventType: "PledgeAccepted", streamId: '
                           f'"{w.live_id}") {{ headPosition }} }}', {"auditor"}),
    "auditEventTypes": (lambda w: "{ auditEventTypes { type } }", {"auditor"}),
    "campaignAsOf": (lambda w: f'{{ campaignAsOf(id: "{w.live_id}", '
                     f'asOf: "{DEADLINE}") {{ status }} }}', {"auditor"}),
    "verifyAuditChains": (lambda w: "{ verifyAuditChains { ok } }", {"auditor"}),
    "platformStats": (lambda w: "{ platformStats { pledges } }", {"admin", "auditor"}),
}


async def test_query_matrix(api: Api) -> None:
    world = await build_world(api)
    for name, (build, allowed) in sorted(QUERIES.items()):
        document = build(world)
        for actor in ACTORS:
            body = await api.call(document, token=world.token(actor))
            errors = body.get("errors")
            if actor in allowed:
                assert not errors, (name, actor, errors)
            else:
                expected = "UNAUTHENTICATED" if actor == "anonymous" else "FORBIDDEN"
                assert errors, (name, actor, body)
                assert errors[0]["extensions"]["code"] == expected, (name, actor, errors)


async def test_personal_data_visibility(api: Api) -> None:
    world = await build_world(api)
    team = world.team
    backer_query = (
        "query($id: ID!) { campaign(id: $id) { pledges { edges { node { investor "
        "{ id email investorProfile { kycStatus } } } } } } }"
    )
    seen: dict[str, Any] = {}
    for actor in ("founder", "officer", "auditor"):
        data = await api.ok(backer_query, {"id": world.live_id}, world.token(actor))
        seen[actor] = data["campaign"]["pledges"]["edges"][0]["node"]["investor"]
    # The founder of a campaign the backer backed sees the e-mail, not the profile.
    assert seen["founder"] == {"id": team.backer.id, "email": team.backer.email,
                               "investorProfile": None}
    for staff in ("officer", "auditor"):
        assert seen[staff]["email"] == team.backer.email
        assert seen[staff]["investorProfile"] == {"kycStatus": "VERIFIED"}
    # Anyone else reading a founder sees no e-mail; the founder themself does.
    founder_query = "query($id: ID!) { campaign(id: $id) { founder { email investorProfile " \
        "{ country } } } }"
    for actor, visible in (("anonymous", False), ("outsider", False), ("backer", False),
                           ("founder", True), ("admin", True)):
        data = await api.ok(founder_query, {"id": world.live_id}, world.token(actor))
        email = data["campaign"]["founder"]["email"]
        assert (email == team.founder.email) is visible and (email is None) is not visible, actor
    me = await api.ok("{ me { email investorProfile { kycStatus country accredited } } }",
                      token=team.backer.token)
    assert me["me"] == {"email": team.backer.email, "investorProfile": {
        "kycStatus": "VERIFIED", "country": "US", "accredited": False}}
    assert (await api.ok("{ me { id } }"))["me"] is None


async def test_drafts_are_private(api: Api) -> None:
    world = await build_world(api)
    query = "query($id: ID!) { campaign(id: $id) { id status } }"
    for actor, visible in (("anonymous", False), ("outsider", False), ("founder", True),
                           ("officer", True), ("auditor", True), ("admin", True)):
        data = await api.ok(query, {"id": world.draft_id}, world.token(actor))
        assert (data["campaign"] is not None) is visible, actor
    listing = "{ campaigns { totalCount edges { node { status } } } }"
    public = await api.ok(listing)
    assert {e["node"]["status"] for e in public["campaigns"]["edges"]} == {"LIVE"}
    everything = await api.ok(listing, token=world.token("officer"))
    assert everything["campaigns"]["totalCount"] == 4
    code = await api.error_code("{ campaigns(status: DRAFT) { totalCount } }",
                                token=world.token("outsider"))
    assert code == "FORBIDDEN"


async def test_an_auditor_writes_nothing_even_with_other_roles(api: Api) -> None:
    world = await build_world(api)
    # The auditor also holds BACKER and FOUNDER (everyone does), yet every write is refused.
    data = await api.ok(MUTATIONS["draftCampaign"][0](world), token=world.token("auditor"))
    assert data["draftCampaign"]["code"] == "READ_ONLY_ROLE"


async def test_invalid_token_is_unauthenticated(api: Api) -> None:
    world = await build_world(api)
    assert await api.error_code("{ myPledges { id } }", token="garbage") == "UNAUTHENTICATED"
    forged = world.token("backer")
    assert forged is not None
    tampered = forged[:-3] + ("AAA" if not forged.endswith("AAA") else "BBB")
    assert await api.error_code("{ myPledges { id } }", token=tampered) == "UNAUTHENTICATED"
    data = await api.ok(MUTATIONS["pledge"][0](world), token="garbage")
    assert (data["pledge"]["__typename"], data["pledge"]["code"]) == ("NotAllowed",
                                                                      "UNAUTHENTICATED")
    assert (await api.ok("{ me { id } }", token="garbage"))["me"] is None
