"""Mutation inputs: the Pydantic models that check them, and the GraphQL input types
Strawberry derives from those models (names, types, defaults, descriptions).

Every input is validated here before the domain sees it: lengths (`domain.limits`),
formats, amounts (`domain.money`; the Decimal scalar lets bad text through as
`InvalidScalar` so it can be answered as a `ValidationProblem` naming the field),
and text that would break storage or display (NUL, lone surrogates, control
characters). A model's fields are Python names; their aliases are the API's
camelCase names, which is what a failure names. `model_dump()` gives the keyword
arguments of the command the input is for.
"""

from __future__ import annotations

import datetime as dt
import decimal
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import pydantic
import strawberry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.functional_serializers import PlainSerializer

from api.enums import Regime, SecurityType
from api.scalars import InvalidScalar
from domain import limits
from domain.errors import ValidationError
from domain.money import ZERO, within_bounds

M = TypeVar("M", bound=BaseModel)

# An API-only guard: far longer than any password we accept (`api.security`).
MAX_PASSWORD_INPUT = 1024


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


# ----------------------------------------------------------------- amounts and instants


def _scalar(value: object) -> object:
    """A Decimal or DateTime argument that did not parse: its reason, after the field."""
    if isinstance(value, InvalidScalar):
        raise ValueError(value.reason)
    return value


def _bounded(*, allow_zero: bool) -> Callable[[decimal.Decimal | None], decimal.Decimal]:
    def bounded(amount: decimal.Decimal | None) -> decimal.Decimal:
        # null is zero: the GraphQL default of an optional amount.
        return within_bounds(ZERO if amount is None else amount, allow_zero=allow_zero)

    return bounded


def _instant(value: object) -> object:
    _scalar(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ValueError("needs a timezone offset")
    return value


Money = Annotated[
    decimal.Decimal, BeforeValidator(_scalar), AfterValidator(_bounded(allow_zero=False))
]
MoneyOrZero = Annotated[
    decimal.Decimal, BeforeValidator(_scalar), AfterValidator(_bounded(allow_zero=True))
]
# `Decimal = "0.00"` in GraphQL: null or absent is zero.
OptionalMoneyOrZero = Annotated[
    decimal.Decimal | None, BeforeValidator(_scalar), AfterValidator(_bounded(allow_zero=True))
]
Instant = Annotated[dt.datetime, BeforeValidator(_instant)]
# `Boolean = false` in GraphQL: null or absent is false.
Flag = Annotated[bool | None, AfterValidator(bool)]
# The command takes the rulebook's name; the GraphQL enum is the API's own class.
RegimeName = Annotated[Regime, PlainSerializer(lambda regime: regime.value)]
SecurityTypeName = Annotated[SecurityType, PlainSerializer(lambda kind: kind.value)]


# ---------------------------------------------------------------------------- checking


class Checked(BaseModel):
    """Python field names, the API's camelCase names as aliases (what a failure names)."""

    model_config = ConfigDict(
        strict=False, frozen=True, extra="forbid", arbitrary_types_allowed=True,
        alias_generator=to_camel, populate_by_name=True,
    )


def check(model: type[M], **data: Any) -> M:
    """The validated model, or a ValidationError naming the first bad field (the
    mutation helper answers it as a ValidationProblem)."""
    try:
        return model(**data)
    except pydantic.ValidationError as error:
        raise _refusal(model, error) from None


class ModelInput(Generic[M]):
    """A GraphQL input Strawberry derives from the model M
    (`strawberry.experimental.pydantic.input` gives it `to_pydantic`)."""

    _pydantic_type: ClassVar[type[BaseModel]]

    def to_pydantic(self, **kwargs: Any) -> M:
        raise NotImplementedError  # replaced by Strawberry's

    def checked(self) -> M:
        """The validated model, or a ValidationError naming the first bad field."""
        try:
            return self.to_pydantic()
        except pydantic.ValidationError as error:
            raise _refusal(self._pydantic_type, error) from None


def _refusal(model: type[BaseModel], error: pydantic.ValidationError) -> ValidationError:
    first = error.errors(include_url=False, include_input=False)[0]
    name = str(first["loc"][0]) if first["loc"] else None
    known = model.model_fields.get(name) if name else None
    field = known.alias or name if known is not None else name
    return ValidationError(_sentence(field or "The input", first), field)


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


# ------------------------------------------------- models with a GraphQL input of their own


class SignUp(Checked):
    email: Line = Field(max_length=limits.EMAIL)
    password: str = Field(max_length=MAX_PASSWORD_INPUT)
    display_name: Line = Field(min_length=1, max_length=limits.DISPLAY_NAME)


class Profile(Checked):
    legal_name: Line = Field(min_length=1, max_length=limits.LEGAL_NAME)
    date_of_birth: Line = Field(min_length=1, max_length=32)
    country: Line = Field(min_length=1, max_length=8, description="ISO 3166-1 alpha-2.")
    annual_income: MoneyOrZero
    net_worth: MoneyOrZero
    accredited: Flag = Field(
        default=False, description="US accredited investor (REG_CF limits do not apply)."
    )
    sophisticated: Flag = Field(
        default=False,
        description="EU sophisticated investor (ECSP warnings and tests do not apply).",
    )
    other_reg_cf_investments_12m: OptionalMoneyOrZero = Field(
        default=decimal.Decimal("0"), alias="otherRegCfInvestments12m",
        description="Reg CF investments made on other platforms in the last 12 months, in USD.",
    )
    knowledge_test_passed: Flag = Field(
        default=False,
        description="Ignored: the server records the result of takeKnowledgeTest instead.",
    )
    currency: Line | None = Field(
        default=None, max_length=3,
        description="The currency annualIncome and netWorth are stated in: USD or EUR "
        "(default: USD for country US, EUR otherwise). Nothing is converted: REG_CF limits "
        "use USD figures, ECSP thresholds EUR figures.",
    )


class IssuerArgs(Checked):
    legal_name: Line = Field(min_length=1, max_length=limits.ISSUER_NAME)
    jurisdiction: Line = Field(min_length=1, max_length=8, description="ISO 3166-1 alpha-2.")
    website: Line | None = Field(default=None, max_length=limits.ISSUER_WEBSITE)


class TeamMemberArgs(Checked):
    """Lengths are checked by the domain (domain.offering.TeamMember), which names the
    field `team`: a nested input's own failure could only name `name` or `role`."""

    name: Line
    role: Line
    bio: Text | None = None


class Draft(Checked):
    title: Line = Field(min_length=1, max_length=limits.CAMPAIGN_TITLE)
    summary: Text = Field(max_length=limits.CAMPAIGN_SUMMARY)
    regime: RegimeName
    min_target: Money
    max_target: Money
    min_pledge: Money
    price_per_share: Money
    deadline: Instant
    issuer: IssuerArgs | None = Field(
        default=None,
        description="Absent: an issuer named after the founder's display name, jurisdiction "
        "US (REG_CF) or DE (ECSP).",
    )
    # The disclosure (domain.offering): recorded by an OfferingDescribed after the draft.
    security_type: SecurityTypeName | None = SecurityType.COMMON_EQUITY
    valuation: Money | None = Field(
        default=None,
        description="Pre-money valuation in the campaign's currency, when the founder states "
        "one.",
    )
    story: Text | None = Field(
        default="", max_length=limits.STORY, description="Long-form pitch (Markdown source)."
    )
    use_of_proceeds: Text | None = Field(default="", max_length=limits.USE_OF_PROCEEDS)
    risks: Text | None = Field(default="", max_length=limits.RISKS)
    team: list[TeamMemberArgs] | None = Field(default_factory=list, max_length=limits.TEAM)


class Amend(Checked):
    title: Line | None = Field(default=None, min_length=1, max_length=limits.CAMPAIGN_TITLE)
    summary: Text | None = Field(default=None, max_length=limits.CAMPAIGN_SUMMARY)
    min_target: Money | None = None
    max_target: Money | None = None
    min_pledge: Money | None = None
    price_per_share: Money | None = None
    deadline: Instant | None = None
    security_type: SecurityTypeName | None = None
    valuation: Money | None = None
    story: Text | None = Field(default=None, max_length=limits.STORY)
    use_of_proceeds: Text | None = Field(default=None, max_length=limits.USE_OF_PROCEEDS)
    risks: Text | None = Field(default=None, max_length=limits.RISKS)
    team: list[TeamMemberArgs] | None = Field(default=None, max_length=limits.TEAM)


class PledgeArgs(Checked):
    campaign_id: Line = Field(min_length=1, max_length=64)
    amount: Money
    idempotency_key: Line = Field(
        min_length=1, max_length=limits.IDEMPOTENCY_KEY,
        description="The same key from the same backer returns the first pledge instead of "
        "placing another.",
    )
    acknowledge_risk: Flag = Field(
        default=False,
        description="The backer's representation for this commitment: REG_CF, that they may "
        "lose the whole amount and can bear it (required on every pledge, 17 CFR "
        "227.303(b)(2)); ECSP, the risk warning (required above the threshold or without a "
        "passed knowledge test, Art. 21).",
    )


class Update(Checked):
    title: Line = Field(min_length=1, max_length=limits.UPDATE_TITLE)
    body: Text = Field(min_length=1, max_length=limits.UPDATE_BODY)
    material: Flag = Field(
        default=False,
        description="The founder says the update is a material change: every open pledge "
        "must then be reconfirmed.",
    )


class KnowledgeAnswer(Checked):
    question_id: Line = Field(min_length=1, max_length=64)
    choice: int = Field(description="Index into the question's choices.")


class Answers(Checked):
    """A whole answer sheet: `take_knowledge_test`'s keyword arguments."""

    regime: RegimeName
    answers: list[KnowledgeAnswer] = Field(max_length=50)

    def sheet(self) -> list[tuple[str, int]]:
        return [(a.question_id, a.choice) for a in self.answers]


class Checklist(Checked):
    """A risk officer's due-diligence answers on a campaign review (domain.review)."""

    founders_identified: bool = Field(
        description="The identity of the founders (the issuer's officers) was checked.")
    offering_statement_consistent: bool = Field(
        description="The offering statement (Form C or KIIS) is on file and consistent with "
        "the campaign's terms.")
    issuer_limit_checked: bool = Field(
        description="The issuer's 12-month offering limit leaves room for the maximum target "
        "(Campaign.issuerRoom).")
    bad_actor_declaration: bool = Field(
        description="The issuer declared that no bad-actor disqualification applies (17 CFR "
        "227.503; ECSP Art. 5).")


# ---------------------------------------------------------- models of plain arguments


class Reason(Checked):
    reason: Text = Field(min_length=1, max_length=limits.REASON)


def checked_reason(reason: str) -> str:
    return check(Reason, reason=reason).reason


class NewDeadline(Checked):
    new_deadline: Instant


class Total(Checked):
    total: Money


class ClockArgs(Checked):
    now: Instant


class EmailArg(Checked):
    email: Line = Field(min_length=1, max_length=limits.EMAIL)


# ---------------------------------------------------------------------- GraphQL inputs


@strawberry.experimental.pydantic.input(model=SignUp, name="SignUpInput", all_fields=True)
class SignUpInput(ModelInput[SignUp]):
    pass


@strawberry.experimental.pydantic.input(
    model=Profile, name="InvestorProfileInput", all_fields=True
)
class InvestorProfileInput(ModelInput[Profile]):
    pass


@strawberry.experimental.pydantic.input(model=IssuerArgs, name="IssuerInput", all_fields=True)
class IssuerInput(ModelInput[IssuerArgs]):
    pass


@strawberry.experimental.pydantic.input(
    model=KnowledgeAnswer, name="KnowledgeAnswerInput", all_fields=True
)
class KnowledgeAnswerInput(ModelInput[KnowledgeAnswer]):
    question_id: strawberry.ID  # checked as text, typed ID in the contract


@strawberry.experimental.pydantic.input(
    model=TeamMemberArgs, name="TeamMemberInput", all_fields=True
)
class TeamMemberInput(ModelInput[TeamMemberArgs]):
    pass


@strawberry.experimental.pydantic.input(model=Draft, name="DraftCampaignInput", all_fields=True)
class DraftCampaignInput(ModelInput[Draft]):
    pass


@strawberry.experimental.pydantic.input(model=Amend, name="AmendCampaignInput", all_fields=True)
class AmendCampaignInput(ModelInput[Amend]):
    pass


@strawberry.experimental.pydantic.input(model=PledgeArgs, name="PledgeInput", all_fields=True)
class PledgeInput(ModelInput[PledgeArgs]):
    campaign_id: strawberry.ID  # checked as text, typed ID in the contract


@strawberry.experimental.pydantic.input(model=Update, name="UpdateInput", all_fields=True)
class UpdateInput(ModelInput[Update]):
    pass


@strawberry.experimental.pydantic.input(
    model=Checklist, name="ReviewChecklistInput", all_fields=True,
    description="The due-diligence checklist of a campaign review: every item must be true "
    "to approve; a rejection records whatever was answered.",
)
class ReviewChecklistInput(ModelInput[Checklist]):
    pass
