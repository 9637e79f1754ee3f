"""Inputs derived from their Pydantic models: each field checked once, named as the
client wrote it, nulls meaning the contract's defaults; money read by one parser."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.flows import DRAFT, PROBLEM, PROFILE, draft, draft_input, sign_up

AMEND = f"""
mutation($id: ID!, $input: AmendCampaignInput!) {{
  amendCampaign(id: $id, input: $input) {{ __typename {PROBLEM} }}
}}"""


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        # Longer than the Decimal context's precision: was a GraphQL error, not a problem.
        ("9" * 60, "minTarget is larger than any amount this platform handles."),
        ("9" * 40 + ".001", "minTarget can have at most 2 decimal places."),
        (" 100.00", 'minTarget must be a decimal string such as "2500.00".'),
        ("1e3", 'minTarget must be a decimal string such as "2500.00".'),
    ],
)
async def test_money_answers_one_sentence_whatever_layer_refuses(
    api: Api, amount: str, message: str
) -> None:
    founder = await sign_up(api, "founder")
    data = await api.ok(DRAFT, {"input": draft_input(api, minTarget=amount)}, founder.token)
    problem = data["draftCampaign"]
    assert (problem["__typename"], problem["field"], problem["message"]) == (
        "ValidationProblem", "minTarget", message)


async def test_optional_fields_are_named_in_camel_case(api: Api) -> None:
    founder = await sign_up(api, "founder")
    campaign_id = await draft(api, founder)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"minPledge": "1.001"}, "minPledge"),
        ({"pricePerShare": "0"}, "pricePerShare"),
        ({"title": ""}, "title"),
        ({"deadline": "2027-05-01T12:00:00"}, "deadline"),
    ]
    for changes, field in cases:
        data = await api.ok(AMEND, {"id": campaign_id, "input": changes}, founder.token)
        assert (data["amendCampaign"]["__typename"], data["amendCampaign"]["field"]) == (
            "ValidationProblem", field), changes
    nothing = await api.ok(AMEND, {"id": campaign_id, "input": {"title": None}}, founder.token)
    assert nothing["amendCampaign"]["code"] == "NOTHING_CHANGED"


async def test_null_is_the_default_of_a_defaulted_field(api: Api) -> None:
    backer = await sign_up(api, "backer")
    profile = {
        "legalName": "Ada Investor", "dateOfBirth": "1990-04-30", "country": "US",
        "annualIncome": "50000.00", "netWorth": "50000.00", "accredited": None,
        "sophisticated": None, "otherRegCfInvestments12m": None, "knowledgeTestPassed": None,
    }
    saved = await api.ok(PROFILE, {"input": profile}, backer.token)
    assert saved["submitInvestorProfile"]["__typename"] == "InvestorProfileSaved", saved
    me = await api.ok("{ me { investorProfile { accredited sophisticated knowledgeTestPassed } } }",
                      token=backer.token)
    assert me["me"]["investorProfile"] == {
        "accredited": False, "sophisticated": False, "knowledgeTestPassed": False}
    limit = await api.ok("{ investmentLimit(regime: REG_CF) { used } }", token=backer.token)
    assert limit["investmentLimit"]["used"] == "0.00"
