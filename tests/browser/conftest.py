"""Browser tests: Playwright (async API) driving Debian's Chromium against a real `crowdfund dev`.

- `chromium_path`: Debian's Chromium. When it is missing the browser tests are SKIPPED with the
  reason, except under CI (`CI` set to a true value), where they FAIL: CI must run them.
  `bash scripts/test-services.sh` installs it (`apt-get install chromium`).
- `browser_server`: one `crowdfund dev --no-demo --test-clock` for the browser session (a thin
  wrapper around `tests.servers.running_dev_server`), with the admin taken from
  CROWDFUND_ADMIN_EMAIL / CROWDFUND_ADMIN_PASSWORD when they are set.
- `api`: a small async GraphQL-over-HTTP client (httpx) for what staff and other people do
  outside the page: grant roles, verify KYC, draft/submit/approve/launch/amend campaigns, pledge.
  Every mutation is followed by `caughtUp(position)` so the page then reads what was written.
- `browser`: a headless Chromium for the session; `new_page(...)` makes a page in a fresh
  context (optionally signed in, optionally with a viewport) whose JavaScript errors fail the
  test.
- `screenshot(page, name)` saves `artifacts/screenshots/<name>.png` (repo-relative). The
  campaign page's (desktop and phone) are committed and linked from docs/frontend.md; the
  others are ignored by git.

Every Playwright wait is bounded (`TIMEOUT_MS`, at most 15 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from domain.rulebook import Regime
from tests.scenario import right_answers
from tests.servers import ADMIN_EMAIL, ADMIN_PASSWORD, DevServer, running_dev_server

STAFF_ROLES = ("RISK_OFFICER", "AUDITOR", "ADMIN")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CROWDFUND_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
]
TIMEOUT_MS = 10_000  # every Playwright wait (actions, expect, waits); navigation: 15 s
NAV_TIMEOUT_MS = 15_000
PASSWORD = "correct horse battery staple"
TOKEN_KEY = "crowdfund.token"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where the browser tests must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the browser tests must run here)", pytrace=False)
    pytest.skip(f"{reason}; run `bash scripts/test-services.sh` as root to install it")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed ({exc})")
    return CHROMIUM


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="session")
def browser_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevServer]:
    """`crowdfund dev --no-demo --test-clock` for the whole browser session."""
    env = {
        "CROWDFUND_ADMIN_EMAIL": os.environ.get("CROWDFUND_ADMIN_EMAIL") or ADMIN_EMAIL,
        "CROWDFUND_ADMIN_PASSWORD": os.environ.get("CROWDFUND_ADMIN_PASSWORD") or ADMIN_PASSWORD,
    }
    with running_dev_server(tmp_path_factory.mktemp("browser") / "data", env=env) as server:
        yield server


# --------------------------------------------------------------------------- GraphQL helper

PROBLEM = "... on Problem { code message } ... on ValidationProblem { field }"
AUTH = f"""__typename ... on AuthPayload {{ token user {{ id email displayName roles }} }}
  {PROBLEM}"""
SIGN_UP = f"mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {AUTH} }} }}"
SIGN_IN = f"mutation($e: String!, $p: String!) {{ signIn(email: $e, password: $p) {{ {AUTH} }} }}"
GRANT = f"""mutation($e: String!, $r: Role!) {{ grantRole(email: $e, role: $r) {{
  __typename ... on RoleGranted {{ position user {{ id roles }} }} {PROBLEM} }} }}"""
PROFILE_RESULT = f"""__typename
  ... on InvestorProfileSaved {{ position user {{ id investorProfile {{ kycStatus }} }} }}
  {PROBLEM}"""
SUBMIT_PROFILE = f"""mutation($input: InvestorProfileInput!) {{
  submitInvestorProfile(input: $input) {{ {PROFILE_RESULT} }} }}"""
VERIFY = f"mutation($id: ID!) {{ verifyInvestor(userId: $id) {{ {PROFILE_RESULT} }} }}"
CAMPAIGN_RESULT = f"""__typename
  ... on CampaignSaved {{ position campaign {{ id title status raised backerCount }} }}
  {PROBLEM}"""
DRAFT = f"""mutation($input: DraftCampaignInput!) {{
  draftCampaign(input: $input) {{ {CAMPAIGN_RESULT} }} }}"""
SUBMIT = f"mutation($id: ID!) {{ submitCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
APPROVE = f"mutation($id: ID!) {{ approveCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
LAUNCH = f"mutation($id: ID!) {{ launchCampaign(id: $id) {{ {CAMPAIGN_RESULT} }} }}"
AMEND = f"""mutation($id: ID!, $input: AmendCampaignInput!) {{
  amendCampaign(id: $id, input: $input) {{ {CAMPAIGN_RESULT} }} }}"""
PLEDGE_FIELDS = "id amount shares status cancellableUntil reconfirmBy campaign { id }"
PLEDGE = f"""mutation($input: PledgeInput!) {{ pledge(input: $input) {{ __typename
  ... on PledgeSaved {{ position pledge {{ {PLEDGE_FIELDS} }} }}
  ... on InvestmentLimitExceeded {{ limit remaining }} {PROBLEM} }} }}"""
MY_PLEDGES = f"{{ myPledges {{ {PLEDGE_FIELDS} }} }}"
CAMPAIGN = "query($id: ID!) { campaign(id: $id) { id status raised backerCount } }"
TAKE_TEST = f"""mutation($r: Regime!, $a: [KnowledgeAnswerInput!]!) {{
  takeKnowledgeTest(regime: $r, answers: $a) {{ __typename
  ... on KnowledgeTestTaken {{ passed position }} {PROBLEM} }} }}"""
UPLOAD = f"""mutation($id: ID!, $kind: DocumentKind!, $file: Upload!) {{
  uploadDocument(campaignId: $id, kind: $kind, file: $file) {{ __typename
  ... on DocumentUploaded {{ position document {{ id name sha256 url contentType size }} }}
  {PROBLEM} }} }}"""
# A small well-formed PDF: the offering statement every live campaign files.
STATEMENT_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
CAUGHT_UP = "query($p: Long!) { caughtUp(position: $p, timeoutMs: 5000) }"


class GraphQLFailed(AssertionError):
    pass


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    token: str
    display_name: str


@dataclass
class Api:
    """GraphQL over HTTP against the dev server, for the steps outside the page."""

    client: httpx.AsyncClient
    server: DevServer | None = None  # staff enroll in TOTP through it
    admin: Person | None = None
    officer: Person | None = None
    founder: Person | None = None
    _campaigns: int = field(default=0)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise GraphQLFailed(f"HTTP {response.status_code}: {body}")
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(
        self, query: str, variables: dict[str, Any], token: str | None, expect: str
    ) -> dict[str, Any]:
        """Run a mutation, check its `__typename`, then wait until the read models caught up."""
        data = await self.gql(query, variables, token)
        (result,) = data.values()
        if result["__typename"] != expect:
            raise GraphQLFailed(f"expected {expect}, got {result}")
        if result.get("position") is not None:
            await self.caught_up(result["position"])
        return dict(result)

    async def caught_up(self, position: int) -> None:
        for _ in range(3):
            if (await self.gql(CAUGHT_UP, {"p": position}))["caughtUp"]:
                return
        raise GraphQLFailed(f"read models did not catch up with position {position}")

    # --- people ---------------------------------------------------------------------

    async def sign_in(self, email: str, password: str = PASSWORD) -> Person:
        result = await self.mutate(SIGN_IN, {"e": email, "p": password}, None, "AuthPayload")
        user = result["user"]
        return Person(user["id"], email, result["token"], user["displayName"])

    async def sign_up(self, prefix: str, display_name: str | None = None) -> Person:
        email = unique_email(prefix)
        name = display_name or f"{prefix.title()} {uuid4().hex[:4]}"
        result = await self.mutate(
            SIGN_UP, {"input": {"email": email, "password": PASSWORD, "displayName": name}},
            None, "AuthPayload",
        )
        return Person(result["user"]["id"], email, result["token"], name)

    async def grant(self, person: Person, role: str) -> Person:
        assert self.admin is not None
        await self.mutate(GRANT, {"e": person.email, "r": role}, self.admin.token, "RoleGranted")
        signed_in = await self.sign_in(person.email)  # a token that carries the new role
        if role not in STAFF_ROLES or self.server is None:
            return signed_in
        # Staff act once TOTP is on: enroll, and take the token confirmTotp answers.
        return replace(signed_in, token=self.server.staff_token(person.email, PASSWORD))

    async def submit_profile(self, person: Person, **overrides: Any) -> None:
        await self.mutate(
            SUBMIT_PROFILE, {"input": profile_input(**overrides)}, person.token,
            "InvestorProfileSaved",
        )

    async def verify(self, user_id: str) -> None:
        assert self.officer is not None
        result = await self.mutate(
            VERIFY, {"id": user_id}, self.officer.token, "InvestorProfileSaved"
        )
        assert result["user"]["investorProfile"]["kycStatus"] == "VERIFIED", result

    async def pass_knowledge_tests(self, person: Person) -> None:
        """Both regimes' tests, graded by the server (the right answers come from its data)."""
        for regime in Regime:
            sheet = [{"questionId": q, "choice": c} for q, c in right_answers(regime)]
            result = await self.mutate(TAKE_TEST, {"r": regime.value, "a": sheet}, person.token,
                                       "KnowledgeTestTaken")
            assert result["passed"], result

    async def verified_backer(self, prefix: str = "backer", **profile: Any) -> Person:
        """Verified, with both knowledge tests passed."""
        backer = await self.sign_up(prefix)
        await self.submit_profile(backer, **profile)
        await self.verify(backer.id)
        await self.pass_knowledge_tests(backer)
        return backer

    # --- campaigns and pledges ----------------------------------------------------------

    async def live_campaign(self, title: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Founder drafts, files the offering statement (its Document is under "statement")
        and submits, the risk officer approves, the founder launches."""
        assert self.founder is not None and self.officer is not None
        self._campaigns += 1
        values: dict[str, Any] = {
            "title": title or f"Solar Co-op {self._campaigns} {uuid4().hex[:4]}",
            "summary": "Community-owned solar panels on every school roof in town.",
            "regime": "REG_CF", "minTarget": "1000.00", "maxTarget": "20000.00",
            "minPledge": "100.00", "pricePerShare": "10.00",
            "deadline": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        }
        values.update(overrides)
        drafted = await self.mutate(DRAFT, {"input": values}, self.founder.token, "CampaignSaved")
        campaign_id = drafted["campaign"]["id"]
        kind = "FORM_C" if values["regime"] == "REG_CF" else "KIIS"
        # Each campaign its own statement (the store keeps identical bytes once).
        statement = await self.upload(campaign_id, kind, f"{kind.lower()}.pdf",
                                      STATEMENT_PDF + f"% {campaign_id}\n".encode())
        await self.mutate(SUBMIT, {"id": campaign_id}, self.founder.token, "CampaignSaved")
        await self.mutate(APPROVE, {"id": campaign_id}, self.officer.token, "CampaignSaved")
        launched = await self.mutate(LAUNCH, {"id": campaign_id}, self.founder.token,
                                     "CampaignSaved")
        assert launched["campaign"]["status"] == "LIVE", launched
        campaign: dict[str, Any] = {**values, **launched["campaign"],
                                    "statement": statement["document"]}
        return campaign

    async def upload(
        self, campaign_id: str, kind: str, name: str, content: bytes, token: str | None = None
    ) -> dict[str, Any]:
        """`uploadDocument` over the GraphQL multipart request spec (the founder's by default);
        the DocumentUploaded payload, once the read models have it."""
        assert self.founder is not None
        operations = {"query": UPLOAD, "variables": {"id": campaign_id, "kind": kind,
                                                     "file": None}}
        response = await self.client.post(
            "/graphql", headers={"Authorization": f"Bearer {token or self.founder.token}"},
            data={"operations": json.dumps(operations),
                  "map": json.dumps({"0": ["variables.file"]})},
            files={"0": (name, content, "application/octet-stream")},
        )
        result: dict[str, Any] = response.json()["data"]["uploadDocument"]
        if result["__typename"] != "DocumentUploaded":
            raise GraphQLFailed(f"upload refused: {result}")
        await self.caught_up(result["position"])
        return result

    async def amend(self, campaign_id: str, **changes: Any) -> dict[str, Any]:
        assert self.founder is not None
        return await self.mutate(
            AMEND, {"id": campaign_id, "input": changes}, self.founder.token, "CampaignSaved"
        )

    async def pledge(
        self, backer: Person, campaign_id: str, amount: str, expect: str = "PledgeSaved"
    ) -> dict[str, Any]:
        return await self.mutate(
            PLEDGE,
            {"input": {"campaignId": campaign_id, "amount": amount,
                       "idempotencyKey": str(uuid4()), "acknowledgeRisk": True}},
            backer.token, expect,
        )

    async def my_pledges(self, backer: Person) -> list[dict[str, Any]]:
        pledges: list[dict[str, Any]] = (await self.gql(MY_PLEDGES, token=backer.token))[
            "myPledges"
        ]
        return pledges

    async def campaign(self, campaign_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.gql(CAMPAIGN, {"id": campaign_id}))["campaign"]
        return found


async def card_on_list(page: Any, title: str) -> Any:
    """The campaign list's card for `title`, loading more pages until it is there: other
    tests of the same server launch campaigns too, so it need not be on the first page."""
    card = page.locator('[data-testid="campaign-card"]').filter(has_text=title)
    more = page.locator('[data-testid="load-more"]')
    await page.locator('[data-testid="campaign-card"]').first.wait_for(timeout=TIMEOUT_MS)
    for _ in range(50):
        if await card.count() or not await more.is_visible():
            break
        before = await page.locator('[data-testid="campaign-card"]').count()
        await more.click()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while (await page.locator('[data-testid="campaign-card"]').count() == before
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
    return card


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:10]}@example.com"


def profile_input(**overrides: Any) -> dict[str, Any]:
    """A US backer with income and net worth below $124,000: the Reg CF limit is $2,500."""
    values: dict[str, Any] = {
        "legalName": "Ada Investor", "dateOfBirth": "1990-04-30", "country": "US",
        "annualIncome": "40000.00", "netWorth": "30000.00", "knowledgeTestPassed": True,
    }
    values.update(overrides)
    return values


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api(browser_server: DevServer) -> AsyncIterator[Api]:
    """Signed-in admin, a risk officer (granted by the admin) and a founder."""
    async with httpx.AsyncClient(base_url=browser_server.base_url, timeout=20) as client:
        helper = Api(client, browser_server)
        admin = await helper.sign_in(browser_server.admin_email, browser_server.admin_password)
        helper.admin = replace(admin, token=browser_server.admin_token())  # TOTP on
        helper.officer = await helper.grant(await helper.sign_up("officer"), "RISK_OFFICER")
        helper.founder = await helper.sign_up("founder", "Grace Founder")
        yield helper


# --------------------------------------------------------------------------- the browser

NewPage = Callable[..., Awaitable[Any]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            timeout=NAV_TIMEOUT_MS,
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser: Any, browser_server: DevServer) -> AsyncIterator[NewPage]:
    """`await new_page(token=None, viewport=None, **context_options)`: a page in a fresh context
    (en-US and UTC unless `locale` / `timezone_id` say otherwise).

    With `token`, the page starts signed in (the token is put in localStorage before any page
    script runs). Uncaught JavaScript errors and Content-Security-Policy violations on any
    page fail the test at teardown.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    async def make(
        token: str | None = None, viewport: dict[str, int] | None = None, **options: Any
    ) -> Any:
        options = {"locale": "en-US", "timezone_id": "UTC", **options}
        context = await browser.new_context(
            base_url=browser_server.base_url,
            viewport=viewport or {"width": 1280, "height": 900}, **options,
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(NAV_TIMEOUT_MS)
        if token:
            await context.add_init_script(
                f"if (!sessionStorage.getItem('seeded')) {{"
                f" localStorage.setItem({TOKEN_KEY!r}, {token!r});"
                f" sessionStorage.setItem('seeded', '1'); }}"
            )
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        # The page runs under its Content-Security-Policy: any violation fails the test.
        page.on("console", lambda message: errors.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        return page

    yield make
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[[Any, str], Awaitable[Path]]:
    async def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        path = screenshot_dir / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page, timeout=TIMEOUT_MS)
        return path

    return take
