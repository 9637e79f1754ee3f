"""Authentication primitives: password hashing and policy, bearer tokens, sign-in throttling.

Pure and framework-free so the API layer (and tests) can use them without a request.
Tokens live on the real clock, never the business one (PyJWT checks exp, iat and nbf);
throttling takes an injected monotonic clock.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import email_validator
import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error

from domain import limits

__all__ = [
    "DEFAULT_HASHER",
    "DUMMY_HASH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_ISSUER",
    "SignInThrottle",
    "TokenClaims",
    "TokenSigner",
    "constant_time_equals",
    "hash_password",
    "make_hasher",
    "needs_rehash",
    "normalize_email",
    "validate_email",
    "validate_password",
    "verify_password",
    "verify_password_or_dummy",
]

# --------------------------------------------------------------------------- passwords

# argon2id is the OWASP/RFC 9106 recommendation: memory-hard (GPU/ASIC cracking is costly)
# and resistant to side channels. m=19 MiB, t=2, p=1 is OWASP's minimum configuration: it
# costs ~20-40 ms on a server core, so a sign-in burst cannot exhaust CPU or RAM (19 MiB per
# concurrent verification) while an offline attacker still pays 19 MiB per guess. p=1 keeps
# one request on one core; raise t (not p) if the hardware allows.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_COST_KIB = 19456
ARGON2_PARALLELISM = 1

MIN_PASSWORD_LENGTH = 10
# Generous for passphrases and password managers, small enough that hashing stays cheap.
MAX_PASSWORD_LENGTH = 256


def make_hasher(
    *,
    time_cost: int = ARGON2_TIME_COST,
    memory_cost: int = ARGON2_MEMORY_COST_KIB,
    parallelism: int = ARGON2_PARALLELISM,
) -> PasswordHasher:
    """An argon2id hasher; tests pass tiny costs, production uses the defaults."""
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


DEFAULT_HASHER = make_hasher()

# The hash of a random secret nobody knows, made with the default parameters. Verifying
# against it for an unknown e-mail costs the same as for a real account, so response time
# does not reveal which e-mails are registered. A literal (not computed at import) keeps
# import fast; a test asserts it still matches DEFAULT_HASHER's parameters.
DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$e8Mslf0bsxgHtUZkfQMepQ"
    "$BKHkNvnLNlSTYB8XT0H7tcz80U4CtD66Y15POlq1ars"
)


def _normalize_password(password: str) -> str:
    # NFKC (NIST SP 800-63B §5.1.1.2): the same password typed on different keyboards or
    # OSes (composed vs decomposed accents, full-width digits) must hash the same.
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """Encoded argon2id hash (salt and parameters included).

    Raises ValueError (UnicodeEncodeError) for strings with lone surrogates; run
    `validate_password` first, which rejects them with a sentence.
    """
    return hasher.hash(_normalize_password(password))


def verify_password(
    stored_hash: str, password: str, *, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """True only if `password` matches; False on mismatch or malformed input, never raises."""
    try:
        return hasher.verify(stored_hash, _normalize_password(password))
    except (Argon2Error, ValueError, TypeError, AttributeError):
        # Argon2Error: mismatch/verification failure; ValueError: InvalidHashError or
        # unencodable password; TypeError/AttributeError: non-str input (e.g. None).
        return False


def verify_password_or_dummy(
    stored_hash: str | None, password: str, *, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """`verify_password`, but for an unknown account (None) still pay for one argon2 run.

    Always call this on sign-in, passing None when the e-mail is not registered.
    """
    if stored_hash is None:
        verify_password(DUMMY_HASH, password, hasher=hasher)
        return False
    return verify_password(stored_hash, password, hasher=hasher)


def needs_rehash(stored_hash: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """True if the hash was made with other parameters; rehash after a successful sign-in."""
    try:
        return hasher.check_needs_rehash(stored_hash)
    except (Argon2Error, ValueError, TypeError, AttributeError):
        return True  # unparseable: replacing it is the only sane option


def validate_password(password: str, email: str | None = None) -> str | None:
    """A sentence explaining why `password` is too weak, or None when acceptable."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return "Password contains characters that are not allowed."
    normalized = _normalize_password(password)
    # Lengths count what gets hashed (NFKC), so the limit means the same on every device.
    if len(normalized) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(normalized) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if len(set(normalized)) == 1:
        return "Password must not be a single character repeated."
    if not normalized.strip():
        return "Password must not be only spaces."
    if email:
        address = normalize_email(email)
        local = address.rpartition("@")[0] or address
        if normalized.casefold() in {local.casefold(), address.casefold()}:
            return "Password must not be the same as your e-mail address."
    return None


# ------------------------------------------------------------------------------ e-mail

MAX_EMAIL_LENGTH = limits.EMAIL


def normalize_email(email: str) -> str:
    """The form used as a lookup key: surrounding whitespace removed, lower-case."""
    return email.strip().lower()


def validate_email(email: str) -> str | None:
    """A sentence explaining why `email` is not an address, or None when it looks like one.

    Syntax only (email-validator, strict: RFC 5321 lengths too): deliverability is
    proven by a confirmation mail, not by a DNS lookup. Unicode is allowed (RFC 6531);
    quoting, display names and IP literals are not. `.test` domains are accepted
    (development and test accounts); other special-use names are not.
    """
    address = email.strip()
    if not address:
        return "Enter an e-mail address."
    if len(address) > MAX_EMAIL_LENGTH:
        return f"E-mail address must be at most {MAX_EMAIL_LENGTH} characters long."
    try:
        valid = email_validator.validate_email(
            address, check_deliverability=False, test_environment=True, strict=True
        )
    except email_validator.EmailNotValidError:
        return "Enter an e-mail address like name@example.com."
    if "." not in valid.ascii_domain:  # the test environment would take "ann@test"
        return "Enter an e-mail address like name@example.com."
    return None


# ------------------------------------------------------------------------------ secrets


def constant_time_equals(a: str, b: str) -> bool:
    """Compare secrets without leaking the length of the matching prefix through timing."""
    # compare_digest on str only accepts ASCII; bytes work for any text.
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


# ------------------------------------------------------------------------------- tokens

TOKEN_ISSUER = "crowdfund"
_TOKEN_ALGORITHM = "HS256"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
_MIN_SECRET_BYTES = 32
# Far above any token we issue; refuse bigger input before parsing it.
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """A verified token. `roles` is only a hint: authorize from the user record."""

    user_id: str
    roles: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    token_id: str


class TokenSigner:
    """Issues and verifies HS256 bearer tokens on the real clock.

    Tokens expire in real time, not business time: moving the test clock a month
    ahead must not sign everybody out. PyJWT checks the times: expired exactly at
    `exp` (RFC 7519 §4.1.4), not valid before `nbf` or an `iat` in the future.
    """

    def __init__(self, secret: str, ttl_seconds: int, *, skew_seconds: int = 0) -> None:
        """`skew_seconds` is PyJWT's leeway for replicas whose clocks differ: an `iat`
        or `nbf` that far in the future is accepted, and so is an `exp` that far in the
        past. Zero (the default) keeps the TTL a hard upper bound."""
        if len(secret.encode("utf-8")) < _MIN_SECRET_BYTES:
            raise ValueError(f"the token secret must be at least {_MIN_SECRET_BYTES} bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if skew_seconds < 0:
            raise ValueError("skew_seconds must not be negative")
        self._key = secret.encode("utf-8")
        self._ttl = ttl_seconds
        self._skew = skew_seconds

    def issue(self, user_id: str, roles: list[str]) -> str:
        if not user_id:
            raise ValueError("user_id must not be empty")
        issued_at = math.floor(time.time())  # NumericDate is whole seconds
        payload: dict[str, Any] = {
            "sub": user_id,
            "roles": list(roles),
            "iat": issued_at,
            "exp": issued_at + self._ttl,
            "iss": TOKEN_ISSUER,
            "jti": secrets.token_urlsafe(16),  # a handle for revocation lists / audit logs
        }
        return jwt.encode(payload, self._key, algorithm=_TOKEN_ALGORITHM)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a valid token, or None for anything else; never raises on input."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        try:
            payload = jwt.decode(
                token,
                self._key,
                # Pinned, never taken from the header: rejects `none`, RS256/HS512 confusion.
                algorithms=[_TOKEN_ALGORITHM],
                issuer=TOKEN_ISSUER,
                leeway=self._skew,
                options={"require": ["sub", "iat", "exp", "iss", "jti"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            return None
        return _claims(payload)


def _claims(payload: dict[str, Any]) -> TokenClaims | None:
    """The claims, if each has the type RFC 7519 gives it (PyJWT checked the times but
    takes e.g. the string "9999999999" for a NumericDate)."""
    sub, jti, roles = payload.get("sub"), payload.get("jti"), payload.get("roles", [])
    iat, exp = _number(payload.get("iat")), _number(payload.get("exp"))
    if not isinstance(sub, str) or not sub or not isinstance(jti, str):
        return None
    if iat is None or exp is None or ("nbf" in payload and _number(payload["nbf"]) is None):
        return None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return None
    try:
        expires_at = datetime.fromtimestamp(exp, UTC)
        issued_at = datetime.fromtimestamp(iat, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return TokenClaims(
        user_id=sub,
        roles=tuple(roles),
        expires_at=expires_at,
        issued_at=issued_at,
        token_id=jti,
    )


def _number(value: object) -> float | None:
    """A NumericDate claim as float, or None if it is not a finite number."""
    # bool is an int subclass; NaN/inf would make every comparison meaningless.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float
        return None
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------- throttle


def _ip_key(ip: str) -> str:
    """IPv6 clients usually own a whole /64, so count per /64, not per address."""
    raw = ip.strip().lower()
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _FailureLog:
    """Recent failure times per key, bounded in keys and in entries per key.

    Keeps only the last `limit` timestamps per key: that is all a sliding-window lock
    needs (locked while the limit-th most recent failure is inside the window). Keys are
    ordered by last failure, so the oldest are evicted first and expired ones are swept
    from the front in amortized O(1).
    """

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self._limit = limit
        self._window = window
        self._max_keys = max_keys
        self._log: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._log)

    def sweep(self, now: float) -> None:
        while self._log:
            key, times = next(iter(self._log.items()))
            if times[-1] + self._window > now:
                break
            del self._log[key]

    def add(self, key: str, now: float) -> None:
        times = self._log.get(key)
        if times is None:
            times = self._log[key] = deque(maxlen=self._limit)
        times.append(now)
        self._log.move_to_end(key)
        while len(self._log) > self._max_keys:
            self._log.popitem(last=False)

    def clear(self, key: str) -> None:
        self._log.pop(key, None)

    def retry_after(self, key: str, now: float) -> float | None:
        times = self._log.get(key)
        if times is None or len(times) < self._limit:
            return None
        wait = times[0] + self._window - now
        return wait if wait > 0 else None


class SignInThrottle:
    """In-memory, per-process brute-force brake for sign-in.

    Call `check` before verifying a password (reply "retry after N s" when it returns a
    number), `record_failure` on every failed attempt — also for unknown e-mails, so a
    lock does not reveal whether an account exists — and `record_success` on success.
    Per-process only: with several replicas the effective limit multiplies by their count.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_failures_per_email: int = 5,
        max_failures_per_ip: int = 20,
        window_seconds: float = 15 * 60,
        max_keys: int = 100_000,
    ) -> None:
        if min(max_failures_per_email, max_failures_per_ip, max_keys) < 1 or window_seconds <= 0:
            raise ValueError("throttle limits and window must be positive")
        self._clock = clock
        self._lock = threading.Lock()
        # Each table is capped separately: an attacker spraying many e-mails (or IPs)
        # evicts only entries of that table, at most max_keys each.
        self._emails = _FailureLog(max_failures_per_email, window_seconds, max_keys)
        self._ips = _FailureLog(max_failures_per_ip, window_seconds, max_keys)

    def check(self, email: str, ip: str | None) -> float | None:
        """Seconds to wait before another attempt is allowed, or None if allowed now."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            waits = [self._emails.retry_after(normalize_email(email), now)]
            if ip:
                waits.append(self._ips.retry_after(_ip_key(ip), now))
            locked = [w for w in waits if w is not None]
            return max(locked) if locked else None

    def record_failure(self, email: str, ip: str | None) -> None:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._emails.add(normalize_email(email), now)
            if ip:
                self._ips.add(_ip_key(ip), now)

    def record_success(self, email: str, ip: str | None) -> None:
        """Forget the e-mail's failures. The IP's are kept on purpose: otherwise an attacker
        owning one account could reset their IP budget by signing in to it in between."""
        del ip
        with self._lock:
            self._emails.clear(normalize_email(email))

    @property
    def tracked_emails(self) -> int:
        with self._lock:
            return len(self._emails)

    @property
    def tracked_ips(self) -> int:
        with self._lock:
            return len(self._ips)

    def _sweep(self, now: float) -> None:
        self._emails.sweep(now)
        self._ips.sweep(now)
