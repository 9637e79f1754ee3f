"""Security checks against the production topology over real HTTP: `crowdfund api`, the
relay, two projection workers and the scheduler on PostgreSQL and an embedded broker
(tests/faults/platform.py), one platform for the module.

- Personal data never on Kafka, never in logs: a backer with distinctive values
  (e-mail, password, legal name, date of birth, income, net worth, other Reg CF
  investments) signs up, submits a profile, is verified and pledges; their data also
  passes through refusals (taken e-mail, wrong password until throttled, an invalid
  profile, a malformed body). Then every message on the topic is read raw, and every
  line each process (and the broker) wrote is searched.
- Secrets only from the environment, never echoed: the signing key, the cipher key and
  the admin password appear in no log, no /healthz, no /metrics.
- Bearer tokens: expired, not yet valid, forged, signed with another key, `alg: none`,
  another algorithm, another issuer, missing claims, for an unknown user, oversized,
  other schemes: UNAUTHENTICATED on a protected query, NotAllowed on a mutation, a
  closed WebSocket (4403), and nothing stored. Roles in a token are not trusted.
- Passwords: the hash the running API stores is argon2id with memory-hard parameters;
  sign-in throttling holds over HTTP, whatever X-Forwarded-For says.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import websockets
from aiokafka import TopicPartition

from adapters import kafka
from tests.authenticator import enroll_over_graphql
from tests.faults.platform import ADMIN_EMAIL, ADMIN_PASSWORD, Platform, running_platform
from tests.servers import file_offering_statement

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

PROBLEM = "... on Problem { code message }"
SIGN_UP = f"""mutation($i: SignUpInput!) {{ signUp(input: $i) {{ __typename
  ... on AuthPayload {{ token user {{ id }} }} {PROBLEM} }} }}"""
SIGN_IN = f"""mutation($e: String!, $p: String!) {{ signIn(email: $e, password: $p) {{
  __typename ... on AuthPayload {{ token user {{ id }} }} {PROBLEM} }} }}"""
PROFILE = f"""mutation($i: InvestorProfileInput!) {{ submitInvestorProfile(input: $i) {{
  __typename ... on InvestorProfileSaved {{ position }} {PROBLEM} }} }}"""
VERIFY = f"""mutation($id: ID!) {{ verifyInvestor(userId: $id) {{ __typename
  ... on InvestorProfileSaved {{ position }} {PROBLEM} }} }}"""
GRANT = f"""mutation($e: String!, $r: Role!) {{ grantRole(email: $e, role: $r) {{ __typename
  {PROBLEM} }} }}"""
DRAFT = f"""mutation($i: DraftCampaignInput!) {{ draftCampaign(input: $i) {{ __typename
  ... on CampaignSaved {{ campaign {{ id }} }} {PROBLEM} }} }}"""
STEP = """mutation($id: ID!) {{ {name}(id: $id) {{ __typename {problem} }} }}"""
PLEDGE = f"""mutation($i: PledgeInput!) {{ pledge(input: $i) {{ __typename
  ... on PledgeSaved {{ position }} {PROBLEM} }} }}"""


@dataclass(frozen=True)
class Canary:
    """Personal data nobody else would write, and the spellings to search for."""

    email: str
    password: str
    legal_name: str
    date_of_birth: str = "1961-07-23"
    income: str = "734519.37"
    net_worth: str = "8812345.67"
    other: str = "4242.19"

    @property
    def needles(self) -> dict[str, str]:
        return {
            "e-mail": self.email, "e-mail local part": self.email.split("@")[0],
            "password": self.password, "legal name": self.legal_name,
            "legal name (surname)": self.legal_name.split()[-1],
            "date of birth": self.date_of_birth, "annual income": self.income,
            "annual income (cents)": self.income.replace(".", ""),
            "net worth": self.net_worth, "net worth (cents)": self.net_worth.replace(".", ""),
            "other Reg CF investments": self.other, "password hash": "$argon2",
        }


def found_in(needles: dict[str, str], haystacks: dict[str, str]) -> list[str]:
    return [f"{what} ({needle!r}) in {where}"
            for what, needle in needles.items() for where, text in haystacks.items()
            if needle.lower() in text.lower()]


def ok(platform: Platform, query: str, variables: dict[str, Any] | None = None,
       token: str | None = None) -> dict[str, Any]:
    body = platform.graphql(query, variables, token)
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


def only(data: dict[str, Any], typename: str) -> dict[str, Any]:
    (answer,) = data.values()
    assert answer["__typename"] == typename, answer
    result: dict[str, Any] = answer
    return result


def sign_up(platform: Platform, email: str, password: str = "Correct-horse-battery-9",
            name: str = "Someone") -> tuple[str, str]:
    data = ok(platform, SIGN_UP, {"i": {"email": email, "password": password,
                                       "displayName": name}})
    answer = only(data, "AuthPayload")
    return answer["user"]["id"], answer["token"]


def sign_in(platform: Platform, email: str, password: str,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{platform.base_url}/graphql", json={
        "query": SIGN_IN, "variables": {"e": email, "p": password}}, headers=headers or {},
        timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["data"]["signIn"]
    return answer


@dataclass
class Live:
    platform: Platform
    admin_token: str
    officer_token: str
    founder_token: str
    campaign_id: str
    canary: Canary
    canary_id: str
    canary_token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_platform(tmp_path_factory.mktemp("live") / "run") as platform:
        yield populate(platform)


def enrolled(platform: Platform, token: str) -> str:
    """Staff act once TOTP is on: enroll, and the token confirmTotp answers."""
    _, fresh = enroll_over_graphql(lambda q, v, t: ok(platform, q, v, t), token)
    return fresh


def populate(platform: Platform) -> Live:
    admin_token = enrolled(platform, only(ok(platform, SIGN_IN, {
        "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD}), "AuthPayload")["token"])
    tag = uuid.uuid4().hex[:10]
    officer_email = f"officer-{tag}@example.test"
    sign_up(platform, officer_email, name="Officer")
    only(ok(platform, GRANT, {"e": officer_email, "r": "RISK_OFFICER"}, admin_token),
         "RoleGranted")
    officer_token = enrolled(platform, only(ok(platform, SIGN_IN, {
        "e": officer_email, "p": "Correct-horse-battery-9"}), "AuthPayload")["token"])
    _, founder_token = sign_up(platform, f"founder-{tag}@example.test", name="Founder")
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    campaign_id = only(ok(platform, DRAFT, {"i": {
        "title": "Canary Co", "summary": "S.", "regime": "ECSP", "minTarget": "100.00",
        "maxTarget": "100000.00", "minPledge": "10.00", "pricePerShare": "1.00",
        "deadline": deadline}}, founder_token), "CampaignSaved")["campaign"]["id"]
    file_offering_statement(platform.base_url, founder_token, campaign_id, "ECSP")
    for name, token in (("submitCampaign", founder_token), ("approveCampaign", officer_token),
                        ("launchCampaign", founder_token)):
        only(ok(platform, STEP.format(name=name, problem=PROBLEM), {"id": campaign_id}, token),
             "CampaignSaved")
    canary = Canary(email=f"pii.canary.{tag}@canary-mail.example",
                    password=f"Canary-pass-{tag}-horse", legal_name=f"Quillon Zephyrine{tag}")
    canary_id, canary_token = sign_up(platform, canary.email, canary.password, "Canary Backer")
    only(ok(platform, PROFILE, {"i": {
        "legalName": canary.legal_name, "dateOfBirth": canary.date_of_birth, "country": "DE",
        "annualIncome": canary.income, "netWorth": canary.net_worth,
        "otherRegCfInvestments12m": canary.other, "knowledgeTestPassed": True}},
        canary_token), "InvestorProfileSaved")
    only(ok(platform, VERIFY, {"id": canary_id}, officer_token), "InvestorProfileSaved")
    only(ok(platform, PLEDGE, {"i": {"campaignId": campaign_id, "amount": "150.00",
                                     "idempotencyKey": f"canary-{tag}",
                                     "acknowledgeRisk": True}}, canary_token), "PledgeSaved")
    return Live(platform, admin_token, officer_token, founder_token, campaign_id, canary,
                canary_id, canary_token)


def refusals_carrying_personal_data(live: Live) -> None:
    """The canary's data through every refusal path we can think of."""
    platform, canary = live.platform, live.canary
    data = ok(platform, SIGN_UP, {"i": {"email": canary.email, "password": canary.password,
                                       "displayName": "Again"}})
    assert data["signUp"]["__typename"] == "ValidationProblem", data
    for _ in range(6):
        answer = sign_in(platform, canary.email, canary.password + "-wrong")
        assert answer["__typename"] == "NotAllowed", answer
    for bad in ({"dateOfBirth": f"{canary.date_of_birth}T{canary.legal_name}"},
                {"netWorth": f"-{canary.net_worth}"}, {"legalName": canary.legal_name * 20},
                {"country": canary.legal_name}):
        values = {"legalName": canary.legal_name, "dateOfBirth": canary.date_of_birth,
                  "country": "DE", "annualIncome": canary.income, "netWorth": canary.net_worth,
                  **bad}
        data = ok(platform, PROFILE, {"i": values}, live.canary_token)
        assert data["submitInvestorProfile"]["__typename"] == "ValidationProblem", data
    # Not admins: refused, with the e-mail in the arguments.
    data = ok(platform, GRANT, {"e": canary.email, "r": "ADMIN"}, live.founder_token)
    assert data["grantRole"]["__typename"] == "NotAllowed", data
    # Malformed bodies and wrongly typed variables that carry the data.
    for content in (f'{{"query": "{canary.email}", "variables": {{"p": "{canary.password}"'
                    .encode(),
                    json.dumps({"query": SIGN_IN, "variables": {
                        "e": [canary.email], "p": {"x": canary.password}}}).encode(),
                    json.dumps({"query": "{ " + canary.legal_name + " }"}).encode()):
        response = httpx.post(f"{platform.base_url}/graphql", content=content,
                              headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code in (200, 400), response.status_code


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every message on the topic, from the beginning of each partition."""
    consumer = kafka.consumer(bootstrap, None, client_id="pii-check",
                              enable_auto_commit=False)
    await consumer.start()
    try:
        count = await kafka.topic_partitions(bootstrap, topic)
        assert count, f"topic {topic} missing"
        parts = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "could not read the topic to its end"
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend((r.key or b"", r.value or b"") for r in records)
        return found
    finally:
        await consumer.stop()


def caught_up(platform: Platform) -> None:
    assert platform.wait_caught_up(timeout=60), "the read models never caught up"


async def test_personal_data_is_never_on_the_topic_nor_in_logs(live: Live) -> None:
    platform, canary = live.platform, live.canary
    await asyncio.to_thread(refusals_carrying_personal_data, live)
    await asyncio.to_thread(caught_up, platform)

    messages = await read_topic(platform.broker.bootstrap, platform.topic)
    envelopes = [json.loads(value) for _, value in messages]
    mine = {e["type"] for e in envelopes if e["streamId"] == live.canary_id}
    # The canary's events did travel (without their personal fields).
    assert {"UserRegistered", "InvestorProfileSubmitted", "InvestorVerified",
            "InvestmentCommitted"} <= mine, mine
    topic_text = {f"message {i} on the topic": key.decode(errors="replace") + " "
                  + value.decode(errors="replace") for i, (key, value) in enumerate(messages)}
    assert found_in(canary.needles, topic_text) == []

    logs = await asyncio.to_thread(platform.logs)
    assert sum(len(text) for text in logs.values()) > 1000  # the processes did log
    assert found_in(canary.needles, logs) == []


def test_secrets_are_never_echoed(live: Live) -> None:
    platform = live.platform
    secrets_ = {"signing key": platform.secret_key, "cipher key": platform.cipher_key,
                "admin password": ADMIN_PASSWORD}
    pages = {path: httpx.get(f"{platform.base_url}{path}", timeout=10).text
             for path in ("/healthz", "/metrics", "/")}
    assert found_in(secrets_, {**platform.logs(), **pages}) == []


# --- tokens ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "roles": ["BACKER", "FOUNDER"], "iat": now - 5,
                              "exp": now + 3600, "iss": "crowdfund",
                              "jti": secrets.token_urlsafe(8)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def bad_tokens(live: Live) -> dict[str, str]:
    key = live.platform.secret_key
    user = live.canary_id
    now = int(time.time())
    good = jwt.encode(_claims(user), key, algorithm="HS256")
    head, payload, signature = good.split(".")
    admin_payload = _b64(json.dumps(_claims(user, roles=["ADMIN"], sub=str(uuid.uuid4())))
                         .encode())
    none_header = _b64(b'{"alg":"none","typ":"JWT"}')
    return {
        "expired": jwt.encode(_claims(user, iat=now - 7200, exp=now - 3600), key, "HS256"),
        "expires this second": jwt.encode(_claims(user, iat=now - 60, exp=now), key, "HS256"),
        "not yet valid": jwt.encode(_claims(user, iat=now + 3600, exp=now + 7200), key,
                                    "HS256"),
        "forged payload": f"{head}.{admin_payload}.{signature}",
        "forged signature": f"{head}.{payload}.{_b64(secrets.token_bytes(32))}",
        "another key": jwt.encode(_claims(user), secrets.token_urlsafe(48), "HS256"),
        "alg none": f"{none_header}.{payload}.",
        "alg none, signature kept": f"{none_header}.{payload}.{signature}",
        "HS512, same key": jwt.encode(_claims(user), key, "HS512"),
        "another issuer": jwt.encode(_claims(user, iss="someone-else"), key, "HS256"),
        "no expiry": jwt.encode(_claims(user, exp=None), key, "HS256"),
        "no subject": jwt.encode(_claims(user, sub=None), key, "HS256"),
        "unknown user": jwt.encode(_claims(str(uuid.uuid4())), key, "HS256"),
        "oversized": jwt.encode(_claims(user, pad="x" * 5000), key, "HS256"),
        "garbage": "not-a-token",
    }


HEADERS_WITHOUT_BEARER = {
    "basic scheme": "Basic YWRtaW46YWRtaW4=",
    "token scheme": "Token {good}",
    "no scheme": "{good}",
    "empty bearer": "Bearer",
    "two tokens": "Bearer {good} {good}",
}


def test_bad_tokens_are_refused_everywhere_and_store_nothing(live: Live) -> None:
    platform = live.platform
    good = jwt.encode(_claims(live.canary_id), platform.secret_key, "HS256")
    headers = {f"Bearer {what}": f"Bearer {token}" for what, token in bad_tokens(live).items()}
    headers.update({what: value.format(good=good) for what, value in
                    HEADERS_WITHOUT_BEARER.items()})
    pledge = {"i": {"campaignId": live.campaign_id, "amount": "20.00",
                    "idempotencyKey": uuid.uuid4().hex, "acknowledgeRisk": True}}
    app = platform.open_app()
    try:
        head = app.head_position()
    finally:
        app.close()
    for what, header in headers.items():
        def post(query: str, variables: dict[str, Any] | None = None,
                 header: str = header, what: str = what) -> dict[str, Any]:
            response = httpx.post(f"{platform.base_url}/graphql", json={
                "query": query, "variables": variables or {}},
                headers={"Authorization": header}, timeout=30)
            assert response.status_code == 200, (what, response.status_code, response.text)
            body: dict[str, Any] = response.json()
            return body

        mine = post("{ myPledges { id } }")
        assert mine["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (what, mine)
        escrow = post("query($id: ID!) { escrow(campaignId: $id) { held } }",
                      {"id": live.campaign_id})
        assert escrow["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (what, escrow)
        placed = post(PLEDGE, pledge)["data"]["pledge"]
        assert (placed["__typename"], placed["code"]) == ("NotAllowed", "UNAUTHENTICATED"), (
            what, placed)
        granted = post(GRANT, {"e": live.canary.email, "r": "ADMIN"})["data"]["grantRole"]
        assert granted["__typename"] == "NotAllowed", (what, granted)
        assert post("{ me { id } }")["data"]["me"] is None, what
    # The control: the same requests with a good token work.
    caught_up(platform)
    data = ok(platform, "{ myPledges { id } }", token=good)
    assert len(data["myPledges"]) == 1
    app = platform.open_app()
    try:
        assert app.head_position() == head, "a request with a bad token stored something"
    finally:
        app.close()


def test_roles_in_a_token_are_not_trusted(live: Live) -> None:
    """A correctly signed token claiming ADMIN for a backer gets a backer's rights."""
    platform = live.platform
    token = jwt.encode(_claims(live.canary_id, roles=["ADMIN", "AUDITOR", "RISK_OFFICER"]),
                       platform.secret_key, "HS256")
    stats = platform.graphql("{ platformStats { pledges } }", token=token)
    assert stats["errors"][0]["extensions"]["code"] == "FORBIDDEN", stats
    data = ok(platform, GRANT, {"e": live.canary.email, "r": "ADMIN"}, token)
    assert data["grantRole"]["__typename"] == "NotAllowed", data
    assert ok(platform, "{ me { roles } }", token=token)["me"]["roles"] == ["BACKER", "FOUNDER"]


async def test_bad_tokens_close_the_websocket(live: Live) -> None:
    url = live.platform.base_url.replace("http://", "ws://") + "/graphql"
    tokens = bad_tokens(live)
    for what in ("expired", "another key", "alg none", "forged payload"):
        async with websockets.connect(url, subprotocols=[
                websockets.Subprotocol("graphql-transport-ws")]) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {
                "authorization": f"Bearer {tokens[what]}"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, what


# --- passwords ---------------------------------------------------------------------------


def test_the_running_api_stores_memory_hard_argon2id_hashes(live: Live) -> None:
    app = live.platform.open_app()
    try:
        stored = app.user(live.canary_id).password_hash
    finally:
        app.close()
    assert stored.startswith("$argon2id$v=19$"), stored[:20]
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2, params  # OWASP minimum
    assert live.canary.password not in stored


def test_sign_in_throttling_holds_over_http_whatever_the_forwarded_address(
    live: Live,
) -> None:
    platform = live.platform
    email = f"throttled-{uuid.uuid4().hex[:8]}@example.test"
    sign_up(platform, email, "Throttle-me-correct-9")
    for n in range(5):
        answer = sign_in(platform, email, f"wrong-password-{n}",
                         {"X-Forwarded-For": f"203.0.113.{n + 1}"})
        assert answer["__typename"] == "NotAllowed", answer
    for n in range(3):  # the right password, from yet another address: still locked
        answer = sign_in(platform, email, "Throttle-me-correct-9",
                         {"X-Forwarded-For": f"198.51.100.{n + 1}"})
        assert (answer["__typename"], answer["code"]) == ("NotAllowed", "TOO_MANY_ATTEMPTS"), \
            answer
    # Someone else is not locked out by it.
    other = f"unthrottled-{uuid.uuid4().hex[:8]}@example.test"
    sign_up(platform, other, "Other-correct-horse-9")
    assert sign_in(platform, other, "Other-correct-horse-9")["__typename"] == "AuthPayload"
