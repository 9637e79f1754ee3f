"""Sessions and sign-in protection shared by every API replica: the ports their
store implements (`projections.session_store`, in the read-model database), and the
per-process view of revocations that every authenticated request consults.

Revocation is checked on every request and is exact: a request that starts
after a sign-out committed is refused on every replica. It stays cheap because
the log of revocations is append-only with a monotonic id: a replica keeps
what it has read in memory and asks only for rows past its watermark (an
index range scan that almost always returns nothing), and requests that
arrive while such a read is in flight share the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from application.mail import Recipient
from application.unit_of_work import UnitOfWork
from domain.input import parse_id
from domain.user import User

# A reset link works once, for this long (OWASP Forgot Password cheat sheet).
RESET_TOKEN_LIFETIME = timedelta(minutes=30)
# At most this many live reset links per account: the same answer, no more mail.
MAX_LIVE_RESET_TOKENS = 3


class RevocationsUnavailable(Exception):
    """The revocation log cannot be read: a token cannot be trusted now (fail closed;
    the API answers 503 and the client retries)."""


@dataclass(frozen=True)
class Revocation:
    """One token (`token_id`), or every token of a user issued before `issued_before`."""

    id: int
    user_id: str
    token_id: str | None
    issued_before: float | None
    expires_at: float  # Unix seconds; after it the row no longer matters


class RevocationLog(Protocol):
    def revoke_token(self, user_id: str, token_id: str, expires_at: float) -> None: ...

    def revoke_sessions(self, user_id: str, issued_before: float, expires_at: float) -> None: ...

    def since(self, watermark: int) -> Sequence[Revocation]:
        """Rows with an id above `watermark`, in id order (ids are assigned in commit
        order: a row never appears below a watermark already read)."""
        ...


class SignInAttempts(Protocol):
    """Failed sign-ins per key, on the wall clock, shared by every replica."""

    def blocked_until(self, keys: Sequence[str]) -> float | None:
        """The latest end of a block on any of `keys` (maybe past), or None."""
        ...

    def add_failure(self, key: str, now: float) -> int:
        """One more failure (a quiet window starts the count again); the count now."""
        ...

    def block(self, key: str, until: float) -> None: ...

    def forget(self, key: str) -> None: ...

    def sweep(self, now: float) -> None: ...


class ResetTokens(Protocol):
    """Password-reset tokens, stored as hashes only."""

    def issue(self, token_hash: str, user_id: str, expires_at: float) -> None: ...

    def live(self, user_id: str, now: float) -> int:
        """How many unused, unexpired tokens the user has."""
        ...

    def holder(self, token_hash: str, now: float) -> str | None:
        """The user a live, unused token belongs to (nothing is spent)."""
        ...

    def redeem(self, token_hash: str, now: float) -> str | None:
        """Spend a live, unused token (and every other of its user); its user or None."""
        ...


class ResetMail(Protocol):
    """Sends the password-reset link (the raw token goes into the mail only). Called
    on the event loop; returns at once (the sending runs in the background)."""

    def send_reset(self, recipient: Recipient, token: str) -> None: ...


class RevocationCache:
    """What this process knows of the revocation log, brought up to date per request."""

    def __init__(self, log: RevocationLog, clock: Callable[[], float] = time.time) -> None:
        self._log = log
        self._clock = clock
        self._lock = threading.Lock()
        self._watermark = 0
        self._refreshed = 0  # how many reads of the log have finished
        self._tokens: dict[str, float] = {}  # token id -> when it expires anyway
        self._users: dict[str, tuple[float, float]] = {}  # user -> (issued before, expires)
        self.reads = 0  # queries made (tests and /metrics)

    def is_revoked(self, user_id: str, token_id: str, issued_at: float) -> bool:
        self.refresh()
        if token_id in self._tokens:
            return True
        cutoff = self._users.get(user_id)
        return cutoff is not None and issued_at < cutoff[0]

    def refresh(self) -> None:
        """Read what was committed before this call began; a read that another thread
        starts after this call began serves it too."""
        wanted = self._refreshed + 1
        with self._lock:
            if self._refreshed > wanted:  # a read that began after us has finished
                return
            rows = self._log.since(self._watermark)
            self.reads += 1
            self._apply(rows)
            self._refreshed += 1

    def _apply(self, rows: Iterable[Revocation]) -> None:
        for row in rows:
            self._watermark = max(self._watermark, row.id)
            if row.token_id is not None:
                self._tokens[row.token_id] = row.expires_at
            elif row.issued_before is not None:
                before, _ = self._users.get(row.user_id, (0.0, 0.0))
                self._users[row.user_id] = (max(before, row.issued_before), row.expires_at)
        if len(self._tokens) + len(self._users) > 10_000:
            self._forget_expired()

    def _forget_expired(self) -> None:
        now = self._clock()
        self._tokens = {k: v for k, v in self._tokens.items() if v > now}
        self._users = {k: v for k, v in self._users.items() if v[1] > now}


class CurrentUsers:
    """The user record each request is authenticated against (its roles), as the store
    has it when the request began.

    The aggregate cache trusts itself (`AGGREGATE_CACHE_FASTFORWARD=n`): a role granted
    or revoked, or TOTP enabled, by another process (another API replica, a command
    line) would never reach it. So, as for revocations, each request asks the store for
    its user's latest version, and requests that arrive while such a read is in flight
    share the next one (one query for all their users). A cached copy older than that
    version is dropped and the user read again from the store.
    """

    def __init__(self, app: UnitOfWork) -> None:
        self._app = app
        self._mutex = threading.Lock()  # guards the fields below
        self._reading = threading.Lock()  # one read of the store at a time
        self._waiting: set[UUID] = set()
        self._started = 0  # reads that have taken their waiting users
        self._finished = 0
        self._latest: dict[UUID, int] = {}
        self.reads = 0  # queries made (tests)

    def user(self, user_id: UUID | str) -> User:
        uid = parse_id(user_id, "user")
        latest = self._latest_version(uid)
        user = self._app.user(uid)
        while user.version < latest:  # cached before the change, or put back meanwhile
            self._app.evict([uid])
            user = self._app.user(uid)
        return user

    def _latest_version(self, uid: UUID) -> int:
        while True:
            with self._mutex:
                self._waiting.add(uid)
                mine = self._started + 1  # the next read to start takes `uid` with it
            with self._reading:
                if self._finished < mine:
                    self._read()
            with self._mutex:
                latest = self._latest.get(uid)
            if latest is not None:
                return latest
            # Forgotten by a later read that made room: ask again.

    def _read(self) -> None:
        with self._mutex:
            ids, self._waiting = list(self._waiting), set()
            self._started += 1
        try:
            found = self._app.streams.latest_versions(ids)
        except BaseException:
            with self._mutex:  # as if this read had not started
                self._waiting.update(ids)
                self._started -= 1
            raise
        self.reads += 1
        with self._mutex:
            if len(self._latest) > 100_000:
                self._latest.clear()
            for read_id in ids:
                self._latest[read_id] = found.get(read_id, 0)
            self._finished += 1
