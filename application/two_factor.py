"""RFC 6238 time-based one-time codes (SHA-1, 6 digits, 30 s steps) and recovery codes.

Codes are checked against the real clock, never the business one: moving a test
clock must not make an authenticator app's code wrong. A code is matched to its
time step within one step either side (clock drift, a code typed as it rolls
over); the user aggregate refuses a step it has already accepted, so a code
works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp

STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1
ISSUER = "Crowdfund"
RECOVERY_CODES = 10
# 12 characters of base32: 60 bits each, typed as xxxx-xxxx-xxxx.
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LENGTH = 12


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226 §4 recommends at least that)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def code_for(secret: str, at: float) -> str:
    """The code an authenticator shows at `at` (Unix seconds): tests and the demo."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(int(at))


def is_totp_code(text: str) -> bool:
    code = _compact(text)
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step whose code is `code`, within ±WINDOW_STEPS of `at`, or None."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    wanted = _compact(code).encode()
    current = int(at) // STEP_SECONDS
    found = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        # Every candidate is compared, in constant time: timing says nothing.
        if hmac.compare_digest(totp.generate_otp(step).encode(), wanted):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def is_recovery_code(text: str) -> bool:
    code = _compact(text).lower()
    return len(code) == _RECOVERY_LENGTH and all(c in _RECOVERY_ALPHABET for c in code)


def recovery_code_hash(code: str) -> str:
    """SHA-256 suffices: a recovery code has 60 random bits, nothing to guess offline."""
    return hashlib.sha256(_compact(code).lower().encode()).hexdigest()


def _compact(text: str) -> str:
    return "".join(text.split()).replace("-", "")
