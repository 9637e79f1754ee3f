"""The offering's disclosure and documents: what a founder may file and when, what a file
is (decided from its bytes), the offering statement required before review, a new
statement while live as a material change, and the audit of the kept files."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from decimal import Decimal

import pytest
from PIL import Image

from adapters.documents import FileDocumentStore
from application import audit
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.offering import DocumentKind, SecurityType, TeamMember, document_name
from domain.pledge import PledgeStatus
from tests.conftest import Store
from tests.scenario import (
    Staff,
    draft_campaign,
    live_campaign,
    offering_statement_pdf,
    pledge,
    register,
    staff,
    verified_backer,
)

PDF = offering_statement_pdf()


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 90)).save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming 10 gigapixels, with a few bytes of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("statement.pdf", b"\0" * 20_000_000)
    return out.getvalue()


@pytest.fixture
def app(sqlite_app: Crowdfund) -> Crowdfund:
    return sqlite_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def event_types(store: Store, stream_id: object) -> list[str]:
    return [topic.rsplit(".", 1)[-1] for _, topic, _ in store.rows(str(stream_id))]


# --- the description -------------------------------------------------------------------


def test_a_draft_records_its_description_in_an_event_of_its_own(
    app: Crowdfund, team: Staff, sqlite_store: Store
) -> None:
    cid = app.offerings.draft(
        team.founder, title="Harbour Bakery", summary="Bread.", regime="REG_CF",
        min_target="1000.00", max_target="10000.00", min_pledge="100.00",
        price_per_share="10.00", deadline=app.clock.now().replace(year=2028),
        securityType="SAFE", valuation="2500000.00", story="# Our story\n\nBread.",
        useOfProceeds="Ovens.", risks="Flour prices.",
        team=[{"name": "Ada", "role": "Baker", "bio": "20 years of sourdough."}],
    ).value
    assert event_types(sqlite_store, cid) == [
        "CampaignDrafted", "IssuerAssigned", "OfferingDescribed"
    ]
    offering = app.campaign(cid).offering
    assert offering.security_type is SecurityType.SAFE
    assert offering.valuation == Decimal("2500000.00")
    assert offering.team == (TeamMember("Ada", "Baker", "20 years of sourdough."),)


def test_a_draft_without_a_description_writes_no_extra_event(
    app: Crowdfund, team: Staff, sqlite_store: Store
) -> None:
    cid = draft_campaign(app, team, statement=False)
    assert event_types(sqlite_store, cid) == ["CampaignDrafted", "IssuerAssigned"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"story": "x" * 50_001}, "story"),
    ({"risks": "x" * 20_001}, "risks"),
    ({"team": [{"name": "", "role": "CEO"}]}, "team"),
    ({"team": [{"name": "A", "role": "B"}] * 31}, "team"),
    ({"valuation": "-1"}, "valuation"),
    ({"valuation": "1.001"}, "valuation"),
    ({"securityType": "TULIP_BULBS"}, "securityType"),
])
def test_a_bad_description_is_refused_by_field(
    app: Crowdfund, team: Staff, changes: dict[str, object], field: str
) -> None:
    cid = draft_campaign(app, team)
    with pytest.raises(ValidationError) as refused:
        app.offerings.amend(team.founder, cid, changes)
    assert refused.value.field == field


def test_describing_a_live_offering_is_a_material_change(
    app: Crowdfund, team: Staff
) -> None:
    cid = live_campaign(app, team)
    backer = verified_backer(app, team)
    pid = pledge(app, backer, cid, "200.00")
    app.offerings.amend(team.founder, cid, {"risks": "A new competitor opened next door."})
    campaign = app.campaign(cid)
    assert campaign.offering.risks == "A new competitor opened next door."
    assert campaign.terms_version == 2
    assert app.pledge_record(pid).status is PledgeStatus.PENDING_RECONFIRMATION


def test_an_amendment_that_repeats_the_description_changes_nothing(
    app: Crowdfund, team: Staff
) -> None:
    cid = draft_campaign(app, team)
    app.offerings.amend(team.founder, cid, {"story": "Bread."})
    with pytest.raises(ValidationError) as refused:
        app.offerings.amend(team.founder, cid, {"story": "Bread."})
    assert refused.value.code == "NOTHING_CHANGED"


# --- the offering statement --------------------------------------------------------------


@pytest.mark.parametrize(("regime", "kind"), [("REG_CF", "FORM_C"), ("ECSP", "KIIS")])
def test_submitting_needs_the_regimes_offering_statement(
    app: Crowdfund, team: Staff, regime: str, kind: str
) -> None:
    cid = draft_campaign(app, team, regime=regime, statement=False)
    app.offerings.upload_document(team.founder, cid, "PITCH_DECK", "deck.pdf", PDF)
    with pytest.raises(InvalidStateError) as refused:
        app.offerings.submit(team.founder, cid)
    assert refused.value.code == "OFFERING_DOCUMENT_MISSING"
    assert kind in refused.value.message
    app.offerings.upload_document(team.founder, cid, kind, "statement.pdf", PDF)
    app.offerings.submit(team.founder, cid)
    assert app.campaign(cid).status is CampaignStatus.IN_REVIEW


def test_an_offering_files_the_statement_of_its_own_regime(app: Crowdfund, team: Staff) -> None:
    ecsp = draft_campaign(app, team, regime="ECSP", statement=False)
    with pytest.raises(ValidationError) as refused:
        app.offerings.upload_document(team.founder, ecsp, "FORM_C", "form-c.pdf", PDF)
    assert refused.value.code == "WRONG_OFFERING_STATEMENT"


def test_a_new_statement_while_live_makes_every_open_pledge_reconfirm(
    app: Crowdfund, team: Staff, clock: SettableClock
) -> None:
    cid = live_campaign(app, team)
    backer = verified_backer(app, team)
    pid = pledge(app, backer, cid, "300.00")
    app.offerings.upload_document(
        team.founder, cid, "FORM_C", "form-c-a.pdf", offering_statement_pdf("amended")
    )
    campaign = app.campaign(cid)
    assert campaign.terms_version == 2 and campaign.reconfirm_by is not None
    assert app.pledge_record(pid).status is PledgeStatus.PENDING_RECONFIRMATION
    # A cover image while live is no change to the offering.
    app.offerings.upload_document(team.founder, cid, "IMAGE", "cover.png", png())
    assert app.campaign(cid).terms_version == 2


def test_the_material_change_notice_gives_a_readable_deadline(
    app: Crowdfund, team: Staff, sqlite_store: Store
) -> None:
    cid = live_campaign(app, team)
    pledge(app, verified_backer(app, team), cid, "300.00")
    app.offerings.upload_document(team.founder, cid, "FORM_C", "form-c-a.pdf", PDF)
    reconfirm_by = app.campaign(cid).reconfirm_by
    assert reconfirm_by is not None
    (update,) = [e for e in app.events.get(cid) if type(e).__name__ == "UpdatePosted"]
    # The clock starts on Monday 1 March 2027, noon UTC: 5 business days later.
    assert "Reconfirm your pledge by Monday 8 March 2027, 12:00 UTC" in update.body
    assert "form-c-a.pdf" in update.body
    assert reconfirm_by.isoformat() not in update.body


# --- who and when ------------------------------------------------------------------------


def test_only_the_founder_files_documents_and_a_refusal_keeps_no_bytes(
    app: Crowdfund, team: Staff, sqlite_store: Store
) -> None:
    cid = draft_campaign(app, team, statement=False)
    stranger = register(app, "stranger")
    with pytest.raises(NotAllowedError):
        app.offerings.upload_document(stranger, cid, "FORM_C", "x.pdf", b"%PDF-1.4 x\n%%EOF")
    assert app.documents is not None
    documents = app.documents
    assert isinstance(documents, FileDocumentStore)
    assert not list(documents.root.rglob("*")) or all(p.is_dir() for p in documents.root.rglob("*"))


def test_no_documents_while_in_review(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    app.offerings.submit(team.founder, cid)
    with pytest.raises(InvalidStateError):
        app.offerings.upload_document(team.founder, cid, "OTHER", "later.pdf", PDF)


# --- what a file is ------------------------------------------------------------------------


def test_the_type_comes_from_the_content_and_the_name_follows_it(
    app: Crowdfund, team: Staff
) -> None:
    cid = draft_campaign(app, team, statement=False)
    document = app.offerings.upload_document(
        team.founder, cid, "FORM_C", "statement.png", PDF
    ).value
    assert (document.content_type, document.name) == ("application/pdf", "statement.pdf")
    image = app.offerings.upload_document(team.founder, cid, "IMAGE", "cover.pdf", png()).value
    assert (image.content_type, image.name) == ("image/png", "cover.png")
    assert image.size == len(png())
    stored = app.campaign(cid).documents
    assert [d.sha256 for d in stored] == [document.sha256, image.sha256]
    assert app.documents is not None and app.documents.read(image.sha256) == png()


@pytest.mark.parametrize(("content", "code"), [
    (b"", "EMPTY_FILE"),
    (b"<html><script>alert(1)</script></html>", "UNSUPPORTED_FILE_TYPE"),
    (zip_bomb(), "UNSUPPORTED_FILE_TYPE"),
    (png_bomb(), "UNSUPPORTED_FILE_TYPE"),
    (b"%PDF-1.7\n" + b"truncated" * 100, "UNSUPPORTED_FILE_TYPE"),
    (png()[:40], "UNSUPPORTED_FILE_TYPE"),
    (b"%PDF-1.4\n" + b"\0" * (10 * 1024 * 1024) + b"%%EOF", "FILE_TOO_LARGE"),
])
def test_files_that_are_not_documents_are_refused(
    app: Crowdfund, team: Staff, content: bytes, code: str
) -> None:
    cid = draft_campaign(app, team)
    version = app.campaign(cid).version
    with pytest.raises(ValidationError) as refused:
        app.offerings.upload_document(team.founder, cid, "OTHER", "file.pdf", content)
    assert (refused.value.code, refused.value.field) == (code, "file")
    assert app.campaign(cid).version == version


def test_a_kind_takes_only_its_types(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team)
    with pytest.raises(ValidationError) as refused:
        app.offerings.upload_document(team.founder, cid, "IMAGE", "cover.png", PDF)
    assert refused.value.code == "UNSUPPORTED_FILE_TYPE"
    with pytest.raises(ValidationError):
        app.offerings.upload_document(team.founder, cid, "FORM_C", "form.png", png())
    with pytest.raises(ValidationError) as unknown:
        app.offerings.upload_document(team.founder, cid, "SELFIE", "me.png", png())
    assert unknown.value.field == "kind"


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\ada\\Form C.PDF", "Form C.pdf"),
    ("", "form-c.pdf"),
    ("   ", "form-c.pdf"),
    (".pdf", "form-c.pdf"),
    ("evil\u202egnp.pdf", "evilgnp.pdf"),
    ("a\nb\x00c.pdf", "abc.pdf"),
    ('quote"<script>.pdf', "quote_script_.pdf"),
    ("Übersicht.pdf", "Übersicht.pdf"),
    ("statement", "statement.pdf"),
    ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
])
def test_file_names_are_sanitised(raw: str, expected: str) -> None:
    assert document_name(raw, DocumentKind.FORM_C, "application/pdf") == expected


# --- the audit covers the file ------------------------------------------------------------


def test_audit_names_a_document_whose_kept_bytes_changed(app: Crowdfund, team: Staff) -> None:
    cid = draft_campaign(app, team, statement=False)
    document = app.offerings.upload_document(team.founder, cid, "FORM_C", "form.pdf", PDF).value
    store = app.documents
    assert isinstance(store, FileDocumentStore)
    assert audit.verify_documents(app, store) == []
    store.path_of(document.sha256).write_bytes(PDF.replace(b"offering", b"offerinG"))
    (mismatch,) = audit.verify_documents(app, store)
    assert (mismatch.sha256, mismatch.name, mismatch.problem) == (
        document.sha256, "form.pdf", "changed"
    )
    store.path_of(document.sha256).unlink()
    assert audit.verify_documents(app, store)[0].problem == "missing"


def test_a_snapshot_keeps_the_description_and_the_documents(
    app: Crowdfund, team: Staff
) -> None:
    cid = draft_campaign(app, team)
    app.offerings.amend(team.founder, cid, {
        "story": "Bread.", "team": [{"name": "Ada", "role": "Baker"}], "valuation": "10.00",
    })
    campaign = app.campaign(cid)
    assert app.snapshots is not None
    app.snapshots.put([type(campaign).Snapshot.take(campaign)])  # type: ignore[attr-defined]
    (snapshot,) = app.snapshots.get(campaign.id)
    restored = snapshot.mutate(None)  # type: ignore[attr-defined]
    assert restored.offering == campaign.offering
    assert list(restored.documents) == list(campaign.documents)
