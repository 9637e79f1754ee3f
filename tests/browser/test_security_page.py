"""Account security in a real Chromium: the page under its Content-Security-Policy,
unframeable, TOTP enrollment with the QR code, sign-in with a code, sign-out that
revokes the token on the server, and staff brought to enrollment at first sign-in.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from application import two_factor
from crowdfund.mail_sink import read_message
from tests.browser.conftest import PASSWORD, Api, NewPage, in_ci
from tests.servers import DevServer

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the conftest reports it (skip, or fail under CI)
    if in_ci():
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def signed_in_on_server(server: DevServer, token: str) -> bool:
    body = server.graphql("{ me { id } }", token=token, allow_errors=True)
    return bool((body.get("data") or {}).get("me"))


async def test_inline_script_is_refused_and_the_page_cannot_be_framed(
    browser: Any, browser_server: DevServer
) -> None:
    # Its own context: the violations provoked here would fail `new_page`'s check.
    context = await browser.new_context(base_url=browser_server.base_url)
    try:
        page = await context.new_page()
        await page.goto("/")
        await expect(tid(page, "nav-campaigns")).to_be_visible()  # the modules ran
        outcome = await page.evaluate("""() => new Promise(resolve => {
            const seen = [];
            document.addEventListener('securitypolicyviolation',
                                      e => seen.push(e.violatedDirective));
            const s = document.createElement('script');
            s.textContent = 'window.__injected = true';
            document.body.append(s);
            setTimeout(() => resolve({seen, injected: window.__injected === true}), 300);
        })""")
        assert outcome["injected"] is False
        assert any(d.startswith("script-src") for d in outcome["seen"]), outcome

        framing = await context.new_page()  # about:blank: a document without a policy
        await framing.set_content(f'<iframe id="f" src="{browser_server.base_url}/"></iframe>')
        await framing.wait_for_timeout(1000)
        frame = framing.frame_locator("#f")
        assert await frame.locator("[data-testid=nav-campaigns]").count() == 0
    finally:
        await context.close()


async def test_enroll_with_the_qr_code_then_sign_in_with_a_code(
    new_page: NewPage, api: Api, browser_server: DevServer
) -> None:
    person = await api.sign_up("twofactor")
    page = await new_page(token=person.token)
    await page.goto("/#/security")
    await expect(tid(page, "totp-status")).to_have_text("Two-factor authentication is off.")
    await tid(page, "totp-start").click()
    qr = tid(page, "totp-qr")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src")).startswith("data:image/svg+xml")
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")  # CSP allowed it
    await expect(tid(page, "totp-recovery-codes").locator("li")).to_have_count(10)
    secret = (await tid(page, "totp-secret").text_content()).strip()
    await tid(page, "totp-code").fill("000000")
    await tid(page, "totp-confirm").click()
    await expect(tid(page, "totp-code-error")).to_be_visible()
    step = two_factor.matching_step(secret, two_factor.code_for(secret, _now()), _now())
    assert step is not None
    await tid(page, "totp-code").fill(two_factor.code_for(secret, step * 30))
    await tid(page, "totp-confirm").click()
    await expect(tid(page, "totp-status")).to_have_text("Two-factor authentication is on.")
    assert not signed_in_on_server(browser_server, person.token)  # older sessions ended

    token = await page.evaluate("() => localStorage.getItem('crowdfund.token')")
    await tid(page, "nav-signout").click()
    await expect(tid(page, "nav-signin")).to_be_visible()
    assert not signed_in_on_server(browser_server, token)  # revoked on the server

    await page.goto("/#/signin")
    await tid(page, "signin-email").fill(person.email)
    await tid(page, "signin-password").fill(PASSWORD)
    await tid(page, "signin-submit").click()
    await expect(tid(page, "signin-message")).to_have_attribute("data-code", "TOTP_REQUIRED")
    await tid(page, "signin-totp").fill(two_factor.code_for(secret, (step + 1) * 30))
    await tid(page, "signin-submit").click()
    await expect(tid(page, "nav-signout")).to_be_visible()


async def test_staff_are_brought_to_enrollment_at_first_sign_in(
    new_page: NewPage, api: Api
) -> None:
    assert api.admin is not None
    officer = await api.sign_up("new-officer")
    await api.mutate(
        """mutation($e: String!, $r: Role!) { grantRole(email: $e, role: $r) { __typename } }""",
        {"e": officer.email, "r": "AUDITOR"}, api.admin.token, "RoleGranted")
    page = await new_page()
    await page.goto("/#/signin")
    await tid(page, "signin-email").fill(officer.email)
    await tid(page, "signin-password").fill(PASSWORD)
    await tid(page, "signin-submit").click()
    await expect(tid(page, "security-staff-notice")).to_be_visible()
    assert page.url.endswith("#/security")


def test_headers_on_every_page_response(browser_server: DevServer) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/healthz", "/nowhere"):
        response = httpx.get(f"{browser_server.base_url}{path}", timeout=10)
        policy = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert response.headers.get("x-frame-options") == "DENY", path
        assert response.headers.get("x-content-type-options") == "nosniff", path
        assert response.headers.get("referrer-policy") == "no-referrer", path
    assert httpx.get(f"{browser_server.base_url}/static/TESTIDS.md", timeout=10).status_code \
        == 404


async def reset_link_mailed_to(server: DevServer, email: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in (server.data_dir / "mail").glob("*.eml"):
            message = read_message(path)
            if message["To"].addresses[0].addr_spec == email:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(r"(http://\S+/#/reset\?token=\S+)", body.get_content())
                assert found is not None
                return found.group(1)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no reset mail to {email}")


def _now() -> float:
    return time.time()


async def test_forgot_and_reset_through_the_page(
    new_page: NewPage, api: Api, browser_server: DevServer
) -> None:
    person = await api.sign_up("reset-by-page")
    page = await new_page()
    await page.goto("/#/signin")
    await tid(page, "signin-forgot-link").click()
    await tid(page, "forgot-email").fill(person.email)
    await tid(page, "forgot-submit").click()
    await expect(tid(page, "forgot-message")).to_contain_text("30 minutes")
    # `crowdfund dev` mails it to its SMTP sink (DIR/mail): the link, as a person reads it.
    link = await reset_link_mailed_to(browser_server, person.email)
    await page.goto(link)
    await tid(page, "reset-password").fill("short")
    await tid(page, "reset-submit").click()
    await expect(tid(page, "reset-message")).to_have_attribute("data-code", "WEAK_PASSWORD")
    await tid(page, "reset-password").fill("a new page passphrase 7")
    await tid(page, "reset-submit").click()
    await expect(tid(page, "nav-signout")).to_be_visible()
    assert not signed_in_on_server(browser_server, person.token)
