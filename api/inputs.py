"""Mutation inputs: the GraphQL input types and the Pydantic models that check them.

Every input is validated here before the domain sees it: lengths, formats,
amounts (the Decimal scalar lets bad text through as `InvalidScalar` so it can
be answered as a `ValidationProblem` naming the field), and text that would
break storage or display (NUL, lone surrogates, control characters).
"""

from __future__ import annotations

import datetime as dt
import decimal
import unicodedata
from typing import Annotated, Any, TypeVar

import pydantic
import strawberry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from api.enums import Regime
from api.problems import ValidationProblem, invalid
from api.scalars import InvalidScalar
from domain.money import ABSURD

M = TypeVar("M", bound=BaseModel)


# ------------------------------------------------------------------------ text checks


def _check_text(value: str, *, multiline: bool) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not allowed") from None
    for ch in value:
        if ch in "\n\r\t" and multiline:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):  # NUL, escapes, surrogates
            raise ValueError("contains control characters")
    return value


def single_line(value: str) -> str:
    return _check_text(value, multiline=False).strip()


def multi_line(value: str) -> str:
    return _check_text(value, multiline=True).strip()


Line = Annotated[str, AfterValidator(single_line)]
Text = Annotated[str, AfterValidator(multi_line)]


def _money(value: object) -> object:
    if isinstance(value, InvalidScalar):
        raise ValueError(value.reason)
    return value


def _non_negative(value: decimal.Decimal) -> decimal.Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    if value >= ABSURD:
        raise ValueError("is larger than any amount this platform handles")
    return value


def _positive(value: decimal.Decimal) -> decimal.Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return _non_negative(value)


def _instant(value: object) -> object:
    if isinstance(value, InvalidScalar):
        raise ValueError(value.reason)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ValueError("needs a timezone offset")
    return value


Money = Annotated[decimal.Decimal, BeforeValidator(_money), AfterValidator(_positive)]
MoneyOrZero = Annotated[decimal.Decimal, BeforeValidator(_money), AfterValidator(_non_negative)]
Instant = Annotated[dt.datetime, BeforeValidator(_instant)]


class Checked(BaseModel):
    """Field names are the API's camelCase names, so a failure names the field."""

    model_config = ConfigDict(
        strict=False, frozen=True, extra="forbid", arbitrary_types_allowed=True
    )


def check(model: type[M], **data: Any) -> M | ValidationProblem:
    """The validated model, or a ValidationProblem for the first bad field."""
    try:
        return model(**data)
    except pydantic.ValidationError as e:
        first = e.errors(include_url=False, include_input=False)[0]
        field = str(first["loc"][0]) if first["loc"] else None
        return invalid(_sentence(field or "The input", first), field)


def _sentence(field: str, error: Any) -> str:
    """Pydantic's complaint as a sentence that names the field."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return f"{field} must not be empty." if least == 1 else \
            f"{field} must be at least {least} characters long."
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters long."
    if kind == "value_error":  # our validators say what must hold: "must be …"
        return f"{field} {str(ctx.get('error', error['msg'])).rstrip('.')}."
    return f"{field}: {str(error['msg']).rstrip('.').lower()}."


# ---------------------------------------------------------------------------- models


class SignUp(Checked):
    email: Line = Field(max_length=254)
    password: str = Field(max_length=1024)
    displayName: Line = Field(min_length=1, max_length=100)


class Profile(Checked):
    legalName: Line = Field(min_length=1, max_length=200)
    dateOfBirth: Line = Field(min_length=1, max_length=32)
    country: Line = Field(min_length=1, max_length=8)
    annualIncome: MoneyOrZero
    netWorth: MoneyOrZero
    accredited: bool = False
    sophisticated: bool = False
    otherRegCfInvestments12m: MoneyOrZero = decimal.Decimal("0")
    knowledgeTestPassed: bool = False


class Draft(Checked):
    title: Line = Field(min_length=1, max_length=200)
    summary: Text = Field(max_length=5000)
    regime: str
    minTarget: Money
    maxTarget: Money
    minPledge: Money
    pricePerShare: Money
    deadline: Instant


class Amend(Checked):
    title: Line | None = Field(default=None, min_length=1, max_length=200)
    summary: Text | None = Field(default=None, max_length=5000)
    minTarget: Money | None = None
    maxTarget: Money | None = None
    minPledge: Money | None = None
    pricePerShare: Money | None = None
    deadline: Instant | None = None


class PledgeArgs(Checked):
    campaignId: Line = Field(min_length=1, max_length=64)
    amount: Money
    idempotencyKey: Line = Field(min_length=1, max_length=128)
    acknowledgeRisk: bool = False


class Update(Checked):
    title: Line = Field(min_length=1, max_length=200)
    body: Text = Field(min_length=1, max_length=20000)


class Reason(Checked):
    reason: Text = Field(min_length=1, max_length=2000)


class NewDeadline(Checked):
    newDeadline: Instant


class Total(Checked):
    total: Money


class ClockArgs(Checked):
    now: Instant


class EmailArg(Checked):
    email: Line = Field(min_length=1, max_length=254)


# ---------------------------------------------------------------------- GraphQL inputs


@strawberry.input
class SignUpInput:
    email: str
    password: str
    display_name: str


@strawberry.input
class InvestorProfileInput:
    legal_name: str
    date_of_birth: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    annual_income: decimal.Decimal
    net_worth: decimal.Decimal
    accredited: bool | None = strawberry.field(
        default=False, description="US accredited investor (REG_CF limits do not apply)."
    )
    sophisticated: bool | None = strawberry.field(
        default=False,
        description="EU sophisticated investor (ECSP warnings and tests do not apply).",
    )
    other_reg_cf_investments12m: decimal.Decimal | None = strawberry.field(
        default=decimal.Decimal("0"), name="otherRegCfInvestments12m",
        description="Reg CF investments made on other platforms in the last 12 months, in USD.",
    )
    knowledge_test_passed: bool | None = False


@strawberry.input
class DraftCampaignInput:
    title: str
    summary: str
    regime: Regime
    min_target: decimal.Decimal
    max_target: decimal.Decimal
    min_pledge: decimal.Decimal
    price_per_share: decimal.Decimal
    deadline: dt.datetime


@strawberry.input
class AmendCampaignInput:
    title: str | None = None
    summary: str | None = None
    min_target: decimal.Decimal | None = None
    max_target: decimal.Decimal | None = None
    min_pledge: decimal.Decimal | None = None
    price_per_share: decimal.Decimal | None = None
    deadline: dt.datetime | None = None


@strawberry.input
class PledgeInput:
    campaign_id: strawberry.ID
    amount: decimal.Decimal
    idempotency_key: str = strawberry.field(
        description="The same key from the same backer returns the first pledge instead of "
        "placing another."
    )
    acknowledge_risk: bool | None = strawberry.field(
        default=False, description="ECSP: the backer accepts the risk warning for a large pledge."
    )


@strawberry.input
class UpdateInput:
    title: str
    body: str
