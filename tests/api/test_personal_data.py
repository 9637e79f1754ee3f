"""Personal data shown to staff: the KYC queue, and the record of every read of a
user's personal data by someone else (`dataAccessLog`, GDPR Art. 15)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

from api.schema import schema
from tests.api.conftest import Api
from tests.api.flows import (
    PROFILE,
    VERIFY,
    Account,
    cast,
    live_campaign,
    pledge,
    profile_input,
    sign_up,
)

QUEUE = """query Q($first: Int) { kycQueue(first: $first) {
  legalName dateOfBirth country annualIncome netWorth accredited sophisticated submittedAt
  user { id displayName }
  screening { status screenedAt listVersion matches { listName entryId name score programs } }
} }"""
LOG = "query L($id: ID!) { dataAccessLog(userId: $id) { at purpose viewer { id } subject { id } } }"
SANCTIONED = "Ottoline Beatrix Quartermaine-Voss"  # fictitious entry 9900005 of the sample list


async def applicant(api: Api, prefix: str, **profile: Any) -> Account:
    user = await sign_up(api, prefix)
    data = await api.ok(PROFILE, {"input": profile_input(**profile)}, user.token)
    assert data["submitInvestorProfile"]["__typename"] == "InvestorProfileSaved", data
    return user


async def accesses(api: Api, reader: Account, subject: Account) -> list[tuple[str, str]]:
    data = await api.ok(LOG, {"id": subject.id}, reader.token)
    return [(a["viewer"]["id"], a["purpose"]) for a in data["dataAccessLog"]]


async def test_the_queue_shows_pending_profiles_oldest_first_with_their_screening(
    api: Api,
) -> None:
    people = await cast(api)
    first = await applicant(api, "first", legalName="Ada First", dateOfBirth="1980-01-02",
                            country="DE", annualIncome="72000.00", netWorth="150000.00")
    api.clock.advance(minutes=5)
    second = await applicant(api, "second", legalName=SANCTIONED)
    queue = (await api.ok(QUEUE, {}, people.officer.token))["kycQueue"]
    mine = [a for a in queue if a["user"]["id"] in (first.id, second.id)]
    assert [a["user"]["id"] for a in mine] == [first.id, second.id]
    ada = mine[0]
    assert (ada["legalName"], ada["dateOfBirth"], ada["country"]) == (
        "Ada First", "1980-01-02", "DE")
    assert (ada["annualIncome"], ada["netWorth"]) == ("72000.00", "150000.00")
    assert ada["screening"]["status"] == "CLEAR" and ada["screening"]["matches"] == []
    assert mine[0]["submittedAt"] < mine[1]["submittedAt"]
    held = mine[1]["screening"]
    assert held["status"] == "POSSIBLE_MATCH"
    assert [m["entryId"] for m in held["matches"]] == ["9900005"]
    # The backer verified in `cast` is no longer pending; verifying takes one out.
    assert people.backer.id not in [a["user"]["id"] for a in queue]
    data = await api.ok(VERIFY, {"id": first.id}, people.officer.token)
    assert data["verifyInvestor"]["__typename"] == "InvestorProfileSaved"
    queue = (await api.ok(QUEUE, {}, people.officer.token))["kycQueue"]
    assert first.id not in [a["user"]["id"] for a in queue]
    assert second.id in [a["user"]["id"] for a in queue]


async def test_only_risk_officers_read_the_queue(api: Api) -> None:
    people = await cast(api)
    await applicant(api, "pending")
    for who in (people.auditor, people.admin, people.founder, people.backer):
        assert await api.error_code(QUEUE, {}, who.token) == "FORBIDDEN"
    assert await api.error_code(QUEUE, {}) == "UNAUTHENTICATED"
    assert await api.error_code(QUEUE, {"first": 101}, people.officer.token) == "BAD_USER_INPUT"


async def test_reading_the_queue_is_recorded_for_each_applicant(api: Api) -> None:
    people = await cast(api)
    ada = await applicant(api, "ada")
    assert await accesses(api, ada, ada) == []
    await api.ok(QUEUE, {}, people.officer.token)
    assert await accesses(api, ada, ada) == [(people.officer.id, "kycQueue")]
    # The subject, auditors and admins read the record; nobody else.
    assert await accesses(api, people.auditor, ada) == [(people.officer.id, "kycQueue")]
    assert await accesses(api, people.admin, ada) == [(people.officer.id, "kycQueue")]
    for who in (people.officer, people.backer, people.founder):
        assert await api.error_code(LOG, {"id": ada.id}, who.token) == "FORBIDDEN"
    assert await api.error_code(LOG, {"id": "no-such-user"}, people.auditor.token) == "NOT_FOUND"


# Every path that reaches another user's personal data, from each kind of reader: the
# recording is in the fields themselves (User.email, User.investorProfile, the queue), so a
# new path is recorded too; `test_the_personal_data_fields_are_the_recorded_ones` keeps
# the list of such fields honest.
PATHS = {
    "officer: queue": ("officer", QUEUE.replace("user { id displayName }",
                                                "user { id email investorProfile { country } }"),
                       {"kycQueue", "kycQueue → User.email", "kycQueue → User.investorProfile"}),
    "auditor: AML alert": ("auditor", "{ amlAlerts { subject { id email } } }",
                           {"amlAlerts → User.email"}),
    "founder: pledges of their campaign": (
        "founder", "query C($id: ID!) { campaign(id: $id) { pledges { edges { node { "
        "investor { email } } } } } }",
        {"campaign → User.email"}),
    "officer: a backer's profile": (
        "officer", "query C($id: ID!) { campaign(id: $id) { pledges { edges { node { "
        "investor { investorProfile { country accredited } } } } } } }",
        {"campaign → User.investorProfile"}),
    "admin: the user a role was granted to": (
        "admin", "mutation G($email: String!) { grantRole(email: $email, role: FOUNDER) { "
        "... on RoleGranted { user { email } } } }",
        {"grantRole → User.email"}),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_no_one_sees_another_users_personal_data_without_a_record(
    api: Api, path: str
) -> None:
    role, query, purposes = PATHS[path]
    people = await cast(api)
    # A pending applicant on the sanctions list (in the queue, with an alert about them),
    # and a backer with a pledge on a live campaign.
    subject = await applicant(api, "subject", legalName=SANCTIONED)
    campaign_id = await live_campaign(api, people.founder, people.officer)
    placed = await pledge(api, people.backer, campaign_id, "100.00")
    assert placed["__typename"] == "PledgeSaved", placed
    reader: Account = getattr(people, role)
    target = subject if "queue" in path or "AML" in path else people.backer
    before = await accesses(api, target, target)
    body = await api.call(query, {"id": campaign_id, "email": target.email}, reader.token)
    assert not body.get("errors"), body["errors"]
    shown = str(body["data"])
    assert ("@example.com" in shown) or ("'country'" in shown)
    after = await accesses(api, target, target)
    assert set(after[: len(after) - len(before)]) == {(reader.id, p) for p in purposes}
    # The subject reading their own data is not a record.
    await api.ok("{ me { email investorProfile { legalName } } }", token=target.token)
    assert await accesses(api, target, target) == after


async def test_a_read_that_cannot_be_recorded_shows_nothing(api: Api) -> None:
    people = await cast(api)
    ada = await applicant(api, "ada")
    with api.services.read_models.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE data_access_log"))
    body = await api.call(QUEUE, {}, people.officer.token)
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert "Ada Investor" not in str(body)
    body = await api.call("query U($id: ID!) { kycQueue { user { id } } }", {"id": ada.id},
                          people.officer.token)
    assert body["data"] is None
    # Own data needs no record and still shows.
    data = await api.ok("{ me { email } }", token=ada.token)
    assert data["me"]["email"] == ada.email


def _named_type(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


# Fields that carry a person's data, and where they may appear. Issuer.legalName is a
# company's registered name, not a person's.
PERSONAL_NAMES = {"email", "legalName", "dateOfBirth", "annualIncome", "netWorth",
                  "otherRegCfInvestments12m", "investorProfile"}
RECORDED = {"User.email", "User.investorProfile"}
BEHIND_RECORDED = {"InvestorProfile", "KycApplication"}  # only reachable through the above
NOT_PERSONAL = {"Issuer.legalName"}


def test_the_personal_data_fields_are_the_recorded_ones() -> None:
    found = set()
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name in graphql_type.fields:
            if field_name in PERSONAL_NAMES and name not in BEHIND_RECORDED:
                found.add(f"{name}.{field_name}")
    assert found - NOT_PERSONAL == RECORDED
    # KycApplication is only the queue's (which records), InvestorProfile only User's.
    owners = {
        f"{n}.{f}" for n, gt in schema._schema.type_map.items()
        if isinstance(gt, GraphQLObjectType) and not n.startswith("__")
        for f, fd in gt.fields.items()
        if _named_type(fd.type).name in BEHIND_RECORDED
    }
    assert owners == {"Query.kycQueue", "User.investorProfile"}
