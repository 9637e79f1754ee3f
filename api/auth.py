"""Authorization: who may read what (queries raise), who may do what (mutations answer).

Forbidden queries are GraphQL errors with `extensions.code` UNAUTHENTICATED or
FORBIDDEN; forbidden mutations are the `NotAllowed` union member (a mutation's
command raises `NotAllowedError`, see `api.resolvers.common`).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.types import Info

from api.context import Context, Viewer
from api.problems import AUDITORS_READ_ONLY, SIGN_IN_FIRST, NotAllowed, not_allowed
from application.data_access import DataAccessUnavailable
from domain.errors import NotAllowedError
from domain.user import CAMPAIGN_INSIDERS, Role

TOTP_FIRST = ("Set up two-factor authentication (an authenticator app) before you {doing} "
              "as {roles}.")


def context(info: Info[Any, Any]) -> Context:
    ctx = info.context
    assert isinstance(ctx, Context)
    return ctx


def unauthenticated(message: str | None = None) -> GraphQLError:
    return GraphQLError(message or SIGN_IN_FIRST, extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def not_found_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "NOT_FOUND"})


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


async def shown(info: Info[Any, Any], subject_id: str, field: str | None = None) -> None:
    """Record that the resolver is about to show `subject_id`'s personal data to the viewer
    (`application.data_access`) through `field` (e.g. "User.email") of the query; when it
    cannot be recorded the data is not shown."""
    try:
        await context(info).shown(subject_id, purpose(info, field))
    except DataAccessUnavailable:
        raise GraphQLError(
            "Personal data cannot be shown right now: its access could not be recorded. "
            "Try again in a moment.", extensions={"code": "UNAVAILABLE"},
        ) from None


def purpose(info: Info[Any, Any], field: str | None) -> str:
    """The query that showed the data: its root field, and the field within it."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    return str(path.key) if field is None else f"{path.key} → {field}"


def viewer(info: Info[Any, Any]) -> Viewer | None:
    return context(info).viewer


def require_viewer(info: Info[Any, Any]) -> Viewer:
    """The signed-in caller, or an UNAUTHENTICATED error (queries)."""
    ctx = context(info)
    if ctx.viewer is None:
        if ctx.token_state == "invalid":
            raise unauthenticated("Your token is invalid or has expired; sign in again.")
        raise unauthenticated()
    return ctx.viewer


def require_role(info: Info[Any, Any], *roles: Role, doing: str) -> Viewer:
    """A caller holding one of `roles`, or UNAUTHENTICATED / FORBIDDEN (queries)."""
    who = require_viewer(info)
    if not who.has(*roles):
        names = " or ".join(r.value for r in roles)
        if who.awaits_totp(*roles):
            raise forbidden(TOTP_FIRST.format(doing=doing, roles=names))
        raise forbidden(f"Only a user with the {names} role can {doing}.")
    return who


def require_insider(info: Info[Any, Any], founder_id: str, doing: str) -> Viewer:
    """The campaign's founder, a risk officer or an auditor (queries)."""
    who = require_viewer(info)
    if who.id != founder_id and not who.has(*CAMPAIGN_INSIDERS):
        if who.awaits_totp(*CAMPAIGN_INSIDERS):
            raise forbidden(TOTP_FIRST.format(doing=doing, roles="staff"))
        raise forbidden(
            f"Only the campaign's founder, risk officers and auditors can {doing}."
        )
    return who


def is_insider(who: Viewer | None, founder_id: str) -> bool:
    return who is not None and (who.id == founder_id or who.has(*CAMPAIGN_INSIDERS))


def check_role(who: Viewer, role: Role, doing: str) -> None:
    """In a mutation's command: refused (NotAllowed) unless `who` holds `role`."""
    if who.awaits_totp(role):
        raise NotAllowedError(TOTP_FIRST.format(doing=doing, roles=role.value),
                              "TOTP_ENROLLMENT_REQUIRED")
    if not who.has(role):
        raise NotAllowedError(f"Only a user with the {role.value} role can {doing}.")


def actor(info: Info[Any, Any]) -> Viewer | NotAllowed:
    """The caller of a mutation that writes, or the NotAllowed answer.

    Auditors are independent of what they audit: every write is refused to a
    user who holds the AUDITOR role, whatever other roles they hold.
    """
    ctx = context(info)
    if ctx.viewer is None:
        if ctx.token_state == "invalid":
            return not_allowed("Your token is invalid or has expired; sign in again.",
                               "UNAUTHENTICATED")
        return not_allowed(SIGN_IN_FIRST, "UNAUTHENTICATED")
    if ctx.viewer.holds(Role.AUDITOR):
        return not_allowed(AUDITORS_READ_ONLY, "READ_ONLY_ROLE")
    return ctx.viewer
