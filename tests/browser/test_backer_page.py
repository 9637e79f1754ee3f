"""The backer web page in a real Chromium against a real `crowdfund dev` (see conftest.py).

What a person does through the page (clicks and typing, found by `data-testid`), and what they
see: texts, progress bar width and aria values, status badges, messages with the limit and the
remaining amount. Staff steps and other backers go through the GraphQL API.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from domain.rulebook import Regime
from tests.browser.conftest import (
    PASSWORD,
    TIMEOUT_MS,
    Api,
    NewPage,
    card_on_list,
    in_ci,
    unique_email,
)
from tests.scenario import right_answers

try:
    from playwright.async_api import Page, WebSocket, expect
except ImportError:  # pragma: no cover - the conftest reports it (skip, or fail under CI)
    if in_ci():
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser

Screenshot = Callable[..., Awaitable[Path]]


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def graphql_log(page: Page) -> list[dict[str, Any]]:
    """Every GraphQL request body the page POSTs, in order."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/graphql") and request.post_data:
            sent.append(json.loads(request.post_data))

    page.on("request", on_request)
    return sent


def websocket_frames(page: Page) -> list[dict[str, Any]]:
    """Every graphql-transport-ws message the page receives."""
    frames: list[dict[str, Any]] = []

    def on_socket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frames.append(json.loads(payload))

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


async def expect_fill_width(page: Page, percent: float) -> None:
    """The progress fill's rendered width, as a percentage of the bar, reaches `percent` (what a
    person sees once the 0.4 s transition is over); bounded by the Playwright timeout."""
    bar = tid(page, "campaign-progress").or_(tid(page, "campaign-card")).first.get_by_test_id(
        "progress-bar"
    )
    width = -1.0
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        width = await bar.evaluate(
            "bar => bar.querySelector('.progress-fill').getBoundingClientRect().width"
            " / bar.clientWidth * 100"
        )
        if abs(width - percent) <= 0.5:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"progress fill is {width:.2f}% wide, expected {percent}%")


async def open_campaign(page: Page, campaign_id: str) -> None:
    await page.goto(f"/#/campaign/{campaign_id}")
    await expect(tid(page, "live-status")).to_have_attribute("data-mode", "ws")


async def review_and_tick(page: Page, amount: str | None = None) -> None:
    """Step one (the amount, then "Review pledge"), and the two ticks of the review step."""
    if amount is not None:
        await tid(page, "pledge-amount").fill(amount)
    await tid(page, "pledge-submit").click()
    await expect(tid(page, "pledge-review")).to_be_visible()
    await tid(page, "review-documents-read").check()
    await tid(page, "review-risk").check()


# --------------------------------------------------------------------------- the journey


async def test_sign_up_profile_verify_pledge_and_see_the_progress_bar_move(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(
        title="Harbour Bakery Cooperative", minTarget="2000.00", maxTarget="10000.00"
    )
    page = await new_page()
    requests = graphql_log(page)

    # The campaign list, signed out.
    await page.goto("/")
    card = await card_on_list(page, campaign["title"])
    await expect(card).to_have_count(1)
    await expect(card.get_by_test_id("campaign-regime")).to_have_attribute("data-regime", "REG_CF")
    await expect(card.get_by_test_id("raised")).to_have_text("$0.00")
    await expect(card.get_by_test_id("max-target")).to_have_text("$10,000.00")
    await expect(card.get_by_test_id("backer-count")).to_have_text("0 backers")
    await expect(card.get_by_test_id("time-left")).to_contain_text("left")
    await screenshot(page, "campaign-list")

    # Sign up.
    await tid(page, "nav-signup").click()
    email = unique_email("ada")
    await tid(page, "signup-display-name").fill("Ada Backer")
    await tid(page, "signup-email").fill(email)
    await tid(page, "signup-password").fill(PASSWORD)
    await tid(page, "signup-submit").click()
    await expect(page).to_have_url(re.compile(r"#/profile$"))
    await expect(tid(page, "app-message")).to_contain_text("Your account is ready")
    await expect(tid(page, "nav-display-name")).to_have_text("Ada Backer")
    await expect(tid(page, "nav-signin")).to_be_hidden()
    await expect(tid(page, "profile-email")).to_have_text(email)
    await expect(tid(page, "kyc-status")).to_have_attribute("data-status", "NOT_SUBMITTED")

    # The investor profile and the knowledge test.
    await tid(page, "profile-legal-name").fill("Ada Lovelace")
    await tid(page, "profile-dob").fill("1990-04-30")
    await tid(page, "profile-country").fill("us")
    await expect(tid(page, "profile-country")).to_have_value("US")
    await tid(page, "profile-annual-income").fill("40000")
    await tid(page, "profile-net-worth").fill("30,000.00")
    await tid(page, "profile-submit").click()
    await expect(tid(page, "profile-message")).to_have_attribute(
        "data-typename", "InvestorProfileSaved"
    )
    await expect(tid(page, "kyc-status")).to_have_attribute("data-status", "PENDING")

    # The Reg CF knowledge test, served and graded by the server: two wrong answers fail.
    test = tid(page, "kt-REG_CF")
    await expect(test.get_by_test_id("kt-REG_CF-status")).to_have_attribute("data-passed", "false")
    sheet = right_answers(Regime.REG_CF)
    for question_id, choice in right_answers(Regime.REG_CF, wrong=2):
        await tid(page, f"kt-REG_CF-{question_id}-{choice}").check()
    await tid(page, "kt-REG_CF-submit").click()
    result = tid(page, "kt-REG_CF-message")
    await expect(result).to_have_attribute("data-code", "NOT_PASSED")
    await expect(result).to_contain_text(f"{len(sheet) - 2} of {len(sheet)} answers right")
    for question_id, choice in sheet[:2]:
        await tid(page, f"kt-REG_CF-{question_id}-{choice}").check()
    await tid(page, "kt-REG_CF-submit").click()
    await expect(result).to_have_attribute("data-code", "PASSED")
    await expect(test.get_by_test_id("kt-REG_CF-status")).to_have_attribute("data-passed", "true")
    await expect(tid(page, "kyc-explanation")).to_contain_text("waiting for review")
    await screenshot(page, "profile")

    # A risk officer verifies the backer through the API.
    backer = await api.sign_in(email)
    await api.verify(backer.id)
    await page.reload()
    await expect(tid(page, "kyc-status")).to_have_attribute("data-status", "VERIFIED")
    await expect(tid(page, "kyc-explanation")).to_contain_text("you can pledge")

    # From the list to the campaign page.
    await tid(page, "nav-campaigns").click()
    await card.get_by_test_id("campaign-link").click()
    await expect(tid(page, "campaign-title")).to_have_text(campaign["title"])
    await expect(tid(page, "campaign-status")).to_have_attribute("data-status", "LIVE")
    await expect(tid(page, "live-status")).to_have_attribute("data-mode", "ws")
    await expect(tid(page, "pledge-kyc").get_by_test_id("kyc-status")).to_have_attribute(
        "data-status", "VERIFIED"
    )
    await expect(tid(page, "limit-remaining")).to_have_attribute("data-value", "2500.00")
    await expect(tid(page, "limit-detail")).to_contain_text("Limit $2,500.00")
    bar = tid(page, "campaign-progress").get_by_test_id("progress-bar")
    await expect(bar).to_have_attribute("aria-valuenow", "0")
    await expect_fill_width(page, 0)

    # Pledge $1,000, confirmed with a double click: exactly one pledge.
    await tid(page, "pledge-amount").fill("1000")
    await expect(tid(page, "pledge-shares")).to_have_attribute("data-shares", "100")
    await expect(tid(page, "pledge-snapped")).to_have_text("= $1,000.00")
    await review_and_tick(page)
    await expect(tid(page, "review-amount")).to_have_text("$1,000.00")
    await tid(page, "pledge-confirm").dblclick()
    message = tid(page, "pledge-message")
    await expect(message).to_have_attribute("data-typename", "PledgeSaved")
    await expect(message).to_contain_text("Pledge placed: 100 shares for $1,000.00")
    await expect(tid(page, "pledge-portfolio-link")).to_be_visible()

    # The progress bar moved: 10% of the maximum, half of the minimum target.
    await expect(bar).to_have_attribute("aria-valuenow", "10")
    await expect(bar).to_have_attribute("data-raised", "1000.00")
    await expect(tid(page, "campaign-progress").get_by_test_id("raised")).to_have_text(
        "$1,000.00"
    )
    await expect(tid(page, "progress-percent")).to_contain_text("50% of the minimum target")
    await expect(tid(page, "backer-count")).to_have_text("1 backer")
    await expect_fill_width(page, 10)
    await expect(tid(page, "limit-remaining")).to_have_attribute("data-value", "1500.00")
    await expect(tid(page, "pledge-amount")).to_have_value("100.00")  # reset to the minimum
    await screenshot(page, "campaign-page")

    pledges = await api.my_pledges(backer)
    assert [(p["amount"], p["status"]) for p in pledges] == [("1000.00", "ACTIVE")]
    sent = [r for r in requests if "pledge(input" in r["query"]]
    assert len(sent) == 1, sent

    # Two confirms in the same tick (double Enter, a script): still one request.
    await review_and_tick(page, "200")
    await tid(page, "pledge-confirm").evaluate("button => { button.click(); button.click(); }")
    await expect(message).to_have_attribute("data-typename", "PledgeSaved")
    await expect(message).to_contain_text("20 shares for $200.00")
    await expect(bar).to_have_attribute("data-raised", "1200.00")
    assert len(await api.my_pledges(backer)) == 2
    assert len([r for r in requests if "pledge(input" in r["query"]]) == 2


# --------------------------------------------------------------------------- live progress


async def test_progress_moves_live_when_another_backer_pledges(
    api: Api, new_page: NewPage
) -> None:
    campaign = await api.live_campaign(minTarget="1000.00", maxTarget="10000.00")
    first, second = await api.verified_backer("first"), await api.verified_backer("second")
    page = await new_page()  # a visitor, signed out
    frames = websocket_frames(page)
    await open_campaign(page, campaign["id"])
    await expect(tid(page, "pledge-signin")).to_be_visible()
    bar = tid(page, "progress-bar")
    await expect(bar).to_have_attribute("aria-valuenow", "0")
    requests = graphql_log(page)

    await api.pledge(first, campaign["id"], "500.00")
    await expect(bar).to_have_attribute("aria-valuenow", "5")
    await expect(tid(page, "raised")).to_have_text("$500.00")
    await expect(tid(page, "backer-count")).to_have_text("1 backer")
    await expect(tid(page, "progress-percent")).to_contain_text("50% of the minimum target")

    await api.pledge(second, campaign["id"], "700.00")
    await expect(bar).to_have_attribute("aria-valuenow", "12")
    await expect(tid(page, "raised")).to_have_attribute("data-value", "1200.00")
    await expect(tid(page, "backer-count")).to_have_text("2 backers")
    await expect(tid(page, "progress-percent")).to_contain_text("120% of the minimum target ✓")
    await expect(bar).to_have_class(re.compile(r"\bmin-reached\b"))
    await expect_fill_width(page, 12)

    # It came over the subscription: no polling, and the socket carried the new numbers.
    await expect(tid(page, "live-status")).to_have_attribute("data-mode", "ws")
    assert not requests, requests
    raised = [
        f["payload"]["data"]["campaignProgress"]["raised"]
        for f in frames if f.get("type") == "next"
    ]
    assert "1200.00" in raised, frames


# --------------------------------------------------------------------------- the Reg CF limit


async def test_the_reg_cf_limit_message_names_the_limit_and_what_remains(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(maxTarget="20000.00")
    backer = await api.verified_backer("limited", annualIncome="40000.00", netWorth="30000.00")
    await api.pledge(backer, campaign["id"], "1000.00")  # limit $2,500: $1,500 remain

    page = await new_page(token=backer.token)
    await open_campaign(page, campaign["id"])
    await expect(tid(page, "limit-remaining")).to_have_text("$1,500.00")
    await expect(tid(page, "limit-detail")).to_contain_text(
        "Limit $2,500.00 over 12 months; used $1,000.00"
    )

    # Below the minimum pledge: the page says so without asking the server.
    await tid(page, "pledge-amount").fill("55")
    await tid(page, "pledge-submit").click()
    await expect(tid(page, "pledge-message")).to_have_attribute("data-typename", "ClientValidation")
    await expect(tid(page, "pledge-amount-error")).to_contain_text("The minimum pledge is $100.00")
    await expect(tid(page, "pledge-review")).to_be_hidden()

    # Over the limit: the server's answer, with the limit and the remaining amount.
    await review_and_tick(page, "2000")
    await tid(page, "pledge-confirm").click()
    message = tid(page, "pledge-message")
    await expect(message).to_have_attribute("data-typename", "InvestmentLimitExceeded")
    await expect(message).to_have_attribute("data-code", "INVESTMENT_LIMIT_EXCEEDED")
    await expect(message).to_have_attribute("data-kind", "error")
    await expect(message).to_contain_text(
        "This pledge would exceed your investment limit of $2,500.00 over the last 12 months."
        " You can still invest $1,500.00."
    )
    await expect(tid(page, "pledge-amount-error")).to_have_text(
        "Over your investment limit: you can still invest $1,500.00 (limit $2,500.00)."
    )
    await expect(tid(page, "pledge-amount")).to_have_attribute("aria-invalid", "true")
    await expect(tid(page, "pledge-suggest")).to_have_text("Pledge $1,500.00")
    await expect(tid(page, "progress-bar")).to_have_attribute("data-raised", "1000.00")
    await screenshot(page, "pledge-problem")

    # Take the suggestion: exactly what remains.
    await tid(page, "pledge-suggest").click()
    await expect(tid(page, "pledge-amount")).to_have_value("1500.00")
    await review_and_tick(page)
    await tid(page, "pledge-confirm").click()
    await expect(message).to_have_attribute("data-typename", "PledgeSaved")
    await expect(tid(page, "limit-remaining")).to_have_attribute("data-value", "0.00")
    await expect(tid(page, "progress-bar")).to_have_attribute("data-raised", "2500.00")
    await expect(tid(page, "pledge-amount-error")).to_be_hidden()

    amounts = sorted(p["amount"] for p in await api.my_pledges(backer))
    assert amounts == ["1000.00", "1500.00"]


# --------------------------------------------------------------------------- portfolio


async def test_cancel_a_pledge_from_the_portfolio(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(title="Riverside Climbing Gym")
    other = await api.live_campaign(title="Night Market Kitchens")
    backer = await api.verified_backer("canceller")
    pledged = await api.pledge(backer, campaign["id"], "300.00")
    await api.pledge(backer, other["id"], "150.00")
    pledge_id = pledged["pledge"]["id"]

    page = await new_page(token=backer.token)
    await page.goto("/")
    await tid(page, "nav-portfolio").click()
    await expect(tid(page, "portfolio-row")).to_have_count(2)
    row = page.locator(f'[data-testid="portfolio-row"][data-pledge-id="{pledge_id}"]')
    await expect(row.get_by_test_id("portfolio-campaign")).to_have_text(campaign["title"])
    await expect(row.get_by_test_id("portfolio-amount")).to_have_text("$300.00")
    await expect(row.get_by_test_id("portfolio-shares")).to_have_text("30")
    await expect(row.get_by_test_id("pledge-status")).to_have_attribute("data-status", "ACTIVE")
    await expect(row.get_by_test_id("cancel-countdown")).to_contain_text("left to cancel")
    await expect(tid(page, "open-pledges")).to_have_text("2")
    await expect(tid(page, "open-amount")).to_have_text("$450.00")
    await expect(tid(page, "settled-amount")).to_have_text("$0.00")
    await expect(tid(page, "holdings-empty")).to_be_visible()
    await screenshot(page, "portfolio")

    await row.get_by_test_id("cancel-pledge").click()
    await expect(tid(page, "confirm-dialog")).to_be_visible()
    await tid(page, "confirm-yes").click()
    await expect(tid(page, "portfolio-message")).to_have_attribute("data-code", "CANCELLED")
    await expect(tid(page, "portfolio-message")).to_have_text(
        f"Your pledge of $300.00 to {campaign['title']} was cancelled."
    )
    await expect(row.get_by_test_id("pledge-status")).to_have_attribute("data-status", "CANCELLED")
    await expect(row.get_by_test_id("pledge-status")).to_have_text("Cancelled")
    await expect(row.get_by_test_id("cancel-pledge")).to_have_count(0)
    await expect(tid(page, "open-pledges")).to_have_text("1")
    await expect(tid(page, "open-amount")).to_have_text("$150.00")

    statuses = {p["id"]: p["status"] for p in await api.my_pledges(backer)}
    assert statuses[pledge_id] == "CANCELLED"
    after = await api.campaign(campaign["id"])
    assert (after["raised"], after["backerCount"]) == ("0.00", 0)

    # The campaign page shows the money gone again.
    await row.get_by_test_id("portfolio-campaign").click()
    await expect(tid(page, "progress-bar")).to_have_attribute("data-raised", "0.00")
    await expect(tid(page, "limit-remaining")).to_have_attribute("data-value", "2350.00")


async def test_reconfirm_after_a_material_change(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(title="Old Town Brewery", minTarget="1000.00")
    backer = await api.verified_backer("reconfirmer")
    pledge_id = (await api.pledge(backer, campaign["id"], "400.00"))["pledge"]["id"]

    page = await new_page(token=backer.token)
    await page.goto("/#/portfolio")
    row = page.locator(f'[data-testid="portfolio-row"][data-pledge-id="{pledge_id}"]')
    await expect(row.get_by_test_id("pledge-status")).to_have_attribute("data-status", "ACTIVE")
    await expect(row.get_by_test_id("reconfirm-pledge")).to_have_count(0)
    cancellable_until = await row.get_by_test_id("cancellable-until").get_attribute("datetime")

    # The founder changes the terms while the campaign is live: a material change.
    await api.amend(campaign["id"], minTarget="3000.00")

    await row.get_by_test_id("portfolio-campaign").click()
    update = tid(page, "update-item").filter(has=tid(page, "update-material"))
    await expect(update).to_have_count(1)
    await expect(update).to_have_attribute("data-material", "true")
    await expect(update).to_contain_text("min target")
    await expect(tid(page, "min-target")).to_have_text("$3,000.00")

    await tid(page, "nav-portfolio").click()
    status = row.get_by_test_id("pledge-status")
    await expect(status).to_have_attribute("data-status", "PENDING_RECONFIRMATION")
    await expect(status).to_have_text("Pending reconfirmation")
    await expect(row.get_by_test_id("reconfirm-by")).to_be_visible()
    await expect(row.get_by_test_id("reconfirm-countdown")).to_contain_text("left to reconfirm")
    await expect(row.get_by_test_id("cancel-pledge")).to_be_visible()
    await screenshot(page, "portfolio-reconfirm")

    await row.get_by_test_id("reconfirm-pledge").click()
    await expect(tid(page, "portfolio-message")).to_have_attribute("data-code", "RECONFIRMED")
    await expect(tid(page, "portfolio-message")).to_have_text(
        f"Your pledge of $400.00 to {campaign['title']} was reconfirmed."
    )
    await expect(status).to_have_attribute("data-status", "ACTIVE")
    await expect(row.get_by_test_id("reconfirm-pledge")).to_have_count(0)
    await expect(row.get_by_test_id("reconfirm-by")).to_have_count(0)
    await expect(row.get_by_test_id("cancel-pledge")).to_be_visible()
    await expect(row.get_by_test_id("cancellable-until")).to_have_attribute(
        "datetime", cancellable_until or ""
    )

    (pledge,) = await api.my_pledges(backer)
    assert (pledge["status"], pledge["reconfirmBy"]) == ("ACTIVE", None)
    assert pledge["cancellableUntil"] == cancellable_until


# --------------------------------------------------------------------------- mobile


async def test_mobile_viewport_has_no_horizontal_scroll(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(
        title="Supercalifragilisticexpialidocious-Renewables-Cooperative-International",
        summary="A deliberately long, unbreakable title: the card must wrap it, not scroll.",
    )
    backer = await api.verified_backer("mobile")
    await api.pledge(backer, campaign["id"], "250.00")
    page = await new_page(
        token=backer.token, viewport={"width": 390, "height": 844}, is_mobile=True,
        has_touch=True,
    )

    async def assert_no_horizontal_scroll(what: str) -> None:
        sizes = await page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth, view: window.innerWidth,"
            " body: document.body.scrollWidth})"
        )
        assert sizes["view"] == 390, sizes
        assert sizes["scroll"] <= sizes["view"] and sizes["body"] <= sizes["view"], (what, sizes)

    await page.goto("/")
    card = await card_on_list(page, campaign["title"])
    await expect(card.get_by_test_id("raised")).to_have_text("$250.00")
    box = await card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    await assert_no_horizontal_scroll("campaign list")
    await screenshot(page, "mobile-campaign-list", full_page=False)  # one phone screen

    await card.get_by_test_id("campaign-link").click()
    await expect(tid(page, "pledge-form")).to_be_visible()
    await assert_no_horizontal_scroll("campaign page")

    await page.goto("/#/portfolio")
    await expect(tid(page, "portfolio-row")).to_have_count(1)
    await assert_no_horizontal_scroll("portfolio")
