"""Money: `Decimal` with at most two fraction digits, never float."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from domain.errors import ValidationError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Far above any offering limit; guards Decimal arithmetic from absurd input.
ABSURD = Decimal("1000000000000")
# Plain decimal notation only: no exponents, underscores, signs or spaces
# (the contract's money is "2500.00"); lengths are bounded before parsing.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def parse_amount(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """A positive amount with at most two decimals, or a ValidationError naming the field."""
    if isinstance(value, float):
        raise ValidationError(f"{field} must be a decimal string, not a float.", field)
    text = str(value).strip()
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise ValidationError(f"{field} must be a number such as 2500.00.", field)
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field} must be a number such as 2500.00.", field) from None
    if not amount.is_finite():
        raise ValidationError(f"{field} must be a finite number.", field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(f"{field} must be greater than zero.", field)
    # Bound the size before quantizing: quantize raises InvalidOperation on numbers
    # with more digits than the Decimal context's precision (e.g. "1e30").
    if amount >= ABSURD:
        raise ValidationError(f"{field} is larger than any amount this platform handles.", field)
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise ValidationError(f"{field} can have at most 2 decimal places.", field)
    return amount.quantize(CENT)


def cents(amount: Decimal) -> Decimal:
    """Round down to the cent: limits are never rounded in the investor's favour."""
    return amount.quantize(CENT, rounding=ROUND_DOWN)
