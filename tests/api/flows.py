"""GraphQL building blocks for API tests: accounts, campaigns and pledges made
through the API itself, and shared selections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from api.security import hash_password
from domain.rulebook import Regime
from tests.api.conftest import CHEAP_HASHER, Api
from tests.authenticator import enroll
from tests.scenario import right_answers

STAFF_ROLES = ("RISK_OFFICER", "AUDITOR", "ADMIN")

PASSWORD = "correct horse battery staple"
PROBLEM = "... on Problem { __typename code message } ... on ValidationProblem { field }"

SIGN_UP = f"""
mutation SignUp($input: SignUpInput!) {{
  signUp(input: $input) {{
    __typename
    ... on AuthPayload {{ token position user {{ id email displayName roles }} }}
    {PROBLEM}
  }}
}}"""
SIGN_IN = f"""
mutation SignIn($email: String!, $password: String!) {{
  signIn(email: $email, password: $password) {{
    __typename ... on AuthPayload {{ token user {{ id }} }} {PROBLEM}
  }}
}}"""
GRANT = f"""
mutation Grant($email: String!, $role: Role!) {{
  grantRole(email: $email, role: $role) {{
    __typename ... on RoleGranted {{ position user {{ id roles }} }} {PROBLEM}
  }}
}}"""
PROFILE = f"""
mutation Profile($input: InvestorProfileInput!) {{
  submitInvestorProfile(input: $input) {{
    __typename
    ... on InvestorProfileSaved {{ position user {{ id investorProfile {{ kycStatus country }} }} }}
    {PROBLEM}
  }}
}}"""
VERIFY = f"""
mutation Verify($id: ID!) {{
  verifyInvestor(userId: $id) {{
    __typename ... on InvestorProfileSaved {{ position user {{ investorProfile {{ kycStatus }} }} }}
    {PROBLEM}
  }}
}}"""
CAMPAIGN_FIELDS = (
    "id title summary status regime currency minTarget maxTarget minPledge pricePerShare "
    "deadline launchedAt raised backerCount founder { id displayName }"
)
CAMPAIGN_RESULT = f"""
  __typename ... on CampaignSaved {{ position campaign {{ {CAMPAIGN_FIELDS} }} }} {PROBLEM}
"""
DRAFT = f"""
mutation Draft($input: DraftCampaignInput!) {{
  draftCampaign(input: $input) {{ {CAMPAIGN_RESULT} }}
}}"""
SUBMIT = f"mutation S($id: ID!) {{ submitCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
APPROVE = f"mutation A($id: ID!) {{ approveCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
LAUNCH = f"mutation L($id: ID!) {{ launchCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
PLEDGE_FIELDS = (
    "id amount shares status pledgedAt cancellableUntil reconfirmBy "
    "campaign { id title } investor { id }"
)
PLEDGE_RESULT = f"""
  __typename ... on PledgeSaved {{ position pledge {{ {PLEDGE_FIELDS} }} }}
  ... on InvestmentLimitExceeded {{ limit remaining }}
  ... on MaxTargetExceeded {{ remaining }}
  ... on RiskAcknowledgementRequired {{ threshold }}
  {PROBLEM}
"""
PLEDGE = f"mutation P($input: PledgeInput!) {{ pledge(input: $input) {{ {PLEDGE_RESULT} }} }}"
TAKE_TEST = f"""
mutation T($regime: Regime!, $answers: [KnowledgeAnswerInput!]!) {{
  takeKnowledgeTest(regime: $regime, answers: $answers) {{
    __typename ... on KnowledgeTestTaken {{ passed score outOf position }} {PROBLEM}
  }}
}}"""
DOCUMENT_FIELDS = "id kind name contentType size sha256 url uploadedAt"
UPLOAD = f"""
mutation Upload($campaignId: ID!, $kind: DocumentKind!, $file: Upload!) {{
  uploadDocument(campaignId: $campaignId, kind: $kind, file: $file) {{
    __typename ... on DocumentUploaded {{ position document {{ {DOCUMENT_FIELDS} }} }} {PROBLEM}
  }}
}}"""
# A small well-formed PDF (the scenario's offering statement).
STATEMENT_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
SET_CLOCK = f"""
mutation C($now: DateTime!) {{
  setClock(now: $now) {{ __typename ... on ClockSet {{ now position }} {PROBLEM} }}
}}"""


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    token: str


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:10]}@example.com"


async def sign_up(api: Api, prefix: str = "user", name: str | None = None) -> Account:
    email = unique_email(prefix)
    data = await api.ok(SIGN_UP, {"input": {
        "email": email, "password": PASSWORD, "displayName": name or prefix.title(),
    }})
    result = data["signUp"]
    assert result["__typename"] == "AuthPayload", result
    return Account(result["user"]["id"], email, result["token"])


def bootstrap_admin(api: Api) -> Account:
    """What the runtime does at start-up from CROWDFUND_ADMIN_EMAIL/PASSWORD, then
    the admin turns TOTP on (staff act only with a second factor)."""
    email = unique_email("admin")
    password_hash = hash_password(PASSWORD, hasher=CHEAP_HASHER)
    user_id = api.store.accounts.bootstrap_admin(email, password_hash)
    enroll(api.store, user_id)
    return Account(str(user_id), email, api.token_for(user_id))


async def sign_in(api: Api, email: str, password: str = PASSWORD) -> dict[str, Any]:
    data = await api.ok(SIGN_IN, {"email": email, "password": password})
    result: dict[str, Any] = data["signIn"]
    return result


async def grant(api: Api, admin: Account, who: Account, role: str) -> Account:
    """`role` for `who`; a staff role is put in force by enrolling them in TOTP."""
    data = await api.ok(GRANT, {"email": who.email, "role": role}, admin.token)
    assert data["grantRole"]["__typename"] == "RoleGranted", data
    if role in STAFF_ROLES:
        enroll(api.store, who.id)
    return Account(who.id, who.email, api.token_for(who.id))  # fresh token with the new role


def profile_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "legalName": "Ada Investor", "dateOfBirth": "1990-04-30", "country": "US",
        "annualIncome": "50000.00", "netWorth": "50000.00", "knowledgeTestPassed": True,
    }
    values.update(overrides)
    return values


def answers(regime: str, wrong: int = 0) -> list[dict[str, Any]]:
    """An answer sheet for `takeKnowledgeTest`, the first `wrong` answers wrong (the right
    ones come from the server's own data: the API never sends them)."""
    return [{"questionId": qid, "choice": choice}
            for qid, choice in right_answers(Regime(regime), wrong)]


async def take_test(api: Api, who: Account, regime: str, wrong: int = 0) -> dict[str, Any]:
    data = await api.ok(TAKE_TEST, {"regime": regime, "answers": answers(regime, wrong)},
                        who.token)
    result: dict[str, Any] = data["takeKnowledgeTest"]
    return result


async def verified_backer(api: Api, officer: Account, prefix: str = "backer",
                          knowledge_tests: bool = True, **profile: Any) -> Account:
    """Verified, and (unless told not to) passed the knowledge tests of both regimes."""
    backer = await sign_up(api, prefix)
    data = await api.ok(PROFILE, {"input": profile_input(**profile)}, backer.token)
    assert data["submitInvestorProfile"]["__typename"] == "InvestorProfileSaved", data
    data = await api.ok(VERIFY, {"id": backer.id}, officer.token)
    assert data["verifyInvestor"]["__typename"] == "InvestorProfileSaved", data
    for regime in ("REG_CF", "ECSP") if knowledge_tests else ():
        assert (await take_test(api, backer, regime))["passed"] is True
    return backer


def draft_input(api: Api, **overrides: Any) -> dict[str, Any]:
    deadline: datetime = api.clock.now() + timedelta(days=30)
    values: dict[str, Any] = {
        "title": "Solar Co-op", "summary": "Panels on every roof.", "regime": "REG_CF",
        "minTarget": "1000.00", "maxTarget": "10000.00", "minPledge": "100.00",
        "pricePerShare": "10.00", "deadline": deadline.isoformat(),
    }
    values.update(overrides)
    return values


async def upload(
    api: Api, founder: Account, campaign_id: str, kind: str, name: str, content: bytes,
    claimed_type: str = "application/octet-stream",
) -> dict[str, Any]:
    """`uploadDocument` over the multipart request spec; its result (payload or problem)."""
    response = await api.upload(
        UPLOAD, {"campaignId": campaign_id, "kind": kind},
        {"file": (name, content, claimed_type)}, founder.token,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"]["uploadDocument"]
    return result


async def file_statement(api: Api, founder: Account, campaign_id: str, regime: str) -> None:
    """The offering statement `submitCampaign` needs: a Form C (REG_CF) or KIIS (ECSP)."""
    kind = "FORM_C" if regime == "REG_CF" else "KIIS"
    result = await upload(api, founder, campaign_id, kind, f"{kind.lower()}.pdf",
                          STATEMENT_PDF + campaign_id.encode(), "application/pdf")
    assert result["__typename"] == "DocumentUploaded", result


async def draft(api: Api, founder: Account, *, statement: bool = True, **overrides: Any) -> str:
    """A DRAFT campaign, with its offering statement filed unless `statement=False`."""
    values = draft_input(api, **overrides)
    data = await api.ok(DRAFT, {"input": values}, founder.token)
    result = data["draftCampaign"]
    assert result["__typename"] == "CampaignSaved", result
    campaign_id: str = result["campaign"]["id"]
    if statement:
        await file_statement(api, founder, campaign_id, values["regime"])
    return campaign_id


async def live_campaign(api: Api, founder: Account, officer: Account, **overrides: Any) -> str:
    campaign_id = await draft(api, founder, **overrides)
    for query, token in ((SUBMIT, founder.token), (APPROVE, officer.token),
                         (LAUNCH, founder.token)):
        data = await api.ok(query, {"id": campaign_id}, token)
        (result,) = data.values()
        assert result["__typename"] == "CampaignSaved", result
    return campaign_id


async def pledge(api: Api, backer: Account, campaign_id: str, amount: str,
                 key: str | None = None, **extra: Any) -> dict[str, Any]:
    """Acknowledges the risk unless `acknowledgeRisk` is given (every REG_CF pledge needs it)."""
    data = await api.ok(PLEDGE, {"input": {
        "campaignId": campaign_id, "amount": amount, "idempotencyKey": key or uuid4().hex,
        "acknowledgeRisk": True, **extra,
    }}, backer.token)
    result: dict[str, Any] = data["pledge"]
    return result


@dataclass(frozen=True)
class Cast:
    """Everyone a test needs, made through the API (only the first admin is bootstrapped)."""

    admin: Account
    officer: Account
    auditor: Account
    founder: Account
    backer: Account
    outsider: Account


async def cast(api: Api) -> Cast:
    admin = bootstrap_admin(api)
    officer = await grant(api, admin, await sign_up(api, "officer"), "RISK_OFFICER")
    auditor = await grant(api, admin, await sign_up(api, "auditor"), "AUDITOR")
    founder = await sign_up(api, "founder")
    backer = await verified_backer(api, officer)
    outsider = await sign_up(api, "outsider")
    return Cast(admin, officer, auditor, founder, backer, outsider)
