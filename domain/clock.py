"""Business time: injected into the domain, never read from the OS inside it.

Commands run inside `business_time(now)`; every event they trigger carries that
instant as its timestamp, so a test clock moves the whole platform's history.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Protocol

_business_now: ContextVar[datetime | None] = ContextVar("business_now", default=None)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> datetime:
        return datetime.now(tz=UTC)


class SettableClock:
    """A clock that only moves when told to (tests, `dev --test-clock`)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(tz=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware instant")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        with self._lock:
            self._now = self._now + timedelta(**delta)
            return self._now


@contextmanager
def business_time(now: datetime) -> Iterator[datetime]:
    token = _business_now.set(now)
    try:
        yield now
    finally:
        _business_now.reset(token)


def event_time() -> datetime:
    """The instant of the command being executed."""
    now = _business_now.get()
    if now is None:
        raise RuntimeError("domain events must be triggered inside business_time()")
    return now
