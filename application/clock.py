"""The platform's clocks: the real one, and one that moves only when told to
(tests and `crowdfund dev --test-clock`). The domain sees neither: commands pass
it the instant (`domain.clock.business_time`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


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
        with self._lock:
            self._now = self._now + timedelta(**delta)
            return self._now
