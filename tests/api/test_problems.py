"""Every Problem the API answers with: union members with a code, a sentence and,
for validation, the camelCase field; nothing is stored when a command is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api, make_services
from tests.api.flows import (
    DRAFT,
    LAUNCH,
    PASSWORD,
    PLEDGE,
    PROBLEM,
    PROFILE,
    SET_CLOCK,
    SIGN_UP,
    SUBMIT,
    Cast,
    cast,
    draft,
    draft_input,
    live_campaign,
    pledge,
    profile_input,
    sign_in,
    sign_up,
    verified_backer,
)


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


async def refused(api: Api, query: str, variables: dict[str, Any], token: str | None = None
                  ) -> dict[str, Any]:
    """The problem answered, after checking that nothing was written."""
    head = api.store.head_position()
    data = await api.ok(query, variables, token)
    (result,) = data.values()
    assert result["__typename"] not in ("CampaignSaved", "PledgeSaved", "AuthPayload"), result
    assert result["code"] and result["message"].endswith((".", ")")), result
    assert api.store.head_position() == head
    return dict(result)


async def test_validation_problems_name_the_field(api: Api, team: Cast) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"minTarget": "12.345"}, "minTarget", "INVALID_INPUT"),
        ({"maxTarget": "lots"}, "maxTarget", "INVALID_INPUT"),
        ({"minPledge": "-5.00"}, "minPledge", "INVALID_INPUT"),
        ({"pricePerShare": "NaN"}, "pricePerShare", "INVALID_INPUT"),
        ({"deadline": "2027-05-01T12:00:00"}, "deadline", "INVALID_INPUT"),  # naive
        ({"deadline": "next tuesday"}, "deadline", "INVALID_INPUT"),
        ({"title": ""}, "title", "INVALID_INPUT"),
        ({"title": "x" * 201}, "title", "INVALID_INPUT"),
        ({"minTarget": "5000.00", "maxTarget": "1000.00"}, "maxTarget", "INVALID_INPUT"),
        ({"maxTarget": "6000000.00"}, "maxTarget", "INVALID_INPUT"),
        ({"deadline": "2020-01-01T00:00:00+00:00"}, "deadline", "INVALID_INPUT"),
    ]
    for overrides, field, code in cases:
        problem = await refused(api, DRAFT, {"input": draft_input(api, **overrides)},
                                team.founder.token)
        assert (problem["__typename"], problem["field"], problem["code"]) == (
            "ValidationProblem", field, code), (overrides, problem)


async def test_decimal_given_as_json_number_or_float(api: Api, team: Cast) -> None:
    problem = await refused(api, DRAFT, {"input": draft_input(api, minTarget=1000.5)},
                            team.founder.token)
    assert problem["field"] == "minTarget"
    # A whole JSON number is an exact amount and is accepted.
    assert await draft(api, team.founder, minTarget=1000)


async def test_sign_up_problems(api: Api) -> None:
    def sign_up_vars(email: str, password: str = PASSWORD, name: str = "Ann") -> dict[str, Any]:
        return {"input": {"email": email, "password": password, "displayName": name}}

    bad_email = await refused(api, SIGN_UP, sign_up_vars("not-an-address"))
    assert (bad_email["__typename"], bad_email["field"]) == ("ValidationProblem", "email")
    weak = await refused(api, SIGN_UP, sign_up_vars("ann@example.com", "short"))
    assert (weak["field"], weak["code"]) == ("password", "WEAK_PASSWORD")
    nameless = await refused(api, SIGN_UP, sign_up_vars("ann@example.com", name="  "))
    assert nameless["field"] == "displayName"
    first = await api.ok(SIGN_UP, sign_up_vars("ann@example.com"))
    assert first["signUp"]["__typename"] == "AuthPayload"
    taken = await refused(api, SIGN_UP, sign_up_vars("ANN@example.com"))
    assert (taken["code"], taken["field"]) == ("EMAIL_TAKEN", "email")


async def test_sign_in_wrong_password_then_locked(api: Api) -> None:
    user = await sign_up(api, "locky")
    assert (await sign_in(api, user.email))["__typename"] == "AuthPayload"
    for _ in range(4):
        wrong = await sign_in(api, user.email, "wrong password 123")
        assert (wrong["__typename"], wrong["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")
    locked = await sign_in(api, user.email, "wrong password 123")
    assert (locked["__typename"], locked["code"]) == ("NotAllowed", "TOO_MANY_ATTEMPTS")
    assert "Try again in" in locked["message"]
    # Locked even with the right password, until the window passes.
    assert (await sign_in(api, user.email))["code"] == "TOO_MANY_ATTEMPTS"
    # An unknown e-mail answers exactly like a wrong password.
    unknown = await sign_in(api, "nobody@example.com", "whatever 12345")
    assert (unknown["__typename"], unknown["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")


async def test_not_found_problems(api: Api, team: Cast) -> None:
    for query, variables in [
        (SUBMIT, {"id": "00000000-0000-4000-8000-000000000000"}),
        (SUBMIT, {"id": "not-a-uuid"}),
        (LAUNCH, {"id": "x" * 500}),
    ]:
        problem = await refused(api, query, variables, team.founder.token)
        assert (problem["__typename"], problem["code"]) == ("NotFound", "NOT_FOUND")
    missing = await refused(
        api, f"mutation {{ grantRole(email: \"ghost@example.com\", role: AUDITOR) "
        f"{{ __typename {PROBLEM} }} }}", {}, team.admin.token,
    )
    assert missing["__typename"] == "NotFound"
    gone = await refused(api, PLEDGE, {"input": {
        "campaignId": "00000000-0000-4000-8000-000000000000", "amount": "100.00",
        "idempotencyKey": "k"}}, team.backer.token)
    assert gone["__typename"] == "NotFound"


async def test_invalid_state_problems(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder)
    early = await refused(api, LAUNCH, {"id": cid}, team.founder.token)
    assert (early["__typename"], early["code"]) == ("InvalidState", "CAMPAIGN_NOT_APPROVED")
    live = await live_campaign(api, team.founder, team.officer)
    unverified = await sign_up(api, "unverified")
    kyc = await refused(api, PLEDGE, {"input": {
        "campaignId": live, "amount": "100.00", "idempotencyKey": "k"}}, unverified.token)
    assert (kyc["__typename"], kyc["code"]) == ("InvalidState", "KYC_NOT_VERIFIED")


async def test_pledge_amount_problems(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    below = await refused(api, PLEDGE, {"input": {
        "campaignId": cid, "amount": "50.00", "idempotencyKey": "a"}}, team.backer.token)
    assert (below["code"], below["field"]) == ("BELOW_MIN_PLEDGE", "amount")
    fraction = await refused(api, PLEDGE, {"input": {
        "campaignId": cid, "amount": "105.00", "idempotencyKey": "a"}}, team.backer.token)
    assert (fraction["code"], fraction["field"]) == ("NOT_WHOLE_SHARES", "amount")
    for text in ("1e3", "NaN", "Infinity", " 100", "1,000.00", "100.001", "", "0x10"):
        garbage = await refused(api, PLEDGE, {"input": {
            "campaignId": cid, "amount": text, "idempotencyKey": "a"}}, team.backer.token)
        assert (garbage["__typename"], garbage["field"]) == ("ValidationProblem", "amount")
    key = await refused(api, PLEDGE, {"input": {
        "campaignId": cid, "amount": "100.00", "idempotencyKey": ""}}, team.backer.token)
    assert key["field"] == "idempotencyKey"


async def test_investment_limit_exceeded(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    over = await pledge(api, team.backer, cid, "3000.00")
    assert over["__typename"] == "InvestmentLimitExceeded", over
    assert (over["code"], over["limit"], over["remaining"]) == (
        "INVESTMENT_LIMIT_EXCEEDED", "2500.00", "2500.00")
    limit = await api.ok("{ investmentLimit(regime: REG_CF) { regime limit used remaining } }",
                         token=team.backer.token)
    assert limit["investmentLimit"] == {
        "regime": "REG_CF", "limit": "2500.00", "used": "0.00", "remaining": "2500.00"}
    assert (await pledge(api, team.backer, cid, "2000.00"))["__typename"] == "PledgeSaved"
    limit = await api.ok("{ investmentLimit(regime: REG_CF) { used remaining } }",
                         token=team.backer.token)
    assert limit["investmentLimit"] == {"used": "2000.00", "remaining": "500.00"}


async def test_max_target_exceeded(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer, maxTarget="2000.00")
    rich = await verified_backer(api, team.officer, "rich", accredited=True)
    limit = await api.ok("{ investmentLimit(regime: REG_CF) { limit remaining } }",
                         token=rich.token)
    assert limit["investmentLimit"] == {"limit": None, "remaining": None}
    over = await pledge(api, rich, cid, "2100.00")
    assert (over["__typename"], over["remaining"]) == ("MaxTargetExceeded", "2000.00")


async def test_risk_acknowledgement_required(api: Api, team: Cast) -> None:
    cid = await live_campaign(api, team.founder, team.officer, regime="ECSP")
    backer = await verified_backer(api, team.officer, country="DE")  # EUR 50,000 net worth
    warned = await pledge(api, backer, cid, "3000.00", acknowledgeRisk=False)
    assert (warned["__typename"], warned["threshold"]) == ("RiskAcknowledgementRequired",
                                                           "2500.00")
    accepted = await pledge(api, backer, cid, "3000.00", acknowledgeRisk=True)
    assert accepted["__typename"] == "PledgeSaved"
    ecsp = await api.ok("{ investmentLimit(regime: ECSP) { limit used remaining } }",
                        token=backer.token)
    assert ecsp["investmentLimit"] == {"limit": None, "used": "3000.00", "remaining": None}


async def test_profile_validation(api: Api, team: Cast) -> None:
    for overrides, field in [
        ({"country": "USA"}, "country"),
        ({"dateOfBirth": "30/04/1990"}, "dateOfBirth"),
        ({"dateOfBirth": (datetime.now().date() - timedelta(days=365 * 10)).isoformat()},
         "dateOfBirth"),
        ({"annualIncome": "-1"}, "annualIncome"),
        ({"otherRegCfInvestments12m": "1.001"}, "otherRegCfInvestments12m"),
        ({"legalName": "A\u0000B"}, "legalName"),
    ]:
        problem = await refused(api, PROFILE, {"input": profile_input(**overrides)},
                                team.outsider.token)
        assert (problem["__typename"], problem["field"]) == ("ValidationProblem", field), problem


async def test_set_clock_needs_a_test_clock(api: Api, team: Cast, tmp_path: Any) -> None:
    wrong_role = await refused(api, SET_CLOCK, {"now": "2027-04-01T00:00:00+00:00"},
                               team.founder.token)
    assert wrong_role["__typename"] == "NotAllowed"
    naive = await refused(api, SET_CLOCK, {"now": "2027-04-01T00:00:00"}, team.admin.token)
    assert (naive["__typename"], naive["field"]) == ("ValidationProblem", "now")

    from api.app import create_app
    from tests.api.conftest import Api as Client

    services, url = make_services(api.store, api.clock, tmp_path / "real", test_clock=False)
    real = Client(services, create_app(services), url)
    try:
        answer = await real.ok(SET_CLOCK, {"now": "2027-04-01T00:00:00+00:00"},
                               team.admin.token)
        assert (answer["setClock"]["__typename"], answer["setClock"]["code"]) == (
            "NotAllowed", "NO_TEST_CLOCK")
    finally:
        await real.client.aclose()
        services.read_models.close()
