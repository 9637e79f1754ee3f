"""Money: `Decimal` with at most two fraction digits, never float.

The one parser of amounts: the API's Decimal scalar reads text with
`exact_decimal`, its input models bound amounts with `within_bounds`, and the
commands take any spelling through `parse_amount`. Their complaints are phrases
that follow a field's name ("minTarget can have at most 2 decimal places").
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from domain.errors import ValidationError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Far above any offering limit; guards Decimal arithmetic from absurd input.
ABSURD = Decimal("1000000000000")
# Longer text than any amount we accept is refused before it is parsed.
MAX_AMOUNT_TEXT = 64
# Plain decimal notation only: no exponents, NaN, Infinity, underscores, a plus sign,
# spaces or thousands separators (the contract's money is "2500.00").
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.([0-9]+))?")

NOT_AN_AMOUNT = 'must be a decimal string such as "2500.00"'


class BadAmount(ValueError):
    """Why a value is not an amount: a phrase that follows the field's name."""


def exact_decimal(value: object) -> Decimal:
    """`value` (text or a whole number) as an exact Decimal with at most two fraction
    digits, unrounded; BadAmount otherwise. Floats are refused: 0.1 + 0.2 is not money."""
    if isinstance(value, float | bool):
        raise BadAmount(NOT_AN_AMOUNT)
    text = str(value)
    match = _PLAIN_DECIMAL.fullmatch(text) if len(text) <= MAX_AMOUNT_TEXT else None
    if match is None:
        raise BadAmount(NOT_AN_AMOUNT)
    # Counted in the text: quantizing a number longer than the Decimal context's
    # precision would raise InvalidOperation.
    if len((match.group(1) or "").rstrip("0")) > 2:
        raise BadAmount("can have at most 2 decimal places")
    return Decimal(text)


def within_bounds(amount: Decimal, *, allow_zero: bool = False) -> Decimal:
    """`amount` if it is more than zero (or zero, when allowed) and less than ABSURD."""
    if amount < 0:
        raise BadAmount("must not be negative" if allow_zero else "must be greater than zero")
    if amount == 0 and not allow_zero:
        raise BadAmount("must be greater than zero")
    if amount >= ABSURD:
        raise BadAmount("is larger than any amount this platform handles")
    return amount


def parse_amount(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """A positive amount in cents (surrounding spaces forgiven), or a ValidationError
    naming the field."""
    try:
        text = value.strip() if isinstance(value, str) else value
        amount = within_bounds(exact_decimal(text), allow_zero=allow_zero)
    except BadAmount as bad:
        raise ValidationError(f"{field} {bad}.", field) from None
    return amount.quantize(CENT)


def cents(amount: Decimal) -> Decimal:
    """Round down to the cent: limits are never rounded in the investor's favour."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)
