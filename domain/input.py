"""Parsing input: bad input is refused before anything is loaded or stored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain import limits
from domain.errors import (
    NotFoundError,
    ValidationError,
)
from domain.money import parse_amount
from domain.rulebook import Regime

ADULT_AGE_YEARS = 18


def parse_id(value: UUID | str, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFoundError(f"No {what} with id {str(value)[:64]!r}.") from None


def parse_regime(value: Regime | str) -> Regime:
    if isinstance(value, Regime):
        return value
    try:
        return Regime(value)
    except ValueError:
        raise ValidationError("Regime must be REG_CF or ECSP.", "regime") from None


def parse_idempotency_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > limits.IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationError(
            f"idempotencyKey must be 1 to {limits.IDEMPOTENCY_KEY} printable characters.",
            "idempotencyKey",
        )
    return key


def parse_birth_date(value: str, now: datetime) -> date:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("Date of birth must be a date such as 1990-04-30.",
                              "dateOfBirth") from None
    today = now.date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < ADULT_AGE_YEARS:
        raise ValidationError("Investors must be at least 18 years old.", "dateOfBirth")
    if born.year < today.year - 130:
        raise ValidationError("Date of birth is not plausible.", "dateOfBirth")
    return born


def require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > limits.REASON:
        raise ValidationError(f"Give a reason of 1 to {limits.REASON} characters.", "reason")
    return reason


_CAMEL = {
    "title": "title", "summary": "summary", "minTarget": "min_target",
    "maxTarget": "max_target", "minPledge": "min_pledge", "pricePerShare": "price_per_share",
    "deadline": "deadline",
}
_MONEY_TERMS = {"min_target", "max_target", "min_pledge", "price_per_share"}


def parse_term_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Amendments in the API's words (camelCase or snake_case), validated and typed."""
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        name = _CAMEL.get(key, key)
        if name not in _CAMEL.values():
            raise ValidationError(f"{key} is not a campaign term.", key)
        if name in _MONEY_TERMS:
            value = parse_amount(value, key)
        elif name == "deadline":
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValidationError("The deadline needs a timezone offset.", "deadline")
        else:
            value = str(value).strip()
        parsed[name] = value
    if not parsed:
        raise ValidationError("The amendment changes nothing.", None, "NOTHING_CHANGED")
    return parsed
