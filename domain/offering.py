"""What an offering discloses besides its terms: the security, the valuation, the story,
the use of proceeds, the risks, the team, and the documents filed with it.

Value objects only; the campaign aggregate records them with its own events
(`OfferingDescribed`, `DocumentUploaded`) so that its existing events never change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from domain import limits
from domain.errors import ValidationError
from domain.money import parse_amount
from domain.rulebook import Regime


class SecurityType(Enum):
    COMMON_EQUITY = "COMMON_EQUITY"
    PREFERRED_EQUITY = "PREFERRED_EQUITY"
    SAFE = "SAFE"
    CONVERTIBLE_NOTE = "CONVERTIBLE_NOTE"
    REVENUE_SHARE = "REVENUE_SHARE"


class DocumentKind(Enum):
    FORM_C = "FORM_C"
    KIIS = "KIIS"
    FINANCIAL_STATEMENTS = "FINANCIAL_STATEMENTS"
    PITCH_DECK = "PITCH_DECK"
    IMAGE = "IMAGE"
    OTHER = "OTHER"


# The offering statement each regime requires before review: Form C under Reg CF
# (17 CFR 227.201, filed under 227.203(a)); the key investment information sheet
# under ECSP (Reg. (EU) 2020/1503 Art. 23(1)).
OFFERING_STATEMENT = {Regime.REG_CF: DocumentKind.FORM_C, Regime.ECSP: DocumentKind.KIIS}
STATEMENT_NAMES = {DocumentKind.FORM_C: "Form C", DocumentKind.KIIS: "key investment "
                   "information sheet (KIIS)"}

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
IMAGE_TYPES = (PNG, JPEG, WEBP)
EXTENSIONS = {PDF: (".pdf",), PNG: (".png",), JPEG: (".jpg", ".jpeg"), WEBP: (".webp",)}
# Statements and accounts are filed as PDF, as the SEC's EDGAR and the national
# authorities receive them; a cover image is an image.
ACCEPTED_TYPES: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.FORM_C: (PDF,),
    DocumentKind.KIIS: (PDF,),
    DocumentKind.FINANCIAL_STATEMENTS: (PDF,),
    DocumentKind.PITCH_DECK: (PDF, *IMAGE_TYPES),
    DocumentKind.IMAGE: IMAGE_TYPES,
    DocumentKind.OTHER: (PDF, *IMAGE_TYPES),
}
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS = 50
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def parse_security_type(value: object) -> SecurityType:
    if isinstance(value, SecurityType):
        return value
    try:
        return SecurityType(str(getattr(value, "value", value)))
    except ValueError:
        kinds = ", ".join(s.value for s in SecurityType)
        raise ValidationError(f"securityType must be one of {kinds}.", "securityType") from None


def parse_document_kind(value: object) -> DocumentKind:
    if isinstance(value, DocumentKind):
        return value
    try:
        return DocumentKind(str(getattr(value, "value", value)))
    except ValueError:
        kinds = ", ".join(k.value for k in DocumentKind)
        raise ValidationError(f"kind must be one of {kinds}.", "kind") from None


@dataclass(frozen=True)
class TeamMember:
    name: str
    role: str
    bio: str | None = None

    def check(self) -> None:
        if not self.name.strip() or len(self.name) > limits.TEAM_MEMBER_NAME:
            raise ValidationError(
                f"Each team member needs a name of 1 to {limits.TEAM_MEMBER_NAME} characters.",
                "team",
            )
        if not self.role.strip() or len(self.role) > limits.TEAM_MEMBER_ROLE:
            raise ValidationError(
                f"Each team member needs a role of 1 to {limits.TEAM_MEMBER_ROLE} characters.",
                "team",
            )
        if self.bio is not None and len(self.bio) > limits.TEAM_MEMBER_BIO:
            raise ValidationError(
                f"A team member's bio can be at most {limits.TEAM_MEMBER_BIO} characters.",
                "team",
            )

    def as_fields(self) -> dict[str, str | None]:
        return {"name": self.name, "role": self.role, "bio": self.bio}


@dataclass(frozen=True)
class Disclosure:
    """The issuer's disclosure; an empty one until the founder describes the offering."""

    security_type: SecurityType = SecurityType.COMMON_EQUITY
    # Pre-money, in the campaign's currency; None when the founder states none.
    valuation: Decimal | None = None
    story: str = ""
    use_of_proceeds: str = ""
    risks: str = ""
    team: tuple[TeamMember, ...] = ()

    def check(self) -> None:
        for text, limit, field in (
            (self.story, limits.STORY, "story"),
            (self.use_of_proceeds, limits.USE_OF_PROCEEDS, "useOfProceeds"),
            (self.risks, limits.RISKS, "risks"),
        ):
            if len(text) > limit:
                raise ValidationError(f"{field} can be at most {limit} characters.", field)
        if len(self.team) > limits.TEAM:
            raise ValidationError(f"List at most {limits.TEAM} team members.", "team")
        for member in self.team:
            member.check()

    def with_changes(self, changes: dict[str, Any]) -> Disclosure:
        return replace(self, **changes)

    def changed_fields(self, other: Disclosure) -> list[str]:
        return [name for name in OFFERING_FIELDS if getattr(self, name) != getattr(other, name)]

    def as_event_fields(self) -> dict[str, Any]:
        """Plain values (the event and the snapshot store these)."""
        return {
            "security_type": self.security_type.value,
            "valuation": self.valuation,
            "story": self.story,
            "use_of_proceeds": self.use_of_proceeds,
            "risks": self.risks,
            "team": [m.as_fields() for m in self.team],
        }

    @classmethod
    def from_event_fields(
        cls, security_type: str, valuation: Decimal | None, story: str, use_of_proceeds: str,
        risks: str, team: list[dict[str, Any]],
    ) -> Disclosure:
        return cls(
            security_type=SecurityType(security_type), valuation=valuation, story=story,
            use_of_proceeds=use_of_proceeds, risks=risks,
            team=tuple(TeamMember(m["name"], m["role"], m.get("bio")) for m in team),
        )


OFFERING_FIELDS = ("security_type", "valuation", "story", "use_of_proceeds", "risks", "team")
_CAMEL = {
    "securityType": "security_type", "valuation": "valuation", "story": "story",
    "useOfProceeds": "use_of_proceeds", "risks": "risks", "team": "team",
}


def parse_offering_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Offering fields in the API's words (camelCase or snake_case), validated and typed;
    None means "not given". Unknown names are left to the caller."""
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        name = _CAMEL.get(key, key)
        if value is None or name not in OFFERING_FIELDS:
            continue
        if name == "security_type":
            parsed[name] = parse_security_type(value)
        elif name == "valuation":
            parsed[name] = parse_amount(value, "valuation")
        elif name == "team":
            parsed[name] = tuple(_team_member(m) for m in value)
        else:
            parsed[name] = str(value).strip()
    return parsed


def _team_member(value: Any) -> TeamMember:
    if isinstance(value, TeamMember):
        member = value
    elif isinstance(value, dict):
        bio = value.get("bio")
        member = TeamMember(
            str(value.get("name", "")).strip(), str(value.get("role", "")).strip(),
            str(bio).strip() or None if bio is not None else None,
        )
    else:
        raise ValidationError("Each team member needs a name and a role.", "team")
    member.check()
    return member


def offering_is_offered(offering: Disclosure) -> bool:
    """Whether the founder said anything beyond the defaults (drafts skip an empty event)."""
    return offering != Disclosure()


@dataclass(frozen=True)
class Document:
    """A file filed with the offering; the file itself is kept by its SHA-256."""

    id: str
    kind: DocumentKind
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime

    @property
    def url(self) -> str:
        return f"/documents/{self.sha256}"


def check_document(
    kind: DocumentKind, regime: Regime, content_type: str, size: int, sha256: str
) -> None:
    """A file of this type and size may be filed as `kind` in an offering of `regime`."""
    statement = OFFERING_STATEMENT[regime]
    if kind in STATEMENT_NAMES and kind is not statement:
        raise ValidationError(
            f"A {regime.value} offering files a {STATEMENT_NAMES[statement]}, "
            f"not a {STATEMENT_NAMES[kind]}.", "kind", "WRONG_OFFERING_STATEMENT",
        )
    check_document_size(size)
    accepted = ACCEPTED_TYPES[kind]
    if content_type not in accepted:
        allowed = " or ".join(_type_label(t) for t in accepted)
        raise ValidationError(
            f"A {kind.value} document must be {allowed}; this file is "
            f"{_type_label(content_type)}.", "file", "UNSUPPORTED_FILE_TYPE",
        )
    if not SHA256_HEX.fullmatch(sha256):
        raise ValidationError("The file's SHA-256 is not 64 hex digits.", "file")


def check_document_size(size: int) -> None:
    if size <= 0:
        raise ValidationError("The file is empty.", "file", "EMPTY_FILE")
    if size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            f"The file is {size} bytes; documents can be at most 10 MiB "
            f"({MAX_DOCUMENT_BYTES} bytes).", "file", "FILE_TOO_LARGE",
        )


def _type_label(content_type: str) -> str:
    return {PDF: "a PDF", PNG: "a PNG image", JPEG: "a JPEG image", WEBP: "a WebP image"}.get(
        content_type, content_type
    )


def document_name(raw: str | None, kind: DocumentKind, content_type: str) -> str:
    """The uploaded file name made safe to show and to send back in a header: no path,
    no control or bidi characters, at most limits.DOCUMENT_NAME, and an extension that says
    what the content is (a PDF sent as `statement.png` is named `statement.pdf`)."""
    text = unicodedata.normalize("NFC", raw or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(
        ch for ch in text
        if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " "
    )
    text = re.sub(r"[\"'<>:|?*;]+", "_", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(". ")
    stem, dot, extension = text.rpartition(".")
    if not dot:
        stem, extension = text, ""
    stem = stem.strip(" .") or kind.value.lower().replace("_", "-")
    suffix = EXTENSIONS.get(content_type, ("",))
    wanted = f".{extension.lower()}" if extension else ""
    ext = wanted if wanted in suffix else suffix[0]
    return stem[: limits.DOCUMENT_NAME - len(ext)] + ext
