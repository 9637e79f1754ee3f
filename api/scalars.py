"""Custom scalars: Decimal (money string), DateTime (offset required), Long, JSON.

Bad Decimal and DateTime input does not fail the whole request: parsing yields an
`InvalidScalar` marker instead, so that a mutation can answer with a
`ValidationProblem` naming the field (the contract wants business-shaped answers
for bad amounts and dates). Resolvers must pass such values through
`api.inputs` (mutations) or `require_datetime` (queries).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass
from typing import Any, NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from domain.money import CENT

Long = NewType("Long", int)

_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
# Longer input than any amount or instant we accept: refuse before parsing.
MAX_SCALAR_TEXT = 64


@dataclass(frozen=True)
class InvalidScalar:
    """A Decimal or DateTime argument that did not parse; `reason` is a sentence."""

    scalar: str
    reason: str


# --------------------------------------------------------------------------- Decimal


def parse_decimal(value: object) -> decimal.Decimal | InvalidScalar:
    if isinstance(value, bool) or not isinstance(value, str | int):
        # Floats are refused: 0.1 + 0.2 is not money.
        return InvalidScalar("Decimal", "must be a decimal string such as \"2500.00\"")
    text = str(value)
    if len(text) > MAX_SCALAR_TEXT or not _PLAIN_DECIMAL.fullmatch(text):
        # No exponents, NaN, Infinity, spaces or thousands separators: plain digits only.
        return InvalidScalar("Decimal", "must be a decimal string such as \"2500.00\"")
    amount = decimal.Decimal(text)
    if amount != amount.quantize(CENT, rounding=decimal.ROUND_DOWN):
        return InvalidScalar("Decimal", "can have at most 2 decimal places")
    return amount


def serialize_decimal(value: object) -> str:
    amount = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    return str(amount.quantize(CENT))


def _literal_decimal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
    if isinstance(node, StringValueNode | IntValueNode):
        return parse_decimal(node.value)
    if isinstance(node, FloatValueNode):
        return parse_decimal(1.0)  # a float literal: refused with the same sentence
    return InvalidScalar("Decimal", "must be a decimal string such as \"2500.00\"")


# -------------------------------------------------------------------------- DateTime


def parse_datetime(value: object) -> dt.datetime | InvalidScalar:
    reason = "must be an ISO 8601 instant with an offset, e.g. 2027-03-01T12:00:00+00:00"
    if not isinstance(value, str) or len(value) > MAX_SCALAR_TEXT:
        return InvalidScalar("DateTime", reason)
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return InvalidScalar("DateTime", reason)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return InvalidScalar("DateTime", reason)
    return parsed


def serialize_datetime(value: object) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise TypeError("DateTime fields need a datetime")
    if value.tzinfo is None:
        # Some databases drop the offset; everything is stored in UTC.
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _literal_datetime(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
    if isinstance(node, StringValueNode):
        return parse_datetime(node.value)
    return InvalidScalar("DateTime", "must be a string")


# ------------------------------------------------------------------------------ Long


def parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Long must be an integer")
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError("Long must fit in 64 bits")
    return value


def _literal_long(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    if not isinstance(node, IntValueNode):
        raise ValueError("Long must be an integer")
    return parse_long(int(node.value))


def serialize_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("Long fields need an int")
    return value


SCALARS: dict[object, ScalarDefinition] = {
    decimal.Decimal: strawberry.scalar(
        name="Decimal",
        description='A decimal amount as a string, at most 2 fraction digits, e.g. "2500.00".',
        serialize=serialize_decimal,
        parse_value=parse_decimal,
        parse_literal=_literal_decimal,
    ),
    dt.datetime: strawberry.scalar(
        name="DateTime",
        description=(
            'An ISO 8601 instant with an explicit offset, e.g. "2027-03-01T12:00:00+00:00".'
        ),
        serialize=serialize_datetime,
        parse_value=parse_datetime,
        parse_literal=_literal_datetime,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit count or position, serialized as a JSON number.",
        serialize=serialize_long,
        parse_value=parse_long,
        parse_literal=_literal_long,
    ),
}
