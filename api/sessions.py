"""Bearer tokens as sessions: verified, checked against revocations, ended.

Built by `crowdfund.bootstrap.session_guard`; the API reads it as
`services.sessions`. Every method may touch the database: call them off the
event loop (`services.run`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from api.security import SignInThrottle, TokenClaims, TokenSigner
from application.sessions import ResetTokens, RevocationCache, RevocationLog

# An unknown `kid` makes the process re-read the keyring (a key rotated elsewhere),
# at most this often.
RELOAD_INTERVAL_SECONDS = 5.0


@dataclass
class SessionGuard:
    tokens: TokenSigner
    revocations: RevocationLog
    cache: RevocationCache
    reset_tokens: ResetTokens
    throttle: SignInThrottle
    reload_tokens: Callable[[], TokenSigner] | None = None
    _reloaded_at: float = field(default=float("-inf"), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a valid token no one has revoked, or None."""
        claims = self.tokens.verify(token)
        if claims is None and self._reloaded_for(token):
            claims = self.tokens.verify(token)
        if claims is None:
            return None
        if self.cache.is_revoked(claims.user_id, claims.token_id, claims.issued_at_seconds):
            return None
        return claims

    def sign_out(self, claims: TokenClaims) -> None:
        self.revocations.revoke_token(claims.user_id, claims.token_id,
                                      claims.expires_at.timestamp())

    def end_sessions(self, user_id: str) -> float:
        """Revoke every token of the user issued until now; the instant (a token
        issued after it, e.g. the one answered to the caller, stays valid)."""
        now = time.time()
        self.revocations.revoke_sessions(user_id, now, now + self.tokens.ttl_seconds + 60)
        return now

    def _reloaded_for(self, token: str) -> bool:
        """Re-read the keyring when a token names a key this process does not know."""
        if self.reload_tokens is None:
            return False
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            return False
        if not isinstance(kid, str) or kid in self.tokens.key_ids:
            return False
        with self._lock:
            if time.monotonic() - self._reloaded_at < RELOAD_INTERVAL_SECONDS:
                return False
            self._reloaded_at = time.monotonic()
            self.tokens = self.reload_tokens()
        return kid in self.tokens.key_ids
