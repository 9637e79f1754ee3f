"""The bell, the notifications page and the Q&A on the campaign page, in Chromium against
`crowdfund dev` (its notifier and mail sink run in-process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.api.flows import TAKE_TEST, answers
from tests.browser.conftest import PLEDGE, Api, NewPage, in_ci

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the conftest reports it (skip, or fail under CI)
    if in_ci():
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser

Screenshot = Callable[..., Awaitable[Path]]
NOTICE_WAIT_MS = 15_000  # the notifier, then the bell's 10 s poll


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


async def test_the_bell_counts_unread_notices_and_the_page_marks_them_read(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    campaign = await api.live_campaign(title="Harbour Bakery")
    backer = await api.verified_backer("notified")
    await api.mutate(TAKE_TEST, {"regime": "REG_CF", "answers": answers("REG_CF")},
                     backer.token, "KnowledgeTestTaken")
    await api.mutate(PLEDGE, {"input": {"campaignId": campaign["id"], "amount": "200.00",
                                        "idempotencyKey": str(uuid4()), "acknowledgeRisk": True}},
                     backer.token, "PledgeSaved")

    page = await new_page(token=backer.token)
    await page.goto("/")
    bell = tid(page, "bell-count")
    await expect(bell).to_have_text("2", timeout=NOTICE_WAIT_MS)  # verified, pledge confirmed
    await tid(page, "nav-bell").click()
    await expect(page).to_have_url("/#/notifications")
    notices = tid(page, "notification")
    await expect(notices).to_have_count(2)
    first = notices.first
    await expect(first).to_have_attribute("data-kind", "PLEDGE_CONFIRMED")
    await expect(first.get_by_test_id("notification-subject")).to_have_text(
        "Pledge confirmed: USD 200.00 to Harbour Bakery")
    await expect(first.get_by_test_id("notification-body")).to_contain_text(
        "20 at USD 10.00 per share")
    await expect(first.get_by_test_id("notification-campaign")).to_have_text("Harbour Bakery")
    await expect(first).to_have_attribute("data-read", "false")
    await screenshot(page, "notifications")

    await first.get_by_test_id("notification-mark-read").click()
    await expect(first).to_have_attribute("data-read", "true")
    await expect(bell).to_have_text("1")
    await tid(page, "notifications-unread-only").check()
    await expect(tid(page, "notification")).to_have_count(1)
    await expect(tid(page, "notification").first).to_have_attribute("data-kind", "KYC_VERIFIED")
    await tid(page, "mark-all-read").click()
    await expect(bell).to_be_hidden()
    await expect(tid(page, "notifications-message")).to_have_attribute(
        "data-typename", "NotificationsRead")


async def test_ask_and_answer_on_the_campaign_page(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    assert api.founder is not None
    campaign = await api.live_campaign(title="Quiet Ferries")
    asker = await api.sign_up("curious", "Curious Carol")
    hostile = "Is <b>this</b> safe? <img src=x onerror=alert(1)>"

    page = await new_page(token=asker.token)
    await page.goto(f"/#/campaign/{campaign['id']}")
    await expect(tid(page, "questions-empty")).to_be_visible()
    await tid(page, "ask-body").fill(hostile)
    await tid(page, "ask-submit").click()
    await expect(tid(page, "qa-message")).to_have_attribute("data-typename", "QuestionSaved")
    question = tid(page, "question")
    await expect(question).to_have_count(1)
    await expect(question.get_by_test_id("question-body")).to_have_text(hostile)  # as text
    await expect(question.locator("b, img")).to_have_count(0)
    await expect(question.get_by_test_id("question-asker")).to_have_text("Curious Carol")
    await expect(question.get_by_test_id("answer-form")).to_have_count(0)  # not the founder

    founder = await new_page(token=api.founder.token)
    await founder.goto(f"/#/campaign/{campaign['id']}")
    await expect(tid(founder, "bell-count")).not_to_have_text("0", timeout=NOTICE_WAIT_MS)
    await tid(founder, "answer-body").fill("Yes: two independent safety audits a year.")
    await tid(founder, "answer-submit").click()
    await expect(tid(founder, "qa-message")).to_have_attribute("data-typename", "QuestionSaved")
    answer = tid(founder, "question-answer")
    await expect(answer).to_contain_text("Yes: two independent safety audits a year.")
    await expect(answer).to_contain_text("Founder")
    await tid(founder, "ask-body").fill("FAQ: when do shares arrive?")
    await tid(founder, "ask-submit").click()
    await expect(tid(founder, "question")).to_have_count(2)
    await expect(tid(founder, "question").nth(1).get_by_test_id("founder-badge")).to_be_visible()
    await screenshot(founder, "questions")

    await page.reload()
    await expect(tid(page, "question-answer")).to_contain_text("two independent safety audits")
    await expect(tid(page, "bell-count")).to_have_text("1", timeout=NOTICE_WAIT_MS)
    await tid(page, "nav-bell").click()
    await expect(tid(page, "notification").first).to_have_attribute(
        "data-kind", "QUESTION_ANSWERED")
