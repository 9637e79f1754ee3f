"""Money input: Decimal strings with at most two decimals, never floats, never absurd."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.money import (
    ABSURD,
    CENT,
    ZERO,
    BadAmount,
    cents,
    exact_decimal,
    parse_amount,
    within_bounds,
)

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

D = Decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2500", "2500.00"),
        ("2500.5", "2500.50"),
        ("2500.50", "2500.50"),
        (" 0.01 ", "0.01"),
        (2500, "2500.00"),
        (D("10.1"), "10.10"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_valid_amounts_are_normalised_to_cents(raw: object, expected: str) -> None:
    amount = parse_amount(raw, "amount")
    assert amount == D(expected)
    assert amount.as_tuple().exponent == -2  # always two places: "2500.00", not "2500"
    assert str(amount) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "-1.00", "-0.01", "0", "0.00", "0.001", "1.005", "10.999", "abc", "", " ", "12,50",
        "1.2.3", "1E+2", "1_000", "+5", "NaN", "sNaN", "Infinity", "-Infinity", "100 USD",
        "EUR 100", "$100", None,
        1.5, 0.1, float("nan"), "1000000000000", "1000000000000.00", "1e12", "1e30",
        "9" * 40, "1e999999", True,
    ],
)
def test_invalid_amounts_raise_a_validation_error_naming_the_field(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(raw, "amount")
    assert caught.value.field == "amount"
    assert caught.value.code == "INVALID_INPUT"


def test_zero_is_allowed_only_when_asked() -> None:
    assert parse_amount("0", "netWorth", allow_zero=True) == ZERO
    with pytest.raises(ValidationError):
        parse_amount("-0.01", "netWorth", allow_zero=True)
    with pytest.raises(ValidationError):
        parse_amount("0", "amount")


def test_the_absurd_bound_is_exclusive() -> None:
    assert parse_amount(ABSURD - CENT, "amount") == D("999999999999.99")
    with pytest.raises(ValidationError):
        parse_amount(ABSURD, "amount")


def test_cents_round_down_never_in_the_investors_favour() -> None:
    assert cents(D("2500.019")) == D("2500.01")
    assert cents(D("2500.011")) == D("2500.01")
    assert cents(D("0.009")) == D("0.00")
    assert cents(D("7")) == D("7.00")


@given(st.decimals(min_value=D("0.01"), max_value=D("999999999999.99"), places=2))
def test_every_two_decimal_amount_round_trips(amount: Decimal) -> None:
    assert parse_amount(str(amount), "amount") == amount


@given(st.decimals(min_value=D("0.001"), max_value=D("1000000"), places=3))
def test_three_decimals_are_refused_unless_the_third_is_zero(amount: Decimal) -> None:
    if amount == amount.quantize(CENT):
        assert parse_amount(str(amount), "amount") == amount
    else:
        with pytest.raises(ValidationError):
            parse_amount(str(amount), "amount")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (0.5, 'must be a decimal string such as "2500.00"'),
        (True, 'must be a decimal string such as "2500.00"'),
        (" 1.00", 'must be a decimal string such as "2500.00"'),  # the scalar forgives nothing
        ("1" * 65, 'must be a decimal string such as "2500.00"'),
        ("1.005", "can have at most 2 decimal places"),
        # Longer than the Decimal context's precision: refused, not an InvalidOperation.
        ("9" * 40 + ".001", "can have at most 2 decimal places"),
    ],
)
def test_exact_decimal_says_why_in_a_phrase(raw: object, reason: str) -> None:
    with pytest.raises(BadAmount, match=reason):
        exact_decimal(raw)


def test_exact_decimal_keeps_what_it_reads() -> None:
    assert exact_decimal("1.500") == D("1.5")
    assert exact_decimal(2500) == D("2500")
    assert exact_decimal("-3") == D("-3")  # the sign is the bounds' business
    huge = exact_decimal("9" * 60)
    with pytest.raises(BadAmount, match="larger than any amount"):
        within_bounds(huge)


def test_bounds_name_what_must_hold() -> None:
    with pytest.raises(BadAmount, match="must be greater than zero"):
        within_bounds(ZERO)
    with pytest.raises(BadAmount, match="must not be negative"):
        within_bounds(D("-0.01"), allow_zero=True)
    assert within_bounds(ZERO, allow_zero=True) == ZERO
    with pytest.raises(ValidationError, match=r"^netWorth must not be negative\.$"):
        parse_amount("-1", "netWorth", allow_zero=True)
