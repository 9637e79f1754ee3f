"""Business time: injected into the domain, never read from the OS inside it.

Commands run inside `business_time(now)`; every event they trigger carries that
instant as its timestamp, so a test clock moves the whole platform's history.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Protocol

_business_now: ContextVar[datetime | None] = ContextVar("business_now", default=None)


class Clock(Protocol):
    def now(self) -> datetime: ...


class business_time:  # used as a function: `with business_time(now):`
    """The instant every event triggered inside the block carries.

    A class rather than a generator-based context manager: a third of the cost,
    and a batch of pledges enters one per pledge.
    """

    __slots__ = ("_token", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __enter__(self) -> datetime:
        self._token = _business_now.set(self.now)
        return self.now

    def __exit__(self, *exc: object) -> None:
        _business_now.reset(self._token)


def event_time() -> datetime:
    """The instant of the command being executed."""
    now = _business_now.get()
    if now is None:
        raise RuntimeError("domain events must be triggered inside business_time()")
    return now
