"""AML through GraphQL: a screening hold on verifyInvestor, its dismissal, escalation and
the pledging freeze it puts on the subject, and who may read and decide alerts."""

from __future__ import annotations

from typing import Any

from domain.aml_alert import AlertRule
from tests.api.conftest import Api
from tests.api.flows import (
    PROBLEM,
    PROFILE,
    VERIFY,
    Account,
    Cast,
    cast,
    grant,
    live_campaign,
    pledge,
    profile_input,
    sign_up,
    take_test,
)

SANCTIONED = "Ottoline Beatrix Quartermaine-Voss"  # fictitious entry 9900005 of the sample list
ALERT_FIELDS = ("id rule details status raisedAt decisionNote subject { id } "
                "decidedBy { id } campaign { id }")
ALERTS = f"query A($status: AlertStatus) {{ amlAlerts(status: $status) {{ {ALERT_FIELDS} }} }}"
DECIDE = f"""
mutation D($id: ID!, $decision: AlertStatus!, $note: String!) {{
  decideAlert(alertId: $id, decision: $decision, note: $note) {{
    __typename ... on AlertDecided {{ position alert {{ {ALERT_FIELDS} }} }} {PROBLEM}
  }}
}}"""


async def listed_applicant(api: Api, prefix: str = "applicant") -> Account:
    user = await sign_up(api, prefix)
    data = await api.ok(PROFILE, {"input": profile_input(legalName=SANCTIONED)}, user.token)
    assert data["submitInvestorProfile"]["__typename"] == "InvestorProfileSaved", data
    return user


async def alert_about(api: Api, reader: Account, subject: Account) -> dict[str, Any]:
    data = await api.ok(ALERTS, {"status": "OPEN"}, reader.token)
    (alert,) = [a for a in data["amlAlerts"] if a["subject"]["id"] == subject.id]
    return alert


async def decide(api: Api, who: Account, alert_id: str, decision: str,
                 note: str = "Checked the passport against the entry.") -> dict[str, Any]:
    data = await api.ok(DECIDE, {"id": alert_id, "decision": decision, "note": note}, who.token)
    result: dict[str, Any] = data["decideAlert"]
    return result


async def test_a_screening_hold_is_dismissed_with_a_note(api: Api) -> None:
    people = await cast(api)
    applicant = await listed_applicant(api)
    alert = await alert_about(api, people.officer, applicant)
    assert alert["rule"] == "SANCTIONS_MATCH" and alert["status"] == "OPEN"
    assert "9900005" in alert["details"] and "Ottoline" not in alert["details"]
    data = await api.ok(VERIFY, {"id": applicant.id}, people.officer.token)
    held = data["verifyInvestor"]
    assert (held["__typename"], held["code"]) == ("InvalidState", "SCREENING_HOLD")
    blank = await decide(api, people.officer, alert["id"], "DISMISSED", note=" ")
    assert (blank["__typename"], blank["field"]) == ("ValidationProblem", "note")
    decided = await decide(api, people.officer, alert["id"], "DISMISSED")
    assert decided["__typename"] == "AlertDecided"
    assert decided["alert"]["status"] == "DISMISSED"
    assert decided["alert"]["decidedBy"]["id"] == people.officer.id
    assert decided["alert"]["decisionNote"] == "Checked the passport against the entry."
    data = await api.ok(ALERTS, {"status": "DISMISSED"}, people.auditor.token)
    assert [a["id"] for a in data["amlAlerts"]] == [alert["id"]]
    data = await api.ok(VERIFY, {"id": applicant.id}, people.officer.token)
    assert data["verifyInvestor"]["__typename"] == "InvestorProfileSaved"
    again = await decide(api, people.officer, alert["id"], "ESCALATED")
    assert (again["__typename"], again["code"]) == ("InvalidState", "ALERT_DECIDED")


async def test_escalation_freezes_the_subjects_pledging(api: Api) -> None:
    people = await cast(api)
    campaign = await live_campaign(api, people.founder, people.officer)
    applicant = await listed_applicant(api)
    first = await alert_about(api, people.officer, applicant)
    await decide(api, people.officer, first["id"], "DISMISSED")
    await api.ok(VERIFY, {"id": applicant.id}, people.officer.token)
    assert (await take_test(api, applicant, "REG_CF"))["passed"] is True
    placed = await pledge(api, applicant, campaign, "100.00")
    assert placed["__typename"] == "PledgeSaved", placed
    # The monitor raises another alert about them (as `crowdfund worker monitor` does):
    written = api.store.aml.raise_alert(
        AlertRule.VELOCITY, applicant.id, "test-trigger", "USD 100.00 pledged within 24 h.")
    api.sync()
    escalated = await decide(api, people.officer, str(written.value), "ESCALATED",
                             "Source of funds unexplained; reported.")
    assert escalated["alert"]["status"] == "ESCALATED"
    refused = await pledge(api, applicant, campaign, "100.00")
    assert (refused["__typename"], refused["code"]) == ("InvalidState", "ACCOUNT_FROZEN")
    assert "compliance review" in refused["message"]
    lifted = await decide(api, people.officer, str(written.value), "DISMISSED",
                          "Funds traced to a house sale.")
    assert lifted["alert"]["status"] == "DISMISSED"
    assert (await pledge(api, applicant, campaign, "100.00"))["__typename"] == "PledgeSaved"


async def test_who_may_read_and_decide_alerts(api: Api) -> None:
    people: Cast = await cast(api)
    applicant = await listed_applicant(api)
    alert = await alert_about(api, people.officer, applicant)
    for who in (people.backer, people.founder, people.admin, applicant):
        assert await api.error_code(ALERTS, {}, who.token) == "FORBIDDEN"
    assert await api.error_code(ALERTS, {}) == "UNAUTHENTICATED"
    assert (await api.ok(ALERTS, {}, people.auditor.token))["amlAlerts"]
    # Auditors are read-only; admins, backers and the subject are not risk officers.
    for who in (people.auditor, people.admin, applicant, people.backer):
        result = await decide(api, who, alert["id"], "DISMISSED")
        assert result["__typename"] == "NotAllowed", (who, result)
    anonymous = (await api.ok(DECIDE, {"id": alert["id"], "decision": "DISMISSED",
                                       "note": "n"}))["decideAlert"]
    assert anonymous["code"] == "UNAUTHENTICATED"
    # A risk officer never decides an alert about themself.
    other = await grant(api, people.admin, await sign_up(api, "officer2"), "RISK_OFFICER")
    data = await api.ok(PROFILE, {"input": profile_input(legalName=SANCTIONED)}, other.token)
    assert data["submitInvestorProfile"]["__typename"] == "InvestorProfileSaved"
    own = await alert_about(api, people.officer, other)
    result = await decide(api, other, own["id"], "DISMISSED")
    assert (result["__typename"], result["code"]) == ("NotAllowed", "OWN_ALERT")
    assert (await decide(api, people.officer, own["id"], "DISMISSED"))["__typename"] == \
        "AlertDecided"
    unknown = await decide(api, people.officer, "00000000-0000-0000-0000-000000000000",
                           "DISMISSED")
    assert unknown["__typename"] == "NotFound"
    assert (await api.ok(ALERTS, {"status": "OPEN"}, people.officer.token))["amlAlerts"][0][
        "id"] == alert["id"]


async def test_alerts_can_be_listed_one_rule_at_a_time(api: Api) -> None:
    people = await cast(api)
    applicant = await listed_applicant(api)
    query = f"""query A($rule: String) {{ amlAlerts(status: OPEN, rule: $rule) {{
      {ALERT_FIELDS} }} }}"""
    ids = {rule: [a["id"] for a in (await api.ok(query, {"rule": rule}, people.officer.token))[
        "amlAlerts"]] for rule in ("SANCTIONS_MATCH", "VELOCITY", None)}
    alert = await alert_about(api, people.officer, applicant)
    assert ids["SANCTIONS_MATCH"] == [alert["id"]]
    assert ids["VELOCITY"] == []
    assert alert["id"] in ids[None]
