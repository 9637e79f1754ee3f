"""The `Problem` interface, its union members, and the mapping from domain errors.

Expected business failures are data (union members), never GraphQL errors. A
domain error whose own member is not part of a mutation's union is answered
with the closest member that is (see `problem_for`).
"""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain import errors


@strawberry.interface
class Problem:
    code: str = strawberry.field(
        description="Stable machine-readable code, e.g. INVESTMENT_LIMIT_EXCEEDED."
    )
    message: str = strawberry.field(description="A sentence a person can act on.")


@strawberry.type
class ValidationProblem(Problem):
    field: str | None = None


@strawberry.type
class NotAllowed(Problem):
    pass


@strawberry.type
class NotFound(Problem):
    pass


@strawberry.type
class InvalidState(Problem):
    pass


@strawberry.type
class InvestmentLimitExceeded(Problem):
    limit: Decimal
    remaining: Decimal


@strawberry.type
class MaxTargetExceeded(Problem):
    remaining: Decimal


@strawberry.type
class RiskAcknowledgementRequired(Problem):
    threshold: Decimal


AnyProblem = (
    ValidationProblem | NotAllowed | NotFound | InvalidState | InvestmentLimitExceeded
    | MaxTargetExceeded | RiskAcknowledgementRequired
)


def invalid(message: str, field: str | None, code: str = "INVALID_INPUT") -> ValidationProblem:
    return ValidationProblem(code=code, message=message, field=field)


def not_allowed(message: str, code: str = "NOT_ALLOWED") -> NotAllowed:
    return NotAllowed(code=code, message=message)


SIGN_IN_FIRST = "Sign in first: send your token as 'Authorization: Bearer <token>'."
AUDITORS_READ_ONLY = "Auditors have read-only access; they cannot change anything."


def problem_for(error: errors.DomainError) -> AnyProblem:
    """The union member of the same name as the domain error's class."""
    code, message = error.code, error.message
    if isinstance(error, errors.ValidationError):
        return ValidationProblem(code=code, message=message, field=error.field)
    if isinstance(error, errors.NotAllowedError):
        return NotAllowed(code=code, message=message)
    if isinstance(error, errors.NotFoundError):
        return NotFound(code=code, message=message)
    if isinstance(error, errors.InvestmentLimitExceeded):
        return InvestmentLimitExceeded(
            code=code, message=message, limit=error.limit, remaining=error.remaining
        )
    if isinstance(error, errors.MaxTargetExceeded):
        return MaxTargetExceeded(code=code, message=message, remaining=error.remaining)
    if isinstance(error, errors.RiskAcknowledgementRequired):
        return RiskAcknowledgementRequired(code=code, message=message, threshold=error.threshold)
    # InvalidStateError, ConcurrencyConflict and any future DomainError.
    return InvalidState(code=code, message=message)


def fit(problem: AnyProblem, allowed: tuple[type, ...]) -> AnyProblem:
    """`problem` if the union allows it, else the closest member it does allow.

    E.g. a limit breach can only come from `pledge`; if a future domain change
    raised one elsewhere, the client still gets a member of the declared union.
    """
    if isinstance(problem, allowed):
        return problem
    for fallback in (InvalidState, ValidationProblem, NotAllowed):
        if fallback in allowed:
            if fallback is ValidationProblem:
                return ValidationProblem(code=problem.code, message=problem.message, field=None)
            return fallback(code=problem.code, message=problem.message)
    raise TypeError(f"no union member can carry {type(problem).__name__}")
