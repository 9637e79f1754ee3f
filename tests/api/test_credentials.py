"""Sessions and credentials through GraphQL: sign-out, password change, TOTP
enrollment and sign-in with a code, replay and recovery codes, staff blocked until
enrolled, and sign-in back-off that never locks the owner out from elsewhere.

Tokens and codes follow the real clock; nothing here moves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from application.sessions import RevocationCache
from projections.rebuild import rebuild_read_models
from projections.session_store import SqlRevocationLog
from projections.source import StoreLog
from tests.api.conftest import Api
from tests.api.flows import (
    GRANT,
    PASSWORD,
    PROBLEM,
    PROFILE,
    VERIFY,
    bootstrap_admin,
    profile_input,
    sign_up,
)
from tests.authenticator import CONFIRM, ENROLL, Authenticator

ME = "{ me { id totpEnabled } }"
SIGN_IN = f"""mutation($e: String!, $p: String!, $t: String) {{
  signIn(email: $e, password: $p, totp: $t) {{
    __typename ... on AuthPayload {{ token user {{ id }} }} {PROBLEM} }} }}"""
SIGN_OUT = """mutation { signOut { __typename ... on SignedOut { ok }
  ... on Problem { code message } } }"""
CHANGE = f"""mutation($c: String!, $n: String!) {{
  changePassword(currentPassword: $c, newPassword: $n) {{
    __typename ... on AuthPayload {{ token }} {PROBLEM} }} }}"""
NEW_PASSWORD = "a brand new passphrase 42"


async def me(api: Api, token: str) -> dict[str, Any] | None:
    body = await api.call(ME, token=token)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return None
    result: dict[str, Any] | None = body["data"]["me"]
    return result


async def sign_in(api: Api, email: str, password: str = PASSWORD, totp: str | None = None,
                  client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    variables = {"e": email, "p": password, "t": totp}
    if client is None:
        data = await api.ok(SIGN_IN, variables)
    else:
        response = await client.post("/graphql", json={"query": SIGN_IN, "variables": variables})
        data = response.json()["data"]
    result: dict[str, Any] = data["signIn"]
    return result


async def enroll(api: Api, token: str) -> tuple[Authenticator, str]:
    enrollment = (await api.ok(ENROLL, token=token))["enrollTotp"]
    assert enrollment["__typename"] == "TotpEnrollment", enrollment
    device = Authenticator(enrollment["secret"], list(enrollment["recoveryCodes"]))
    confirmed = (await api.ok(CONFIRM, {"c": device.code()}, token))["confirmTotp"]
    assert confirmed["__typename"] == "AuthPayload", confirmed
    return device, str(confirmed["token"])


# --- sessions -----------------------------------------------------------------------------


async def test_sign_out_revokes_that_token_only(api: Api) -> None:
    user = await sign_up(api, "leaver")
    other = await sign_in(api, user.email)
    assert await me(api, user.token) is not None
    answer = (await api.ok(SIGN_OUT, token=user.token))["signOut"]
    assert answer == {"__typename": "SignedOut", "ok": True}
    assert await me(api, user.token) is None
    again = (await api.ok(SIGN_OUT, token=user.token))["signOut"]
    assert (again["__typename"], again["code"]) == ("NotAllowed", "UNAUTHENTICATED")
    assert (await me(api, other["token"]))["id"] == user.id  # type: ignore[index]
    anonymous = (await api.ok(SIGN_OUT))["signOut"]
    assert (anonymous["__typename"], anonymous["code"]) == ("NotAllowed", "UNAUTHENTICATED")


async def test_a_rebuild_of_the_read_models_keeps_the_revocations(api: Api) -> None:
    user = await sign_up(api, "rebuilt")
    await api.ok(SIGN_OUT, token=user.token)
    engine = api.services.read_models.engine
    rebuild_read_models(engine, StoreLog(api.store), None, 2)
    claims = api.services.tokens.verify(user.token)
    assert claims is not None
    fresh = RevocationCache(SqlRevocationLog(engine))  # what a process starting now reads
    assert fresh.is_revoked(claims.user_id, claims.token_id, claims.issued_at_seconds)


async def test_change_password_revokes_the_other_sessions(api: Api) -> None:
    user = await sign_up(api, "changer")
    laptop = (await sign_in(api, user.email))["token"]
    wrong = (await api.ok(CHANGE, {"c": "not my password 1", "n": NEW_PASSWORD},
                          user.token))["changePassword"]
    assert (wrong["__typename"], wrong["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")
    weak = (await api.ok(CHANGE, {"c": PASSWORD, "n": "short"}, user.token))["changePassword"]
    assert (weak["__typename"], weak["code"]) == ("ValidationProblem", "WEAK_PASSWORD")
    assert await me(api, laptop) is not None  # refusals change nothing
    changed = (await api.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD},
                            user.token))["changePassword"]
    assert changed["__typename"] == "AuthPayload", changed
    assert await me(api, laptop) is None
    assert await me(api, user.token) is None
    assert (await me(api, changed["token"]))["id"] == user.id  # type: ignore[index]
    assert (await sign_in(api, user.email))["code"] == "INVALID_CREDENTIALS"
    assert (await sign_in(api, user.email, NEW_PASSWORD))["__typename"] == "AuthPayload"


# --- TOTP -----------------------------------------------------------------------------------


async def test_enrollment_sign_in_with_a_code_and_replay(api: Api) -> None:
    user = await sign_up(api, "careful")
    assert (await me(api, user.token))["totpEnabled"] is False  # type: ignore[index]
    enrollment = (await api.ok(ENROLL, token=user.token))["enrollTotp"]
    assert enrollment["otpauthUri"].startswith("otpauth://totp/Crowdfund:")
    assert f"secret={enrollment['secret']}" in enrollment["otpauthUri"]
    assert enrollment["qrCode"].startswith("data:image/svg+xml")
    assert len(set(enrollment["recoveryCodes"])) == 10
    device = Authenticator(enrollment["secret"], list(enrollment["recoveryCodes"]))
    # Not on until confirmed: the password alone still signs in.
    assert (await sign_in(api, user.email))["__typename"] == "AuthPayload"
    bad = (await api.ok(CONFIRM, {"c": "000000"}, user.token))["confirmTotp"]
    assert (bad["__typename"], bad["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")
    code = device.code()
    confirmed = (await api.ok(CONFIRM, {"c": code}, user.token))["confirmTotp"]
    assert confirmed["__typename"] == "AuthPayload", confirmed
    assert await me(api, user.token) is None  # password-only sessions ended
    assert (await me(api, confirmed["token"]))["totpEnabled"] is True  # type: ignore[index]

    without = await sign_in(api, user.email)
    assert (without["__typename"], without["code"]) == ("NotAllowed", "TOTP_REQUIRED")
    wrong = await sign_in(api, user.email, totp="123456" if code != "123456" else "654321")
    assert (wrong["__typename"], wrong["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")
    replayed = await sign_in(api, user.email, totp=code)
    assert (replayed["__typename"], replayed["code"]) == ("NotAllowed", "INVALID_CREDENTIALS")
    fresh = device.code()
    assert (await sign_in(api, user.email, totp=fresh))["__typename"] == "AuthPayload"
    assert (await sign_in(api, user.email, totp=fresh))["code"] == "INVALID_CREDENTIALS"
    wrong_password = await sign_in(api, user.email, "not the password 9", totp=fresh)
    assert wrong_password["code"] == "INVALID_CREDENTIALS"


async def test_recovery_codes_work_once_and_let_a_new_device_enroll(api: Api) -> None:
    user = await sign_up(api, "lost-phone")
    device, token = await enroll(api, user.token)
    again = (await api.ok(ENROLL, token=token))["enrollTotp"]
    assert (again["__typename"], again["code"]) == ("InvalidState", "TOTP_ALREADY_ENABLED")
    recovery = device.recovery_code()
    with_code = await sign_in(api, user.email, totp=recovery.upper())
    assert with_code["__typename"] == "AuthPayload", with_code
    assert (await sign_in(api, user.email, totp=recovery))["code"] == "INVALID_CREDENTIALS"
    # Signed in with a recovery code, the user moves TOTP to a new device.
    new_device, _ = await enroll(api, with_code["token"])
    assert (await sign_in(api, user.email, totp=device.code()))["code"] == \
        "INVALID_CREDENTIALS"
    assert (await sign_in(api, user.email, totp=new_device.code()))["__typename"] == \
        "AuthPayload"


async def test_codes_follow_the_real_clock_not_the_test_clock(api: Api) -> None:
    user = await sign_up(api, "time-traveller")
    device, _ = await enroll(api, user.token)
    api.clock.advance(days=400)
    assert (await sign_in(api, user.email, totp=device.code()))["__typename"] == "AuthPayload"


async def test_the_stored_secret_and_codes_stay_out_of_the_audit_trail(api: Api) -> None:
    user = await sign_up(api, "private")
    device, _ = await enroll(api, user.token)
    events = api.store.events.get(api.store.user(user.id).id)
    assert [type(e).__name__ for e in events][-2:] == ["TotpEnrollmentStarted", "TotpConfirmed"]
    admin = bootstrap_admin(api)
    auditor = await sign_up(api, "auditor")
    await api.ok(GRANT, {"email": auditor.email, "role": "AUDITOR"}, admin.token)
    _, auditor_token = await enroll(api, auditor.token)
    trail = await api.ok('query($s: ID!) { auditTrail(streamId: $s) { type payload } }',
                         {"s": user.id}, auditor_token)
    text = str(trail)
    assert "TotpEnrollmentStarted" in text
    assert device.secret not in text and "argon2" not in text
    assert not any(code.replace("-", "") in text for code in device.recovery_codes)


# --- staff act only with TOTP on ----------------------------------------------------------


async def test_staff_are_blocked_until_enrolled(api: Api) -> None:
    admin = bootstrap_admin(api)
    officer = await sign_up(api, "officer")
    await api.ok(GRANT, {"email": officer.email, "role": "RISK_OFFICER"}, admin.token)
    backer = await sign_up(api, "backer")
    await api.ok(PROFILE, {"input": profile_input()}, backer.token)

    queue = await api.call("{ reviewQueue { id } }", token=officer.token)
    error = queue["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "two-factor" in error["message"]
    refused = (await api.ok(VERIFY, {"id": backer.id}, officer.token))["verifyInvestor"]
    assert (refused["__typename"], refused["code"]) == ("NotAllowed", "TOTP_ENROLLMENT_REQUIRED")
    # They still act as what they were before: a backer and founder.
    assert (await me(api, officer.token))["id"] == officer.id  # type: ignore[index]

    _, token = await enroll(api, officer.token)
    assert (await api.ok("{ reviewQueue { id } }", token=token))["reviewQueue"] == []
    verified = (await api.ok(VERIFY, {"id": backer.id}, token))["verifyInvestor"]
    assert verified["__typename"] == "InvestorProfileSaved", verified


async def test_an_admin_without_totp_grants_nothing(api: Api) -> None:
    email = "fresh-admin@example.com"
    api.store.accounts.bootstrap_admin(email, api.store.user(
        (await sign_up(api, "seed")).id).password_hash)
    token = (await sign_in(api, email))["token"]  # password only: enrollment comes next
    someone = await sign_up(api, "someone")
    grant = (await api.ok(GRANT, {"email": someone.email, "role": "AUDITOR"}, token))["grantRole"]
    assert (grant["__typename"], grant["code"]) == ("NotAllowed", "TOTP_ENROLLMENT_REQUIRED")
    stats = await api.call("{ platformStats { liveCampaigns } }", token=token)
    assert stats["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    _, token = await enroll(api, token)
    grant = (await api.ok(GRANT, {"email": someone.email, "role": "AUDITOR"}, token))["grantRole"]
    assert grant["__typename"] == "RoleGranted", grant


async def test_an_auditor_stays_read_only_before_and_after_enrolling(api: Api) -> None:
    admin = bootstrap_admin(api)
    auditor = await sign_up(api, "auditor")
    await api.ok(GRANT, {"email": auditor.email, "role": "AUDITOR"}, admin.token)
    write = (await api.ok(PROFILE, {"input": profile_input()}, auditor.token))
    assert write["submitInvestorProfile"]["code"] == "READ_ONLY_ROLE"
    trail = await api.call('{ auditTrail(streamId: "x") { type } }', token=auditor.token)
    assert trail["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    _, token = await enroll(api, auditor.token)  # auditors secure their own account
    write = (await api.ok(PROFILE, {"input": profile_input()}, token))
    assert write["submitInvestorProfile"]["code"] == "READ_ONLY_ROLE"


# --- back-off without lockout -------------------------------------------------------------


@pytest.fixture
async def elsewhere(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client at another address than the attacker's."""
    transport = httpx.ASGITransport(app=api.app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_thirty_guesses_from_one_address_do_not_stop_the_owner_elsewhere(
    api: Api, elsewhere: httpx.AsyncClient
) -> None:
    owner = await sign_up(api, "owner")
    transport = httpx.ASGITransport(app=api.app, client=("203.0.113.66", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
        answers = [await sign_in(api, owner.email, f"guess number {n}", client=attacker)
                   for n in range(30)]
        assert {a["code"] for a in answers[:4]} == {"INVALID_CREDENTIALS"}
        assert {a["code"] for a in answers[4:]} == {"TOO_MANY_ATTEMPTS"}
        # The right password from the attacker's address waits too...
        assert (await sign_in(api, owner.email, client=attacker))["code"] == \
            "TOO_MANY_ATTEMPTS"
    # ...but the owner, from their own address, signs in.
    assert (await sign_in(api, owner.email, client=elsewhere))["__typename"] == "AuthPayload"


async def test_wrong_codes_count_as_failed_sign_ins(api: Api) -> None:
    user = await sign_up(api, "code-guesser")
    await enroll(api, user.token)
    answers = [await sign_in(api, user.email, totp=f"{n:06d}") for n in range(6)]
    assert answers[-1]["code"] == "TOO_MANY_ATTEMPTS", answers
