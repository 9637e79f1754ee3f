"""Sessions and sign-in protection in SQL, shared by every API replica and kept
across restarts (`application.sessions`: `RevocationLog`, `SignInAttempts`,
`ResetTokens`). The tables live in the read-model database (`projections.tables`,
created by its migrations) but are no read model: `projections rebuild` never drops
them.

Times are Unix seconds (floats) on the wall clock: tokens, back-off and reset
tokens all follow real time, never the business clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from application.sessions import Revocation, RevocationsUnavailable
from projections.tables import password_reset_tokens as reset_tokens
from projections.tables import session_revocations as revocations
from projections.tables import sign_in_failures


class SqlRevocationLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._connection: psycopg.Connection[Any] | None = None

    def revoke_token(self, user_id: str, token_id: str, expires_at: float) -> None:
        self._append(user_id=user_id, token_id=token_id, issued_before=None,
                     expires_at=expires_at)

    def revoke_sessions(self, user_id: str, issued_before: float, expires_at: float) -> None:
        self._append(user_id=user_id, token_id=None, issued_before=issued_before,
                     expires_at=expires_at)

    def _append(self, **row: object) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Serialises writers only (readers are not blocked): an id is never
                # committed after a higher one, which a reader's watermark relies on.
                conn.execute(sa.text("LOCK TABLE session_revocations IN EXCLUSIVE MODE"))
            conn.execute(sa.insert(revocations).values(**row))
            # Rows past the lifetime of the tokens they name matter to no one any more.
            conn.execute(sa.delete(revocations).where(revocations.c.expires_at < time.time()))

    def since(self, watermark: int) -> Sequence[Revocation]:
        """Asked once per request (see `application.sessions.RevocationCache`, which
        calls it under its lock): on PostgreSQL over one connection of its own, kept
        in autocommit, with a prepared statement: about 0.1 ms, where a pooled
        SQLAlchemy connection costs ten times that (checkout, ping, reset)."""
        if self.engine.dialect.name != "postgresql":
            try:
                return self._since_pooled(watermark)
            except sa.exc.DBAPIError as exc:
                raise RevocationsUnavailable(type(exc).__name__) from None
        for attempt in (1, 2):
            try:
                rows = self._reader().execute(_SINCE, (watermark,), prepare=True).fetchall()
                break
            except (psycopg.Error, sa.exc.DBAPIError) as exc:
                self._drop_reader()
                if attempt == 2:
                    raise RevocationsUnavailable(type(exc).__name__) from None
        return [Revocation(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def _reader(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            raw = self.engine.raw_connection()
            connection = raw.driver_connection
            raw.detach()  # ours for good, not the pool's
            assert isinstance(connection, psycopg.Connection)
            connection.autocommit = True
            self._connection = connection
        return self._connection

    def _drop_reader(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
        self._connection = None

    def _since_pooled(self, watermark: int) -> Sequence[Revocation]:
        c = revocations.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.id, c.user_id, c.token_id, c.issued_before, c.expires_at)
                .where(c.id > watermark).order_by(c.id)
            ).all()
        return [Revocation(int(r.id), r.user_id, r.token_id, r.issued_before, r.expires_at)
                for r in rows]

    def close(self) -> None:
        self._drop_reader()


_SINCE = ("SELECT id, user_id, token_id, issued_before, expires_at FROM session_revocations "
          "WHERE id > %s ORDER BY id")


class SqlSignInAttempts:
    def __init__(self, engine: sa.Engine, *, window_seconds: float) -> None:
        self.engine = engine
        self.window = window_seconds

    def blocked_until(self, keys: Sequence[str]) -> float | None:
        c = sign_in_failures.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(sa.func.max(c.blocked_until)).where(c.key.in_(list(keys)))
            ).scalar()
        return None if found is None else float(found)

    def add_failure(self, key: str, now: float) -> int:
        """Count one more failure for `key` (a quiet window resets the count); the count.
        One statement (an upsert), so replicas failing at once lose no count."""
        c = sign_in_failures.c
        insert = _dialect_insert(self.engine)(sign_in_failures).values(
            key=key, failures=1, last_failure=now, blocked_until=0.0)
        upsert = insert.on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "failures": sa.case((c.last_failure < now - self.window, 1),
                                    else_=c.failures + 1),
                "last_failure": now,
            },
        ).returning(c.failures)
        with self.engine.begin() as conn:
            return int(conn.execute(upsert).scalar_one())

    def block(self, key: str, until: float) -> None:
        c = sign_in_failures.c
        with self.engine.begin() as conn:
            conn.execute(sa.update(sign_in_failures).where(c.key == key)
                         .values(blocked_until=until))

    def forget(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sign_in_failures).where(sign_in_failures.c.key == key))

    def sweep(self, now: float) -> None:
        """Drop keys quiet for a whole window whose block has passed."""
        c = sign_in_failures.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sign_in_failures).where(
                c.last_failure < now - self.window, c.blocked_until < now))


def _dialect_insert(engine: sa.Engine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class SqlResetTokens:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def issue(self, token_hash: str, user_id: str, expires_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(reset_tokens).values(
                token_hash=token_hash, user_id=user_id, expires_at=expires_at))

    def live(self, user_id: str, now: float) -> int:
        c = reset_tokens.c
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(
                c.user_id == user_id, c.used_at.is_(None), c.expires_at > now)).scalar_one())

    def holder(self, token_hash: str, now: float) -> str | None:
        c = reset_tokens.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(c.user_id).where(
                c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)).scalar()
        return None if found is None else str(found)

    def redeem(self, token_hash: str, now: float) -> str | None:
        c = reset_tokens.c
        with self.engine.begin() as conn:
            spent = conn.execute(
                sa.update(reset_tokens)
                .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now).returning(c.user_id)
            ).first()
            if spent is None:
                return None
            # Any other link the user was sent is spent too; long-dead rows go.
            conn.execute(sa.update(reset_tokens).where(
                c.user_id == spent.user_id, c.used_at.is_(None)).values(used_at=now))
            conn.execute(sa.delete(reset_tokens).where(c.expires_at < now - 86_400))
        return str(spent.user_id)
