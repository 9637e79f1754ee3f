"""What every mutation resolver does, written once: find the caller, run the command
off the event loop, answer a domain error with the union member the contract
promises, build the payload. Reads have `read`.

A mutation is a command and an `Outcome`: its result union (whose `Problem` members
`problems.fit` may answer with) and how what the command returned becomes the payload::

    async def _campaign_saved(info: Info, written: Written[UUID]) -> CampaignSaved: ...

    CAMPAIGN_SAVED = Outcome(CampaignResult, _campaign_saved)

    async def reject_campaign(info: Info, id: strawberry.ID, reason: str) -> CampaignResult:
        return await mutate(info, CAMPAIGN_SAVED, lambda app, who: app.offerings.reject(
            who.id, str(id), checked_reason(reason)))

The command gets the application and the caller (`auth.actor`: signed in, not an
auditor; anyone else is answered `NotAllowed` before the command runs) and checks
its own input and role: `input.checked()`, `api.inputs.check(Model, ...)` and
`auth.check_role(who, role, doing)` raise domain errors. So every refusal takes one
road: a `DomainError` becomes the `Problem` of the same name (`problems.problem_for`),
fitted to the union (`problems.fit`), and nothing is written. A plain function runs
in the thread pool; an `async def` command runs on the event loop (a pledge through
the pledge desk). `answer` is the same without a caller, for mutations whoever calls
(signUp), or that check the caller themselves (e.g. one auditors may call too).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from graphql import GraphQLError
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.problems import Problem, fit, problem_for
from application.crowdfund import Crowdfund
from domain.errors import DomainError

T = TypeVar("T")
R = TypeVar("R")
Command = Callable[[Crowdfund, Viewer], T] | Callable[[Crowdfund, Viewer], Awaitable[T]]


def problem_members(union: object) -> tuple[type, ...]:
    """The `Problem` members of a result union (`Annotated[A | B, strawberry.union(…)]`)."""
    members = typing.get_args(typing.get_args(union)[0])
    return tuple(m for m in members if isinstance(m, type) and issubclass(m, Problem))


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """A mutation's result union and how what its command returned becomes the payload."""

    union: object
    payload: Callable[[Info[Any, Any], T], Awaitable[R]]
    problems: tuple[type, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "problems", problem_members(self.union))


async def mutate(info: Info[Any, Any], outcome: Outcome[T, R], command: Command[T]) -> Any:
    """`command(app, caller)` answered as `outcome`'s union (see the module docstring)."""
    who = auth.actor(info)
    if not isinstance(who, Viewer):
        return fit(who, outcome.problems)
    return await answer(info, outcome, partial(command, auth.context(info).services.app, who))


async def answer(
    info: Info[Any, Any], outcome: Outcome[T, R],
    command: Callable[[], T] | Callable[[], Awaitable[T]],
) -> Any:
    """`command()` answered as `outcome`'s union, whoever calls (see `mutate`)."""
    services = auth.context(info).services
    try:
        if inspect.iscoroutinefunction(command):
            done = await typing.cast(Callable[[], Awaitable[T]], command)()
        else:
            done = await services.run(typing.cast(Callable[[], T], command))
    except DomainError as error:
        return fit(problem_for(error), outcome.problems)
    return await outcome.payload(info, done)


async def read(info: Info[Any, Any], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A read in the thread pool; a DomainError (e.g. a malformed id) is a GraphQL error."""
    try:
        return await auth.context(info).services.run(fn, *args, **kwargs)
    except DomainError as error:
        raise GraphQLError(error.message, extensions={"code": error.code}) from None
