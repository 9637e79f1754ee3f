"""Domain errors: a small hierarchy, one class per kind of business failure.

Each carries a stable machine code and a sentence a person can act on; the API
maps each class to the GraphQL `Problem` union member of the same name.
"""

from __future__ import annotations

from decimal import Decimal


class DomainError(Exception):
    code = "DOMAIN_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DomainError):
    code = "INVALID_INPUT"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code)
        self.field = field


class NotAllowedError(DomainError):
    code = "NOT_ALLOWED"


class NotFoundError(DomainError):
    code = "NOT_FOUND"


class InvalidStateError(DomainError):
    code = "INVALID_STATE"


class ConcurrencyConflict(InvalidStateError):
    """Too many concurrent writers kept winning the race; the caller may retry."""

    code = "CONCURRENT_UPDATE"


class InvestmentLimitExceeded(DomainError):
    code = "INVESTMENT_LIMIT_EXCEEDED"

    def __init__(self, limit: Decimal, remaining: Decimal, currency: str = "USD") -> None:
        super().__init__(
            f"This pledge would exceed your Reg CF investment limit of {currency} {limit} "
            f"for the last 12 months; you can still invest up to {currency} {remaining}."
        )
        self.limit = limit
        self.remaining = remaining


class MaxTargetExceeded(DomainError):
    code = "MAX_TARGET_EXCEEDED"

    def __init__(self, remaining: Decimal, currency: str) -> None:
        if remaining > 0:
            text = f"Only {currency} {remaining} of this offering is still available; pledge less."
        else:
            text = "This offering has reached its maximum target; no more pledges can be taken."
        super().__init__(text)
        self.remaining = remaining


class RiskAcknowledgementRequired(DomainError):
    code = "RISK_ACKNOWLEDGEMENT_REQUIRED"

    def __init__(self, threshold: Decimal, currency: str = "EUR") -> None:
        which = "Every pledge needs" if threshold == 0 else (
            f"Your pledges to this offering above {currency} {threshold} need"
        )
        super().__init__(
            f"{which} you to acknowledge the risk warning: you may lose all of the money you "
            "invest, and you must be able to bear that loss."
        )
        self.threshold = threshold
