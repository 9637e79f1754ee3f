"""Documents through the API: `uploadDocument` over the multipart request spec, the type
decided by the content, the size limit, who may upload, a new offering statement as a
material change, `GET /documents/<sha256>`, the audit covering the file, and the
offering's description (Markdown rendered safely)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters.documents import FileDocumentStore
from api.documents import content_disposition
from domain.offering import MAX_DOCUMENT_BYTES
from tests.api.conftest import Api
from tests.api.flows import (
    CAMPAIGN_RESULT,
    DRAFT,
    PROBLEM,
    STATEMENT_PDF,
    SUBMIT,
    UPLOAD,
    Cast,
    cast,
    draft,
    draft_input,
    live_campaign,
    pledge,
    upload,
)
from tests.domain.test_offering import png, png_bomb, zip_bomb

OFFERING = """query($id: ID!) { campaign(id: $id) {
  securityType valuation story storyHtml useOfProceeds useOfProceedsHtml risks risksHtml
  team { name role bio }
  documents { id kind name contentType size sha256 url uploadedAt }
  updates { title body material }
} }"""


@pytest.fixture
async def team(api: Api) -> Cast:
    return await cast(api)


async def campaign_of(api: Api, campaign_id: str, token: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (await api.ok(OFFERING, {"id": campaign_id}, token))["campaign"]
    return found


# --- what a file is --------------------------------------------------------------------------


async def test_a_pdf_named_png_is_filed_as_the_pdf_it_is(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder, statement=False)
    result = await upload(api, team.founder, cid, "FORM_C", "form-c.png", STATEMENT_PDF,
                          "image/png")
    assert result["__typename"] == "DocumentUploaded", result
    document = result["document"]
    assert (document["contentType"], document["name"]) == ("application/pdf", "form-c.pdf")
    assert document["size"] == len(STATEMENT_PDF)
    assert document["sha256"] == hashlib.sha256(STATEMENT_PDF).hexdigest()
    assert document["url"] == f"/documents/{document['sha256']}"
    assert (await campaign_of(api, cid, team.founder.token))["documents"] == [document]


async def test_a_png_claiming_to_be_html_is_served_as_a_png(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder)
    result = await upload(api, team.founder, cid, "IMAGE", "cover.html", png(), "text/html")
    assert result["__typename"] == "DocumentUploaded", result
    assert (result["document"]["contentType"], result["document"]["name"]) == (
        "image/png", "cover.png"
    )
    served = await api.client.get(result["document"]["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.content == png()


@pytest.mark.parametrize(("name", "content", "code"), [
    ("bomb.zip", zip_bomb(), "UNSUPPORTED_FILE_TYPE"),
    ("bomb.pdf", zip_bomb(), "UNSUPPORTED_FILE_TYPE"),
    ("huge.png", png_bomb(), "UNSUPPORTED_FILE_TYPE"),
    ("page.pdf", b"<!doctype html><script>alert(1)</script>", "UNSUPPORTED_FILE_TYPE"),
    ("empty.pdf", b"", "EMPTY_FILE"),
])
async def test_files_that_are_not_documents_are_refused(
    api: Api, team: Cast, name: str, content: bytes, code: str
) -> None:
    cid = await draft(api, team.founder)
    before = api.store.campaign(cid).version
    result = await upload(api, team.founder, cid, "OTHER", name, content, "application/pdf")
    assert (result["__typename"], result["code"], result["field"]) == (
        "ValidationProblem", code, "file"
    )
    assert api.store.campaign(cid).version == before


async def test_a_file_with_a_zero_byte_name_is_named_after_its_kind(
    api: Api, team: Cast
) -> None:
    cid = await draft(api, team.founder, statement=False)
    operations = json.dumps({"query": UPLOAD, "variables": {
        "campaignId": cid, "kind": "FORM_C", "file": None,
    }})
    body = (
        f'--B\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        '--B\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0": ["variables.file"]}\r\n'
        '--B\r\nContent-Disposition: form-data; name="0"; filename=""\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + STATEMENT_PDF + b"\r\n--B--\r\n"
    response = await api.client.post(
        "/graphql", content=body, headers={
            "content-type": "multipart/form-data; boundary=B",
            "authorization": f"Bearer {team.founder.token}",
        },
    )
    api.sync()
    result = response.json()["data"]["uploadDocument"]
    assert result["__typename"] == "DocumentUploaded", result
    assert result["document"]["name"] == "form-c.pdf"


async def test_a_file_variable_without_a_file_part_is_refused(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder)
    data = await api.ok(
        f"""mutation($id: ID!) {{ uploadDocument(campaignId: $id, kind: OTHER, file: "x.pdf")
        {{ __typename {PROBLEM} }} }}""", {"id": cid}, team.founder.token,
    )
    assert data["uploadDocument"]["code"] == "NOT_A_FILE"


# --- size -----------------------------------------------------------------------------------


async def test_one_byte_over_ten_mebibytes_is_refused_by_name(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder)
    content = b"%PDF-1.4\n" + b"0" * (MAX_DOCUMENT_BYTES - 15) + b"\n%%EOF\n"
    assert len(content) == MAX_DOCUMENT_BYTES + 1
    result = await upload(api, team.founder, cid, "OTHER", "big.pdf", content)
    assert (result["__typename"], result["code"]) == ("ValidationProblem", "FILE_TOO_LARGE")
    exactly = content[:9] + content[10:]
    accepted = await upload(api, team.founder, cid, "OTHER", "big.pdf", exactly)
    assert accepted["__typename"] == "DocumentUploaded", accepted["__typename"]
    assert accepted["document"]["size"] == MAX_DOCUMENT_BYTES


async def test_a_body_far_over_the_limit_is_413_and_json_keeps_its_small_limit(
    api: Api, team: Cast
) -> None:
    cid = await draft(api, team.founder)
    response = await api.upload(
        "mutation($f: Upload!) { uploadDocument(campaignId: \"x\", kind: OTHER, file: $f) "
        "{ __typename } }", {}, {"f": ("x.pdf", b"0" * (MAX_DOCUMENT_BYTES + 200_000),
                                        "application/pdf")}, team.founder.token,
    )
    assert response.status_code == 413
    # Only a multipart upload may be large: the same bytes as JSON are refused.
    big = await api.client.post(
        "/graphql", content=b'{"query": "' + b"x" * 200_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413
    assert api.store.campaign(cid).documents[-1].kind.value == "FORM_C"


# --- who and when ----------------------------------------------------------------------------


async def test_only_the_founder_uploads(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder, statement=False)
    for who, code in ((None, "UNAUTHENTICATED"), (team.backer, "NOT_ALLOWED"),
                      (team.officer, "NOT_ALLOWED"), (team.auditor, "READ_ONLY_ROLE")):
        response = await api.upload(
            """mutation($id: ID!, $file: Upload!) {
              uploadDocument(campaignId: $id, kind: FORM_C, file: $file) { __typename
              ... on Problem { code } } }""",
            {"id": cid}, {"file": ("f.pdf", STATEMENT_PDF, "application/pdf")},
            who.token if who else None,
        )
        result = response.json()["data"]["uploadDocument"]
        assert (result["__typename"], result["code"]) == ("NotAllowed", code), who
    assert api.store.campaign(cid).documents == ()
    store = api.store.documents
    assert isinstance(store, FileDocumentStore)
    assert store.read(hashlib.sha256(STATEMENT_PDF).hexdigest()) is None  # nothing kept
    unknown = await upload(api, team.founder, "00000000-0000-0000-0000-000000000000", "FORM_C",
                           "f.pdf", STATEMENT_PDF)
    assert unknown["__typename"] == "NotFound"


async def test_no_uploads_while_in_review(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder)
    assert (await api.ok(SUBMIT, {"id": cid}, team.founder.token))["submitCampaign"][
        "__typename"] == "CampaignSaved"
    result = await upload(api, team.founder, cid, "OTHER", "late.pdf", STATEMENT_PDF)
    assert result["__typename"] == "InvalidState"


# --- a new offering statement while live ---------------------------------------------------


async def test_a_new_form_c_while_live_asks_every_backer_to_reconfirm(
    api: Api, team: Cast
) -> None:
    cid = await live_campaign(api, team.founder, team.officer)
    placed = await pledge(api, team.backer, cid, "300.00", acknowledgeRisk=True)
    assert placed["__typename"] == "PledgeSaved", placed
    result = await upload(api, team.founder, cid, "FORM_C", "form-c-a.pdf",
                          STATEMENT_PDF + b"% amended\n")
    assert result["__typename"] == "DocumentUploaded", result
    mine = await api.ok("{ myPledges { status reconfirmBy } }", token=team.backer.token)
    assert [p["status"] for p in mine["myPledges"]] == ["PENDING_RECONFIRMATION"]
    (notice,) = [u for u in (await campaign_of(api, cid))["updates"] if u["material"]]
    assert "form-c-a.pdf" in notice["body"] and "UTC" in notice["body"]
    assert mine["myPledges"][0]["reconfirmBy"] not in notice["body"]  # no raw timestamp
    # A cover image is no change to the offering.
    await upload(api, team.founder, cid, "IMAGE", "cover.png", png())
    mine = await api.ok("{ myPledges { status } }", token=team.backer.token)
    assert len([u for u in (await campaign_of(api, cid))["updates"] if u["material"]]) == 1


# --- serving ---------------------------------------------------------------------------------


async def test_documents_are_served_by_hash_with_safe_headers(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder, statement=False)
    result = await upload(api, team.founder, cid, "FORM_C", "Übersicht 2027.pdf", STATEMENT_PDF)
    url = result["document"]["url"]
    served = await api.client.get(url)
    assert served.status_code == 200 and served.content == STATEMENT_PDF
    headers = served.headers
    assert headers["content-type"] == "application/pdf"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["etag"] == f'"{result["document"]["sha256"]}"'
    assert headers["content-disposition"] == (
        "inline; filename=\"_bersicht 2027.pdf\"; filename*=UTF-8''%C3%9Cbersicht%202027.pdf"
    )
    assert content_disposition('a"b\\c.pdf') == (
        "inline; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"
    )
    head = await api.client.head(url)
    assert head.status_code == 200 and head.headers["content-type"] == "application/pdf"
    again = await api.client.get(url, headers={"if-none-match": headers["etag"]})
    assert again.status_code == 304
    for missing in ("/documents/" + "0" * 64, "/documents/not-a-hash", "/documents/..%2Fx"):
        assert (await api.client.get(missing)).status_code == 404, missing


# --- the audit covers the file ---------------------------------------------------------------


async def test_the_audit_chain_covers_the_file(api: Api, team: Cast) -> None:
    cid = await draft(api, team.founder, statement=False)
    result = await upload(api, team.founder, cid, "FORM_C", "form-c.pdf", STATEMENT_PDF)
    sha256 = result["document"]["sha256"]
    trail = await api.ok(
        "query($id: ID!) { auditTrail(streamId: $id) { position type payload } }",
        {"id": cid}, team.auditor.token,
    )
    (event,) = [e for e in trail["auditTrail"] if e["type"] == "DocumentUploaded"]
    assert event["payload"]["sha256"] == sha256 == hashlib.sha256(STATEMENT_PDF).hexdigest()
    verify = "{ verifyAuditChains { ok firstBadPosition } }"
    assert (await api.ok(verify, token=team.auditor.token))["verifyAuditChains"] == {
        "ok": True, "firstBadPosition": None,
    }
    store = api.store.documents
    assert isinstance(store, FileDocumentStore)
    store.path_of(sha256).write_bytes(STATEMENT_PDF.replace(b"Catalog", b"Katalog"))
    assert (await api.ok(verify, token=team.auditor.token))["verifyAuditChains"] == {
        "ok": False, "firstBadPosition": event["position"],
    }


# --- the description -------------------------------------------------------------------------


async def test_the_description_is_drafted_amended_and_rendered_safely(
    api: Api, team: Cast
) -> None:
    story = (
        "# Our bakery\n\nWe bake **bread**. <script>alert(1)</script>\n\n"
        "[site](https://bakery.example) [bad](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    data = await api.ok(DRAFT, {"input": draft_input(
        api, securityType="SAFE", valuation="1500000.00", story=story, useOfProceeds="Ovens.",
        risks="- **Flour** prices", team=[{"name": "Ada", "role": "Baker", "bio": "Sourdough."}],
    )}, team.founder.token)
    cid = data["draftCampaign"]["campaign"]["id"]
    found = await campaign_of(api, cid, team.founder.token)
    assert (found["securityType"], found["valuation"], found["story"]) == (
        "SAFE", "1500000.00", story
    )
    assert found["team"] == [{"name": "Ada", "role": "Baker", "bio": "Sourdough."}]
    html = found["storyHtml"]
    assert "<h3>Our bakery</h3>" in html and "<strong>bread</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace(
        "[bad](javascript:alert(1))", "")
    assert 'href="https://bakery.example" rel="noopener noreferrer nofollow ugc"' in html
    assert found["risksHtml"] == "<ul>\n<li><strong>Flour</strong> prices</li>\n</ul>\n"

    amended = await api.ok(
        f"""mutation($id: ID!) {{ amendCampaign(id: $id, input: {{risks: "Ovens break.",
        team: [], securityType: PREFERRED_EQUITY}}) {{ {CAMPAIGN_RESULT} }} }}""",
        {"id": cid}, team.founder.token,
    )
    assert amended["amendCampaign"]["__typename"] == "CampaignSaved", amended
    found = await campaign_of(api, cid, team.founder.token)
    assert (found["risks"], found["team"], found["securityType"]) == (
        "Ovens break.", [], "PREFERRED_EQUITY"
    )


@pytest.mark.parametrize(("override", "field"), [
    ({"story": "x" * 50_001}, "story"),
    ({"team": [{"name": "", "role": "CEO"}]}, "team"),
    ({"valuation": "0"}, "valuation"),
    ({"risks": "bad \x00 byte"}, "risks"),
])
async def test_a_bad_description_is_a_validation_problem(
    api: Api, team: Cast, override: dict[str, Any], field: str
) -> None:
    data = await api.ok(DRAFT, {"input": draft_input(api, **override)}, team.founder.token)
    result = data["draftCampaign"]
    assert result["__typename"] == "ValidationProblem", result
    assert result["field"] == field


# --- what the page needs besides the offering ------------------------------------------------


async def test_a_profile_shows_its_declarations_to_its_owner_only(api: Api, team: Cast) -> None:
    query = """{ me { investorProfile { legalName dateOfBirth annualIncome netWorth
      otherRegCfInvestments12m } } }"""
    mine = (await api.ok(query, token=team.backer.token))["me"]
    assert mine["investorProfile"] == {
        "legalName": "Ada Investor", "dateOfBirth": "1990-04-30", "annualIncome": "50000.00",
        "netWorth": "50000.00", "otherRegCfInvestments12m": "0.00",
    }
    cid = await live_campaign(api, team.founder, team.officer)
    placed = await pledge(api, team.backer, cid, "200.00", acknowledgeRisk=True)
    assert placed["__typename"] == "PledgeSaved", placed
    insiders = await api.ok(
        """query($id: ID!) { campaign(id: $id) { pledges { edges { node { investor {
          investorProfile { kycStatus legalName annualIncome } } } } } } }""",
        {"id": cid}, team.officer.token,
    )
    (edge,) = insiders["campaign"]["pledges"]["edges"]
    assert edge["node"]["investor"]["investorProfile"] == {
        "kycStatus": "VERIFIED", "legalName": None, "annualIncome": None,
    }


async def test_the_cancellation_right_is_known_before_pledging(api: Api, team: Cast) -> None:
    query = "query($id: ID!) { campaign(id: $id) { deadline pledgeCancellableUntil } }"
    reg_cf = await live_campaign(api, team.founder, team.officer)
    found = (await api.ok(query, {"id": reg_cf}, team.backer.token))["campaign"]
    deadline = datetime.fromisoformat(found["deadline"])
    assert datetime.fromisoformat(found["pledgeCancellableUntil"]) == deadline - timedelta(
        hours=48
    )
    ecsp = await live_campaign(api, team.founder, team.officer, regime="ECSP")
    found = (await api.ok(query, {"id": ecsp}, team.backer.token))["campaign"]
    until = datetime.fromisoformat(found["pledgeCancellableUntil"])
    assert until - api.clock.now() == timedelta(days=4)  # the reflection period (UTC: US)
    draft_id = await draft(api, team.founder)
    found = (await api.ok(query, {"id": draft_id}, team.founder.token))["campaign"]
    assert found["pledgeCancellableUntil"] is None
