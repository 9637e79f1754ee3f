"""Authentication primitives: password hashing and policy, bearer tokens, sign-in throttling.

Pure and framework-free so the API layer (and tests) can use them without a request.
Tokens live on the real clock, never the business one (PyJWT checks exp, iat and nbf);
throttling and its back-off follow the wall clock too (shared by every replica).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import email_validator
import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error

from application.sessions import SignInAttempts
from domain import limits

__all__ = [
    "DEFAULT_HASHER",
    "DUMMY_HASH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_ISSUER",
    "BackOff",
    "SignInThrottle",
    "TokenClaims",
    "TokenSigner",
    "client_key",
    "constant_time_equals",
    "hash_password",
    "key_id",
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


def key_id(secret: str) -> str:
    """A signing key's public name (`kid`): a short digest that says nothing of the key."""
    return hashlib.sha256(b"crowdfund-kid:" + secret.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """A verified token. `roles` is only a hint: authorize from the user record."""

    user_id: str
    roles: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    token_id: str
    # How the session was proven (RFC 8176 `amr`): "pwd", "otp", "recovery", "reset".
    methods: tuple[str, ...] = ()
    key_id: str | None = None

    @property
    def issued_at_seconds(self) -> float:
        return self.issued_at.timestamp()


class TokenSigner:
    """Issues and verifies HS256 bearer tokens on the real clock.

    Tokens name their signing key in the header (`kid`): the active key signs, the
    `older` keys still verify what they signed until they are retired (dropped
    from the list), so rotating the key signs nobody out. A token without a `kid`
    (issued before keys had ids) is checked against every key.

    Tokens expire in real time, not business time: moving the test clock a month
    ahead must not sign everybody out. PyJWT checks the times: expired exactly at
    `exp` (RFC 7519 §4.1.4), not valid before `nbf` or an `iat` in the future.
    `iat` carries milliseconds, so a session revoked "before now" and the token
    issued right after it are told apart.
    """

    def __init__(
        self, secret: str, ttl_seconds: int, *, skew_seconds: int = 0,
        older: Sequence[str] = (),
    ) -> None:
        """`skew_seconds` is PyJWT's leeway for replicas whose clocks differ: an `iat`
        or `nbf` that far in the future is accepted, and so is an `exp` that far in the
        past. Zero (the default) keeps the TTL a hard upper bound."""
        for key in (secret, *older):
            if len(key.encode("utf-8")) < _MIN_SECRET_BYTES:
                raise ValueError(f"the token secret must be at least {_MIN_SECRET_BYTES} bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if skew_seconds < 0:
            raise ValueError("skew_seconds must not be negative")
        self.active_key_id = key_id(secret)
        self._keys = {key_id(k): k.encode("utf-8") for k in (*older, secret)}
        self._ttl = ttl_seconds
        self._skew = skew_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def issue(self, user_id: str, roles: list[str], methods: Sequence[str] = ("pwd",)) -> str:
        if not user_id:
            raise ValueError("user_id must not be empty")
        issued_at = round(time.time(), 3)
        payload: dict[str, Any] = {
            "sub": user_id,
            "roles": list(roles),
            "iat": issued_at,
            "exp": math.floor(issued_at) + self._ttl,
            "iss": TOKEN_ISSUER,
            "jti": secrets.token_urlsafe(16),  # what signOut revokes
            "amr": list(methods),
        }
        return jwt.encode(payload, self._keys[self.active_key_id], algorithm=_TOKEN_ALGORITHM,
                          headers={"kid": self.active_key_id})

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a valid token, or None for anything else; never raises on input."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            return None
        if kid is None:
            candidates = list(self._keys.items())
        elif isinstance(kid, str) and kid in self._keys:
            candidates = [(kid, self._keys[kid])]
        else:
            return None  # a retired or unknown key
        for name, key in candidates:
            claims = self._decode(token, key)
            if claims is not None:
                return _claims(claims, name)
        return None

    def _decode(self, token: str, key: bytes) -> dict[str, Any] | None:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                # Pinned, never taken from the header: rejects `none`, RS256/HS512 confusion.
                algorithms=[_TOKEN_ALGORITHM],
                issuer=TOKEN_ISSUER,
                leeway=self._skew,
                options={"require": ["sub", "iat", "exp", "iss", "jti"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            return None
        return payload


def _claims(payload: dict[str, Any], kid: str | None = None) -> TokenClaims | None:
    """The claims, if each has the type RFC 7519 gives it (PyJWT checked the times but
    takes e.g. the string "9999999999" for a NumericDate)."""
    sub, jti, roles = payload.get("sub"), payload.get("jti"), payload.get("roles", [])
    methods = payload.get("amr", [])
    iat, exp = _number(payload.get("iat")), _number(payload.get("exp"))
    if not isinstance(sub, str) or not sub or not isinstance(jti, str):
        return None
    if iat is None or exp is None or ("nbf" in payload and _number(payload["nbf"]) is None):
        return None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return None
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
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
        methods=tuple(methods),
        key_id=kid,
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


def client_key(ip: str | None) -> str:
    """IPv6 clients usually own a whole /64, so count per /64, not per address."""
    raw = (ip or "unknown").strip().lower()
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class BackOff:
    """`free` failures inside the window cost nothing; each one after doubles the wait
    (first `base_seconds`), up to `max_seconds`."""

    free: int
    base_seconds: float
    max_seconds: float

    def wait(self, failures: int) -> float:
        over = failures - self.free
        return 0.0 if over <= 0 else min(self.max_seconds, self.base_seconds * 2 ** (over - 1))


# Guessing one account from one address slows down fast; an address guessing many
# accounts slows down later but for longer. Nothing counts per e-mail alone, so
# guesses from one address never keep the owner out from another (no lockout).
PAIR_BACK_OFF = BackOff(free=4, base_seconds=30.0, max_seconds=15 * 60)
ADDRESS_BACK_OFF = BackOff(free=30, base_seconds=10.0, max_seconds=60 * 60)
FAILURE_WINDOW_SECONDS = 15 * 60.0


class SignInThrottle:
    """Brute-force brake for sign-in, shared by every replica (`SignInAttempts`).

    Call `check` before verifying a password (reply "retry after N s" when it returns a
    number), `record_failure` on every failed attempt (unknown e-mails too, so a block
    does not reveal whether an account exists) and `record_success` on success. Keys
    are HMACs of the e-mail and address under `pepper`: neither is stored in clear.
    """

    def __init__(
        self, attempts: SignInAttempts, pepper: bytes, clock: Callable[[], float] = time.time,
        *, pair: BackOff = PAIR_BACK_OFF, address: BackOff = ADDRESS_BACK_OFF,
    ) -> None:
        self._attempts = attempts
        self._pepper = pepper
        self._clock = clock
        self._policies = (pair, address)
        self._failures = 0

    def _keys(self, email: str, ip: str | None) -> tuple[str, str]:
        address = client_key(ip)
        return (self._digest(f"pair\0{normalize_email(email)}\0{address}"),
                self._digest(f"address\0{address}"))

    def _digest(self, text: str) -> str:
        return hmac.new(self._pepper, text.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()

    def check(self, email: str, ip: str | None) -> float | None:
        """Seconds to wait before another attempt is allowed, or None if allowed now."""
        until = self._attempts.blocked_until(self._keys(email, ip))
        wait = None if until is None else until - self._clock()
        return wait if wait is not None and wait > 0 else None

    def record_failure(self, email: str, ip: str | None) -> None:
        now = self._clock()
        for key, policy in zip(self._keys(email, ip), self._policies, strict=True):
            wait = policy.wait(self._attempts.add_failure(key, now))
            if wait:
                self._attempts.block(key, now + wait)
        self._failures += 1
        if self._failures % 256 == 0:  # keys quiet for a window are dropped now and then
            self._attempts.sweep(now)

    def record_success(self, email: str, ip: str | None) -> None:
        """Forget the pair's failures. The address's are kept on purpose: otherwise an
        attacker owning one account could reset their budget by signing in to it."""
        self._attempts.forget(self._keys(email, ip)[0])
