"""What every mutation resolver does: run a domain command off the event loop and
turn a domain error into the union member the contract promises."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.types import Info

from api import auth
from api.problems import fit, problem_for
from domain.errors import DomainError

T = TypeVar("T")
# A member of the caller's result union: `fit` checks it against `allowed` at run time.
Problem = Any


async def attempt(allowed: tuple[type, ...], work: Awaitable[T]) -> T | Problem:
    """The command's result; a DomainError becomes the Problem it stands for."""
    try:
        return await work
    except DomainError as error:
        return fit(problem_for(error), allowed)


async def run_command(
    info: Info[Any, Any], allowed: tuple[type, ...], fn: Callable[..., T], *args: Any,
    **kwargs: Any,
) -> T | Problem:
    """`fn(*args, **kwargs)` in the thread pool; a DomainError becomes a Problem."""
    return await attempt(allowed, auth.context(info).services.run(fn, *args, **kwargs))


async def timed_command(
    info: Info[Any, Any], allowed: tuple[type, ...], work: Awaitable[T]
) -> T | Problem:
    """`attempt`, observed by the pledge latency histogram."""
    started = time.perf_counter()
    try:
        return await attempt(allowed, work)
    finally:
        metrics = auth.context(info).metrics
        if metrics is not None:
            metrics.pledge_latency.observe(time.perf_counter() - started)


async def read(info: Info[Any, Any], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A read in the thread pool; a DomainError (e.g. a malformed id) is a GraphQL error."""
    try:
        return await auth.context(info).services.run(fn, *args, **kwargs)
    except DomainError as error:
        raise GraphQLError(error.message, extensions={"code": error.code}) from None
