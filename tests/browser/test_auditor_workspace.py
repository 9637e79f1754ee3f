"""The auditor's workspace in Chromium, through the screens alone.

What other people did (a founder's campaign, backers' pledges yesterday and today) is
arranged over GraphQL; the auditor then only uses the page: finds the campaign's pledge
events with the log's filters, opens the stream, sees its state as of yesterday, exports
it (the file is byte for byte what `crowdfund audit replay` prints), and verifies the chains
and an inclusion proof against the signed log head.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from playwright.async_api import expect

from tests.browser.conftest import Api, NewPage
from tests.servers import CROWDFUND, DevServer, clean_env

SET_CLOCK = """mutation($now: DateTime!) { setClock(now: $now) { __typename
  ... on ClockSet { now position } ... on Problem { code message } } }"""


def tid(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


async def set_clock(api: Api, when: datetime) -> None:
    assert api.admin is not None
    moved = (await api.gql(SET_CLOCK, {"now": when.isoformat()}, api.admin.token))["setClock"]
    assert moved["__typename"] == "ClockSet", moved
    await api.caught_up(moved["position"])


async def settlement(api: Api, campaign_id: str) -> None:
    """The scheduler settles a funded campaign after its deadline (woken by setClock)."""
    for _ in range(40):
        if (await api.campaign(campaign_id))["status"] == "SETTLED":
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"campaign {campaign_id} did not settle")


def replay(server: DevServer, stream_id: str, *extra: str) -> bytes:
    """`crowdfund audit replay` on the dev server's data dir, its stdout as bytes."""
    done = subprocess.run(
        [CROWDFUND, "audit", "replay", stream_id, *extra, "--data-dir", str(server.data_dir)],
        env=clean_env(), capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


async def download(page: Any) -> bytes:
    async with page.expect_download() as started:
        await tid(page, "stream-export").click()
    file = await started.value
    assert re.fullmatch(r"stream-[0-9a-f-]{36}\.jsonl", file.suggested_filename)
    path = await file.path()
    await expect(tid(page, "export-message")).to_have_attribute("data-code", "DOWNLOADED")
    return Path(path).read_bytes()


async def test_an_auditor_finds_the_pledges_sees_yesterday_exports_and_verifies(
    api: Api, new_page: NewPage, browser_server: DevServer, screenshot: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    yesterday = now - timedelta(days=1)
    # A month ago: a campaign with a three-week offering period; it settled since.
    month_ago = now - timedelta(days=30)
    await set_clock(api, month_ago)
    settled = await api.live_campaign(
        title="Settled Bakery", deadline=(month_ago + timedelta(days=22)).isoformat())
    holder = await api.verified_backer("holder")
    await api.pledge(holder, settled["id"], "1200.00")
    # Yesterday: the campaign goes live and a first backer pledges. Today: a second pledge.
    await set_clock(api, yesterday)
    await settlement(api, settled["id"])
    campaign = await api.live_campaign(title="Audited Orchard")
    early = await api.verified_backer("early")
    await api.pledge(early, campaign["id"], "100.00")
    await set_clock(api, now)
    late = await api.verified_backer("late")
    await api.pledge(late, campaign["id"], "250.00")
    auditor = await api.grant(await api.sign_up("auditor", "Ida Auditor"), "AUDITOR")

    # Only auditors are offered the workspace.
    assert api.officer is not None
    officer_page = await new_page(token=api.officer.token)
    await officer_page.goto("/")
    await expect(tid(officer_page, "nav-security")).to_be_visible()
    await expect(tid(officer_page, "nav-audit")).to_be_hidden()
    await officer_page.goto("/#/audit")
    await expect(tid(officer_page, "audit-message")).to_have_attribute("data-code", "FORBIDDEN")
    await expect(tid(officer_page, "audit-message")).to_contain_text("AUDITOR role")

    page = await new_page(token=auditor.token)
    await page.goto("/")
    await tid(page, "nav-audit").click()
    await expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()

    # The campaign's pledge events, with the filters.
    await expect(tid(page, "audit-stream-type").locator("option[value=Campaign]")).to_have_count(1)
    await tid(page, "audit-stream-type").select_option("Campaign")
    await tid(page, "audit-event-type").select_option("PledgeAccepted")
    await tid(page, "audit-stream-id").fill(campaign["id"])
    await tid(page, "audit-apply").click()
    rows = tid(page, "log-row")
    await expect(rows).to_have_count(2)
    for i in range(2):
        await expect(rows.nth(i)).to_have_attribute("data-type", "PledgeAccepted")
        await expect(rows.nth(i)).to_have_attribute("data-stream-id", campaign["id"])
    amounts = [await rows.nth(i).get_by_test_id("event-payload").text_content() for i in range(2)]
    assert '"amount": "100.00"' in amounts[0] and '"amount": "250.00"' in amounts[1], amounts
    first_position = await rows.nth(0).get_attribute("data-position")
    query = parse_qs(urlsplit(page.url).fragment.split("?", 1)[1])
    assert query["eventType"] == ["PledgeAccepted"] and query["stream"] == [campaign["id"]]

    # The stream, and its state as of yesterday.
    await rows.nth(0).get_by_test_id("log-open-stream").click()
    await expect(tid(page, "stream-title")).to_have_attribute("data-stream-type", "Campaign")
    await expect(tid(page, "as-of-status")).to_have_text("LIVE")
    await expect(tid(page, "as-of-raised")).to_have_attribute("data-value", "350.00")
    await expect(tid(page, "escrow-held")).to_have_attribute("data-value", "350.00")
    await expect(tid(page, "cap-table-empty")).to_be_visible()
    whole = await download(page)
    assert whole == replay(browser_server, campaign["id"])

    as_of = (yesterday + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")  # the page is in UTC
    await tid(page, "as-of-input").fill(as_of)
    await tid(page, "as-of-submit").click()
    await expect(tid(page, "as-of-state")).to_have_attribute("data-as-of", re.compile("^20"))
    await expect(tid(page, "as-of-status")).to_have_text("LIVE")
    await expect(tid(page, "as-of-raised")).to_have_attribute("data-value", "100.00")
    await expect(tid(page, "as-of-backers")).to_have_text("1")
    await expect(tid(page, "as-of-compare")).to_contain_text("$350.00 raised from 2 backers")
    history = tid(page, "history-row")
    await expect(page.locator('[data-testid=history-row][data-type=PledgeAccepted]')
                 ).to_have_count(1)
    await expect(history.first).to_have_attribute("data-type", "CampaignDrafted")
    instant = unquote(parse_qs(urlsplit(page.url).fragment.split("?", 1)[1])["asOf"][0])
    assert datetime.fromisoformat(instant) == datetime.fromisoformat(as_of + "+00:00")
    cut = await download(page)
    assert cut == replay(browser_server, campaign["id"], "--as-of", instant)
    assert len(cut.splitlines()) == await history.count() < len(whole.splitlines())
    await screenshot(page, "auditor-stream")

    # Back to the filtered log; every chain verifies, and the first pledge is in the signed tree.
    for _ in range(2):
        await page.go_back()
    await expect(rows).to_have_count(2)
    await tid(page, "verify-chains").click()
    await expect(tid(page, "verify-message")).to_have_attribute("data-code", "OK")
    await expect(tid(page, "verify-result")).to_have_attribute("data-ok", "true")
    await expect(tid(page, "log-head-size")).to_have_text(re.compile(r"^\d+$"))
    assert first_position is not None
    size = await tid(page, "log-head-size").text_content()
    assert size is not None
    # The first and the last leaf of the tree take the audit path's other branches.
    for position in ("1", size, first_position):
        await tid(page, "proof-position").fill(position)
        await tid(page, "proof-check").click()
        message = tid(page, "proof-message")
        await expect(message).to_contain_text(f"The event at position {position} is in")
        await expect(message).to_have_attribute("data-code", "INCLUDED")
    await screenshot(page, "auditor-workspace")

    # A settled campaign's escrow and cap table, found by its settlement event.
    await tid(page, "audit-reset").click()
    await tid(page, "audit-event-type").select_option("CampaignSettled")
    await tid(page, "audit-stream-id").fill(settled["id"])
    await tid(page, "audit-apply").click()
    await expect(rows).to_have_count(1)
    await rows.first.get_by_test_id("log-open-stream").click()
    await expect(tid(page, "as-of-status")).to_have_text("SETTLED")
    await expect(tid(page, "escrow-held")).to_have_attribute("data-value", "0.00")
    await expect(tid(page, "escrow-released")).to_have_attribute("data-value", "1200.00")
    await expect(tid(page, "cap-table-total")).to_have_attribute("data-value", "120")
    holding = tid(page, "cap-table-row")
    await expect(holding).to_have_count(1)
    await expect(holding).to_have_attribute("data-investor-id", holder.id)
    await expect(holding).to_contain_text("$1,200.00")
    await screenshot(page, "auditor-cap-table")
