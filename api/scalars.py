"""Custom scalars: Decimal (money string), DateTime (offset required) and Long.

Bad Decimal and DateTime input does not fail the whole request: parsing yields an
`InvalidScalar` marker instead, so that a mutation can answer with a
`ValidationProblem` naming the field (the contract wants business-shaped answers
for bad amounts and dates). Resolvers must pass such values through
`api.inputs` (mutations) or `api.resolvers.platform.require_instant` (queries).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from domain.money import CENT, NOT_AN_AMOUNT, BadAmount, exact_decimal

Long = NewType("Long", int)

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
# Longer input than any amount or instant we accept: refuse before parsing.
MAX_SCALAR_TEXT = 64


class InvalidScalar:
    """A Decimal or DateTime argument that did not parse; `reason` is a phrase that
    follows the field's name. Not a dataclass: Strawberry would turn one into a dict
    on its way into a Pydantic model (`to_pydantic`)."""

    __slots__ = ("reason", "scalar")

    def __init__(self, scalar: str, reason: str) -> None:
        self.scalar = scalar
        self.reason = reason

    def __repr__(self) -> str:
        return f"InvalidScalar({self.scalar!r}, {self.reason!r})"


# --------------------------------------------------------------------------- Decimal


def parse_decimal(value: object) -> decimal.Decimal | InvalidScalar:
    """Money's own parser (`domain.money.exact_decimal`): plain text or a whole number."""
    try:
        return exact_decimal(value)
    except BadAmount as bad:
        return InvalidScalar("Decimal", str(bad))


def serialize_decimal(value: object) -> str:
    amount = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    return str(amount.quantize(CENT))


def _literal_decimal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
    if isinstance(node, StringValueNode | IntValueNode):
        return parse_decimal(node.value)
    return InvalidScalar("Decimal", NOT_AN_AMOUNT)  # a float literal (not money), a list, …


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
