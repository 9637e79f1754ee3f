"""The founder workspace in a real Chromium (issue 13): a founder drafts a campaign with every
offering field, files the offering statement, previews the page as a backer sees it and
submits it; after a risk officer's approval (arranged through the API) launches it from the
workspace. Plus the reviewer's reason after a rejection, the material flag of an update and
what it triggers, close early and cancel with their rules, and the distribution preview
paying exactly what declareDistribution pays.

GraphQL in a test body only arranges what someone else did (the officer, backers, the clock)
or checks what the page did. Screenshots: artifacts/screenshots/founder-workspace.png and
founder-editor.png (linked from docs/frontend.md).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crowdfund.demo_files import Section, statement_pdf
from tests.browser.conftest import (
    APPROVE,
    DRAFT,
    PROBLEM,
    SUBMIT,
    Api,
    NewPage,
    Person,
    in_ci,
)
from tests.browser.test_backer_page import tid

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the conftest reports it (skip, or fail under CI)
    if in_ci():
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser

Screenshot = Callable[..., Awaitable[Path]]

REJECT = f"""mutation($id: ID!, $r: String!) {{ rejectCampaign(id: $id, reason: $r) {{
  __typename ... on CampaignSaved {{ position }} {PROBLEM} }} }}"""
ASK = f"""mutation($c: ID!, $b: String!) {{ askQuestion(campaignId: $c, body: $b) {{
  __typename ... on QuestionSaved {{ position }} {PROBLEM} }} }}"""
SET_CLOCK = f"""mutation($now: DateTime!) {{ setClock(now: $now) {{ __typename
  ... on ClockSet {{ now position }} {PROBLEM} }} }}"""
OFFERING = """query($id: ID!) { campaign(id: $id) { status title securityType valuation story
  useOfProceeds risks minTarget maxTarget minPledge pricePerShare team { name role bio }
  issuer { legalName jurisdiction website } documents { kind name sha256 } } }"""
DISTRIBUTIONS = """query($id: ID!) { distributions(campaignId: $id) { total
  payouts { amount investor { id } } } }"""

FORM_C = statement_pdf(
    "Form C - Harbour Kilns, Inc.", "Offering statement under Regulation Crowdfunding",
    "You may lose all of the money you invest.",
    [Section("The company", ["Harbour Kilns fires pottery for 30 studios."]),
     Section("Use of proceeds", ["Two electric kilns and a glaze lab."])],
)


def founder_api(api: Api, founder: Person) -> Api:
    """The session's helper acting for `founder` (same client, officer and admin)."""
    return replace(api, founder=founder)


async def status_of(api: Api, campaign_id: str, founder: Person) -> str:
    """The campaign's status as its founder reads it (drafts are not public)."""
    found = await api.gql("query($id: ID!) { campaign(id: $id) { status } }",
                          {"id": campaign_id}, founder.token)
    status: str = found["campaign"]["status"]
    return status


async def open_workspace(page: Page, campaign_id: str) -> None:
    await page.goto(f"/#/founder/campaign/{campaign_id}")
    await expect(tid(page, "workspace-status")).to_be_visible()


async def draft_submitted(api: Api, founder: Person, title: str) -> str:
    """A REG_CF draft of `founder` with its Form C, submitted for review (arranged)."""
    values = {
        "title": title, "summary": "Kilns for the harbour studios.", "regime": "REG_CF",
        "minTarget": "1000.00", "maxTarget": "20000.00", "minPledge": "100.00",
        "pricePerShare": "10.00",
        "deadline": (datetime.now(UTC) + timedelta(days=40)).isoformat(),
    }
    drafted = await api.mutate(DRAFT, {"input": values}, founder.token, "CampaignSaved")
    campaign_id: str = drafted["campaign"]["id"]
    await founder_api(api, founder).upload(campaign_id, "FORM_C", "form-c.pdf",
                                           FORM_C + campaign_id.encode())
    await api.mutate(SUBMIT, {"id": campaign_id}, founder.token, "CampaignSaved")
    return campaign_id


# --------------------------------------------------------------------------- the journey


async def test_a_founder_drafts_submits_and_after_approval_launches_from_the_workspace(
    api: Api, new_page: NewPage, screenshot: Screenshot
) -> None:
    assert api.officer is not None
    founder = await api.sign_up("kilns", "Marta Kiln")
    page = await new_page(token=founder.token)
    await page.goto("/#/")
    await tid(page, "nav-founder").click()
    await expect(page).to_have_url(re.compile(r"#/founder$"))
    await expect(tid(page, "founder-empty")).to_be_visible()
    await tid(page, "founder-new").click()

    # The editor: every field DraftCampaignInput takes.
    await tid(page, "editor-regime").select_option("REG_CF")
    await tid(page, "editor-issuer-name").fill("Harbour Kilns, Inc.")
    await tid(page, "editor-issuer-jurisdiction").fill("us")
    await tid(page, "editor-issuer-website").fill("https://kilns.example")
    await tid(page, "editor-title").fill("Harbour Kilns")
    await tid(page, "editor-summary").fill("Two electric kilns for 30 pottery studios.")
    await tid(page, "editor-security-type").select_option("PREFERRED_EQUITY")
    await tid(page, "editor-valuation").fill("1,500,000")
    await tid(page, "editor-min-target").fill("1000")
    await tid(page, "editor-max-target").fill("20000")
    await tid(page, "editor-min-pledge").fill("100")
    await tid(page, "editor-price").fill("10.00")
    await tid(page, "editor-story").fill("# Fire\n\nWe fire **pottery** for 30 studios.")
    await tid(page, "editor-use-of-proceeds").fill("- Kilns: 80%\n- Glaze lab: 20%")
    await tid(page, "editor-risks").fill("- You may lose everything.\n- Energy prices.")
    for name, role in (("Marta Kiln", "Founder and CEO"), ("Ole Glaze", "Head potter")):
        await tid(page, "team-add").click()
        row = tid(page, "team-row").last
        await row.get_by_test_id("team-name").fill(name)
        await row.get_by_test_id("team-role").fill(role)
    await tid(page, "team-row").first.get_by_test_id("team-bio").fill("Twenty years of clay.")
    await screenshot(page, "founder-editor")
    await tid(page, "editor-save").click()

    # The workspace of the new draft.
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "DRAFT")
    await expect(tid(page, "workspace-title")).to_have_text("Harbour Kilns")
    await expect(tid(page, "statement-missing")).to_be_visible()
    campaign_id = page.url.rsplit("/", 1)[-1]
    stored = (await api.gql(OFFERING, {"id": campaign_id}, founder.token))["campaign"]
    assert stored["securityType"] == "PREFERRED_EQUITY" and stored["valuation"] == "1500000.00"
    assert stored["issuer"] == {"legalName": "Harbour Kilns, Inc.", "jurisdiction": "US",
                                "website": "https://kilns.example"}
    assert stored["team"] == [
        {"name": "Marta Kiln", "role": "Founder and CEO", "bio": "Twenty years of clay."},
        {"name": "Ole Glaze", "role": "Head potter", "bio": None},
    ]
    assert (stored["minTarget"], stored["maxTarget"], stored["minPledge"],
            stored["pricePerShare"]) == ("1000.00", "20000.00", "100.00", "10.00")
    assert stored["risks"].startswith("- You may lose everything.")

    # Submitting needs the offering statement: file it with the upload panel.
    await tid(page, "upload-kind").select_option("FORM_C")
    await tid(page, "upload-file").set_input_files(
        {"name": "form-c.pdf", "mimeType": "application/pdf", "buffer": FORM_C})
    await tid(page, "upload-submit").click()
    await expect(tid(page, "workspace-message")).to_have_attribute(
        "data-typename", "DocumentUploaded")
    await expect(tid(page, "statement-filed")).to_contain_text("form-c.pdf")

    # The preview is the campaign page as a backer sees it (no founder tools).
    await tid(page, "workspace-preview").click()
    await expect(tid(page, "campaign-title")).to_have_text("Harbour Kilns")
    await expect(tid(page, "valuation")).to_have_attribute("data-value", "1500000.00")
    await expect(tid(page, "team-member")).to_have_count(2)
    await expect(tid(page, "story-body").locator("strong")).to_have_text("pottery")
    await expect(tid(page, "document-row")).to_have_count(1)
    await expect(tid(page, "founder-panel")).to_have_count(0)
    await tid(page, "preview-back").click()

    await tid(page, "workspace-submit").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "IN_REVIEW")
    await expect(tid(page, "review-step")).to_have_count(1)
    assert await status_of(api, campaign_id, founder) == "IN_REVIEW"

    # A risk officer approves (arranged); the founder launches from the workspace.
    await api.mutate(APPROVE, {"id": campaign_id}, api.officer.token, "CampaignSaved")
    await page.reload()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "APPROVED")
    await expect(tid(page, "launch-rule")).to_contain_text("21 days")
    await tid(page, "workspace-launch").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "LIVE")
    await expect(tid(page, "workspace-message")).to_have_attribute("data-typename",
                                                                   "CampaignSaved")
    assert (await api.campaign(campaign_id))["status"] == "LIVE"
    assert [s for s in await tid(page, "review-step").evaluate_all(
        "els => els.map(e => e.dataset.action)")] == ["SUBMITTED", "APPROVED"]

    # Backers arrive (arranged): the founder sees them, their pledges and their question.
    backer = await api.verified_backer("potter")
    await api.pledge(backer, campaign_id, "250.00")
    asked = await api.gql(ASK, {"c": campaign_id, "b": "When do the kilns arrive?"},
                          backer.token)
    await api.caught_up(asked["askQuestion"]["position"])
    await page.reload()
    row = tid(page, "backer-row")
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("backer-name")).to_have_text(backer.display_name)
    await expect(row.get_by_test_id("backer-amount")).to_have_attribute("data-value", "250.00")
    await tid(page, "answer-body").fill("In March, after the studio is wired.")
    await tid(page, "answer-submit").click()
    await expect(tid(page, "question-answer")).to_contain_text("In March")

    await page.goto("/#/founder")
    listed = tid(page, "founder-campaign-row")
    await expect(listed).to_have_count(1)
    await expect(listed).to_have_attribute("data-status", "LIVE")
    await listed.get_by_test_id("founder-campaign-link").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "LIVE")
    await screenshot(page, "founder-workspace")


# --------------------------------------------------------------------------- review


async def test_the_reviewers_reason_is_shown_and_the_founder_edits_and_resubmits(
    api: Api, new_page: NewPage
) -> None:
    assert api.officer is not None
    founder = await api.sign_up("rejected", "Rita Rework")
    campaign_id = await draft_submitted(api, founder, "Kiln Co-op")
    reason = "The Form C names a different issuer than the campaign."
    rejected = await api.gql(REJECT, {"id": campaign_id, "r": reason}, api.officer.token)
    await api.caught_up(rejected["rejectCampaign"]["position"])

    page = await new_page(token=founder.token)
    await open_workspace(page, campaign_id)
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "REJECTED")
    await expect(tid(page, "rejection-reason")).to_have_text(reason)
    await expect(tid(page, "review-reason")).to_have_text(reason)

    await tid(page, "workspace-edit").click()
    await expect(tid(page, "editor-title")).to_have_value("Kiln Co-op")
    await tid(page, "editor-title").fill("Kiln Co-op (Harbour Kilns, Inc.)")
    await tid(page, "editor-save").click()
    await expect(tid(page, "workspace-title")).to_have_text("Kiln Co-op (Harbour Kilns, Inc.)")
    await tid(page, "workspace-submit").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "IN_REVIEW")
    await expect(tid(page, "rejection")).to_have_count(0)
    actions = await tid(page, "review-step").evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions == ["SUBMITTED", "REJECTED", "SUBMITTED"]
    await page.goto("/#/founder")
    await expect(tid(page, "founder-campaign-row")).to_have_attribute("data-status", "IN_REVIEW")


async def test_my_campaigns_is_in_the_header_for_founders_not_for_staff(
    api: Api, new_page: NewPage
) -> None:
    assert api.officer is not None
    founder = await api.sign_up("header", "Hedda Header")
    page = await new_page(token=founder.token)
    await page.goto("/#/")
    await expect(tid(page, "nav-founder")).to_be_visible()
    # Staff may not found campaigns: a risk officer's header has no "My campaigns".
    officer_page = await new_page(token=api.officer.token)
    await officer_page.goto("/#/")
    await expect(tid(officer_page, "nav-display-name")).not_to_have_text("")
    await expect(tid(officer_page, "nav-founder")).to_be_hidden()
    # Signed out: neither.
    anonymous = await new_page()
    await anonymous.goto("/#/")
    await expect(tid(anonymous, "nav-signin")).to_be_visible()
    await expect(tid(anonymous, "nav-founder")).to_be_hidden()


async def test_close_early_shows_the_rule_and_the_problem_and_cancel_asks_first(
    api: Api, new_page: NewPage
) -> None:
    founder = await api.sign_up("closing", "Cleo Close")
    campaign = await founder_api(api, founder).live_campaign(title="Closing Kilns")
    page = await new_page(token=founder.token)
    await open_workspace(page, campaign["id"])

    # Below the minimum target: the server's Problem, in its own words.
    await expect(tid(page, "close-early-rule")).to_contain_text("227.304(b)")
    await tid(page, "close-early-submit").click()
    await expect(tid(page, "confirm-dialog")).to_be_visible()
    await tid(page, "confirm-yes").click()
    message = tid(page, "next-step-message")
    await expect(message).to_have_attribute("data-code", "TARGET_NOT_MET")
    await expect(message).to_contain_text("minimum target")
    assert (await api.campaign(campaign["id"]))["status"] == "LIVE"

    # Cancelling says what happens to backers and asks first; "Keep it" changes nothing.
    await expect(tid(page, "cancel-rule")).to_contain_text("refunded in full")
    await tid(page, "cancel-reason").fill("The studio lease fell through.")
    await tid(page, "workspace-cancel").click()
    await expect(tid(page, "confirm-dialog")).to_contain_text("refunded in full")
    await tid(page, "confirm-no").click()
    await expect(tid(page, "confirm-dialog")).to_have_count(0)
    assert (await api.campaign(campaign["id"]))["status"] == "LIVE"
    await tid(page, "workspace-cancel").click()
    await tid(page, "confirm-yes").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "CANCELLED")
    assert (await api.campaign(campaign["id"]))["status"] == "CANCELLED"


# --------------------------------------------------------------------------- updates


async def test_a_material_update_says_what_it_triggers_and_asks_backers_to_reconfirm(
    api: Api, new_page: NewPage
) -> None:
    founder = await api.sign_up("material", "Mia Material")
    campaign = await founder_api(api, founder).live_campaign(title="Material Kilns")
    backer = await api.verified_backer("reconfirming")
    await api.pledge(backer, campaign["id"], "200.00")

    page = await new_page(token=founder.token)
    await open_workspace(page, campaign["id"])
    # A plain update first: pledges stay as they are.
    await tid(page, "update-title").fill("Week one")
    await tid(page, "update-text").fill("The kilns are ordered.")
    await tid(page, "update-submit").click()
    await expect(tid(page, "update-item")).to_have_count(1)
    assert [p["status"] for p in await api.my_pledges(backer)] == ["ACTIVE"]

    material = tid(page, "update-material-input")
    await expect(tid(page, "update-form")).to_contain_text("5 business days")
    await tid(page, "update-title").fill("New kiln supplier")
    await tid(page, "update-text").fill("The price per kiln rose by a third.")
    await material.check()
    await tid(page, "update-submit").click()
    await expect(tid(page, "confirm-dialog")).to_contain_text("reconfirm")
    await tid(page, "confirm-yes").click()
    await expect(tid(page, "workspace-message")).to_contain_text("reconfirm")
    await expect(tid(page, "update-item")).to_have_count(2)
    newest = tid(page, "update-item").filter(has_text="New kiln supplier")
    await expect(newest).to_have_attribute("data-material", "true")
    await expect(newest.get_by_test_id("update-material")).to_be_visible()
    assert [p["status"] for p in await api.my_pledges(backer)] == ["PENDING_RECONFIRMATION"]
    await expect(tid(page, "backer-status")).to_have_text("Pending reconfirmation")


# --------------------------------------------------------------------------- distributions


async def test_the_distribution_preview_pays_to_the_cent_what_the_declaration_pays(
    api: Api, new_page: NewPage
) -> None:
    assert api.admin is not None
    founder = await api.sign_up("paying", "Paula Payout")
    start = datetime.now(UTC).replace(microsecond=0)
    moved = await api.gql(SET_CLOCK, {"now": start.isoformat()}, api.admin.token)
    assert moved["setClock"]["__typename"] == "ClockSet", moved
    deadline = start + timedelta(days=22)
    campaign = await founder_api(api, founder).live_campaign(
        title="Paying Kilns", minTarget="300.00", deadline=deadline.isoformat())
    backers = [await api.verified_backer(f"holder{i}") for i in range(3)]
    for backer in backers:
        await api.pledge(backer, campaign["id"], "100.00")
    try:
        closed = await api.gql(SET_CLOCK, {"now": (deadline + timedelta(minutes=1)).isoformat()},
                               api.admin.token)
        await api.caught_up(closed["setClock"]["position"])
        assert (await api.campaign(campaign["id"]))["status"] == "SETTLED"

        page = await new_page(token=founder.token)
        await open_workspace(page, campaign["id"])
        await expect(tid(page, "cap-row")).to_have_count(3)
        await expect(tid(page, "cap-total-shares")).to_have_text("30")
        await expect(tid(page, "distribution-rule")).to_contain_text("largest remainders")

        # A business failure first: the server's Problem, in its own words.
        await tid(page, "distribution-total").fill("0")
        await tid(page, "distribution-preview-button").click()
        await expect(tid(page, "distribution-message")).to_have_attribute(
            "data-typename", "ValidationProblem")
        await expect(tid(page, "payout-row")).to_have_count(0)

        await tid(page, "distribution-total").fill("100")
        await tid(page, "distribution-preview-button").click()
        rows = tid(page, "payout-row")
        await expect(rows).to_have_count(3)
        await expect(tid(page, "payout-sum")).to_have_attribute("data-value", "100.00")
        shown = dict(zip(
            await rows.evaluate_all("els => els.map(e => e.dataset.investorId)"),
            await tid(page, "payout-amount").evaluate_all("els => els.map(e => e.dataset.value)"),
            strict=True,
        ))
        assert sorted(shown.values()) == ["33.33", "33.33", "33.34"]
        assert set(shown) == {b.id for b in backers}
        assert (await api.gql(DISTRIBUTIONS, {"id": campaign["id"]}, founder.token))[
            "distributions"] == []  # a preview declares nothing

        await tid(page, "distribution-declare").click()
        await expect(tid(page, "confirm-dialog")).to_contain_text("$100.00")
        await tid(page, "confirm-yes").click()
        await expect(tid(page, "distribution-item")).to_have_count(1)
        (declared,) = (await api.gql(DISTRIBUTIONS, {"id": campaign["id"]}, founder.token))[
            "distributions"]
        paid = {p["investor"]["id"]: p["amount"] for p in declared["payouts"]}
        assert paid == shown
        assert sum(Decimal(a) for a in paid.values()) == Decimal(declared["total"])
    finally:
        back = await api.gql(SET_CLOCK, {"now": datetime.now(UTC).isoformat()},
                             api.admin.token)
        assert back["setClock"]["__typename"] == "ClockSet", back


async def test_editing_a_live_offering_sends_only_the_change_and_asks_first(
    api: Api, new_page: NewPage
) -> None:
    founder = await api.sign_up("amending", "Amos Amend")
    campaign = await founder_api(api, founder).live_campaign(title="Amended Kilns")
    backer = await api.verified_backer("amended")
    await api.pledge(backer, campaign["id"], "100.00")
    page = await new_page(token=founder.token)
    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/graphql") and r.post_data else None)
    await open_workspace(page, campaign["id"])
    await tid(page, "workspace-edit").click()
    await expect(tid(page, "editor-live-warning")).to_contain_text("material change")
    await expect(tid(page, "editor-min-target")).to_have_value("1000.00")

    await tid(page, "editor-save").click()  # nothing changed: nothing sent
    await expect(tid(page, "editor-message")).to_have_attribute("data-code", "NOTHING_CHANGED")
    await tid(page, "editor-story").fill("We now fire **porcelain** too.")
    await tid(page, "editor-save").click()
    await tid(page, "confirm-no").click()  # thought better of it: nothing sent
    assert not [b for b in sent if "amendCampaign" in b.get("query", "")]
    await tid(page, "editor-save").click()
    await tid(page, "confirm-yes").click()
    await expect(tid(page, "workspace-status")).to_have_attribute("data-status", "LIVE")
    (amended,) = [b for b in sent if "amendCampaign" in b.get("query", "")]
    assert amended["variables"]["input"] == {"story": "We now fire **porcelain** too."}
    assert [p["status"] for p in await api.my_pledges(backer)] == ["PENDING_RECONFIRMATION"]
