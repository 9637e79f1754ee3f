"""Behaviour of api.security: hashing, password/e-mail policy, tokens, sign-in throttle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from time_machine import TimeMachineFixture

from api.security import (
    ADDRESS_BACK_OFF,
    DEFAULT_HASHER,
    DUMMY_HASH,
    FAILURE_WINDOW_SECONDS,
    PAIR_BACK_OFF,
    SignInThrottle,
    TokenSigner,
    client_key,
    constant_time_equals,
    hash_password,
    make_hasher,
    needs_rehash,
    normalize_email,
    validate_email,
    validate_password,
    verify_password,
    verify_password_or_dummy,
)
from projections import schema
from projections.db import make_engine
from projections.session_store import SqlSignInAttempts

# Argon2's minimum costs: keeps the suite fast; the defaults are exercised separately.
FAST = make_hasher(time_cost=1, memory_cost=8, parallelism=1)

# ---------------------------------------------------------------------------- hashing


def test_default_hasher_is_argon2id_with_owasp_parameters() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapl")
    assert not needs_rehash(stored)


def test_dummy_hash_matches_default_parameters() -> None:
    # If the defaults change, DUMMY_HASH must be regenerated or unknown e-mails become
    # cheaper (or dearer) to check than real ones.
    assert DUMMY_HASH.startswith("$argon2id$")
    assert not needs_rehash(DUMMY_HASH, hasher=DEFAULT_HASHER)


def test_hash_is_salted_and_verifies() -> None:
    first = hash_password("a long enough secret", hasher=FAST)
    second = hash_password("a long enough secret", hasher=FAST)
    assert first != second
    assert first.startswith("$argon2id$")
    assert verify_password(first, "a long enough secret", hasher=FAST)
    assert verify_password(second, "a long enough secret", hasher=FAST)


def test_wrong_password_fails() -> None:
    stored = hash_password("a long enough secret", hasher=FAST)
    assert not verify_password(stored, "A long enough secret", hasher=FAST)
    assert not verify_password(stored, "", hasher=FAST)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=8,t=1,p=1$xx$yy",
        "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5YhFZ2YqW3O2R6G/wy6Pjf3pYuWz7yK",  # bcrypt
        "$argon2id$v=19$m=19456,t=2,p=1$e8Mslf0bsxgHtUZkfQMepQ",  # truncated
    ],
)
def test_malformed_hash_returns_false(stored: str) -> None:
    assert verify_password(stored, "a long enough secret", hasher=FAST) is False
    assert needs_rehash(stored, hasher=FAST) is True


def test_verify_never_raises_on_wrong_types_or_unencodable_text() -> None:
    stored = hash_password("a long enough secret", hasher=FAST)
    assert verify_password(None, "a long enough secret", hasher=FAST) is False  # type: ignore[arg-type]
    assert verify_password(stored, None, hasher=FAST) is False  # type: ignore[arg-type]
    assert verify_password(stored, "lone \ud800 surrogate", hasher=FAST) is False


def test_unicode_forms_of_the_same_password_match() -> None:
    composed = "caf\u00e9 au lait 2024"
    decomposed = "cafe\u0301 au lait 2024"
    assert composed != decomposed
    stored = hash_password(composed, hasher=FAST)
    assert verify_password(stored, decomposed, hasher=FAST)


def test_needs_rehash_when_parameters_differ() -> None:
    weak = hash_password("a long enough secret", hasher=FAST)
    assert needs_rehash(weak)  # default hasher is stronger
    assert not needs_rehash(weak, hasher=FAST)


class _SpyHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_unknown_account_still_pays_for_one_verification() -> None:
    spy = _SpyHasher()
    assert verify_password_or_dummy(None, "a long enough secret", hasher=spy) is False
    assert spy.verified == [DUMMY_HASH]

    stored = hash_password("a long enough secret", hasher=spy)
    assert verify_password_or_dummy(stored, "a long enough secret", hasher=spy) is True
    assert verify_password_or_dummy(stored, "another secret!!", hasher=spy) is False
    assert spy.verified[1:] == [stored, stored]


# ---------------------------------------------------------------------- password policy

SAME_AS_EMAIL = "Password must not be the same as your e-mail address."


@pytest.mark.parametrize(
    ("password", "email", "expected"),
    [
        ("abcdefghi", None, "Password must be at least 10 characters long."),
        ("", None, "Password must be at least 10 characters long."),
        ("abcdefghij", None, None),
        ("x" * 255 + "y", None, None),
        ("x" * 256 + "y", None, "Password must be at most 256 characters long."),
        ("aaaaaaaaaaaa", None, "Password must not be a single character repeated."),
        (" " * 12, None, "Password must not be a single character repeated."),
        ("\t \t \t \t \t ", None, "Password must not be only spaces."),
        ("john.smith", "John.Smith@example.com", SAME_AS_EMAIL),
        ("JOHN.SMITH", "john.smith@example.com", SAME_AS_EMAIL),
        # NFKC: full-width letters are the same password once normalized.
        ("\uff4a\uff4f\uff48\uff4e.smith", "john.smith@example.com", SAME_AS_EMAIL),
        ("ann@example.com", "ann@example.com", SAME_AS_EMAIL),
        ("john.smith!", "john.smith@example.com", None),
        ("lone \ud800 surrogate", None, "Password contains characters that are not allowed."),
        ("correct horse battery staple", "someone@example.com", None),
    ],
)
def test_password_policy(password: str, email: str | None, expected: str | None) -> None:
    assert validate_password(password, email) == expected


def test_password_policy_messages_are_sentences() -> None:
    for bad in ["short", "a" * 300, "bbbbbbbbbbbb"]:
        message = validate_password(bad)
        assert message is not None
        assert message[0].isupper()
        assert message.endswith(".")


# ------------------------------------------------------------------------------ e-mail


def test_normalize_email() -> None:
    assert normalize_email("  Alice.Smith@Example.COM \n") == "alice.smith@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'brien@example.ie",
        "  padded@example.com  ",
        "\u00fcn\u00efcode@ex\u00e4mple.de",
        "x@xn--bcher-kva.example",
        "a" * 64 + "@example.com",
    ],
)
def test_valid_emails(email: str) -> None:
    assert validate_email(email) is None


@pytest.mark.parametrize(
    "email",
    [
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a b@example.com",
        "a@exa mple.com",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@b_c.com",
        "a@1.2.3.4",
        "a\x00@b.com",
        "a\n@b.com",
        '"quoted"@b.com',
        "<a@b.com>",
        "a" * 65 + "@example.com",
        "a@" + "b" * 64 + ".com",
    ],
)
def test_invalid_emails(email: str) -> None:
    assert validate_email(email) == "Enter an e-mail address like name@example.com."


def test_empty_and_overlong_emails() -> None:
    assert validate_email("   ") == "Enter an e-mail address."
    overlong = "a" * 7 + "@" + ".".join(["b" * 60] * 4) + ".com"
    assert len(overlong) == 255
    assert validate_email(overlong) == "E-mail address must be at most 254 characters long."
    assert validate_email(overlong[1:]) is None  # 254 characters, same shape


def test_constant_time_equals() -> None:
    assert constant_time_equals("s3cret-token", "s3cret-token")
    assert not constant_time_equals("s3cret-token", "s3cret-tokem")
    assert not constant_time_equals("s3cret", "s3cret-token")
    assert constant_time_equals("pässwörd", "pässwörd")
    assert not constant_time_equals("pässwörd", "passwörd")


# ------------------------------------------------------------------------------ tokens

SECRET = "k" * 16 + "test-signing-secret-0123456789"
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
TTL = 3600


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """The real clock, held at START: tokens live on it, never on the business clock."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def signer(clock: TimeMachineFixture) -> TokenSigner:
    return TokenSigner(SECRET, TTL)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], payload: dict[str, Any], key: bytes, digest: Any) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**overrides: Any) -> dict[str, Any]:
    iat = int(START.timestamp())
    payload: dict[str, Any] = {
        "sub": "user-1",
        "roles": ["investor"],
        "iat": iat,
        "exp": iat + TTL,
        "iss": "crowdfund",
        "jti": "abc",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not ...}


def test_token_round_trip(signer: TokenSigner) -> None:
    token = signer.issue("user-1", ["investor", "founder"])
    claims = signer.verify(token)
    assert claims is not None
    assert claims.user_id == "user-1"
    assert claims.roles == ("investor", "founder")
    assert claims.issued_at == START
    assert claims.expires_at == START + timedelta(seconds=TTL)
    assert claims.token_id
    other = signer.verify(signer.issue("user-1", []))
    assert other is not None
    assert other.roles == ()
    assert other.token_id != claims.token_id


def test_token_carries_the_documented_claims(signer: TokenSigner) -> None:
    token = signer.issue("user-1", ["admin"])
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    iat = int(START.timestamp())
    assert payload["sub"] == "user-1"
    assert payload["roles"] == ["admin"]
    assert payload["iat"] == iat
    assert payload["exp"] == iat + TTL
    assert payload["iss"] == "crowdfund"
    assert isinstance(payload["jti"], str) and len(payload["jti"]) >= 16


def test_token_expires_exactly_at_exp(clock: TimeMachineFixture, signer: TokenSigner) -> None:
    token = signer.issue("user-1", [])
    clock.move_to(START + timedelta(seconds=TTL) - timedelta(microseconds=1))
    assert signer.verify(token) is not None
    clock.move_to(START + timedelta(seconds=TTL))
    assert signer.verify(token) is None
    clock.shift(timedelta(days=30))
    assert signer.verify(token) is None


def test_token_not_yet_valid(clock: TimeMachineFixture, signer: TokenSigner) -> None:
    token = signer.issue("user-1", [])
    clock.move_to(START - timedelta(seconds=1))
    assert signer.verify(token) is None
    tolerant = TokenSigner(SECRET, TTL, skew_seconds=5)
    assert tolerant.verify(token) is not None
    clock.move_to(START - timedelta(seconds=6))
    assert tolerant.verify(token) is None
    nbf_later = _forge(
        {"alg": "HS256", "typ": "JWT"},
        _claims(nbf=int(START.timestamp()) + 60),
        SECRET.encode(),
        hashlib.sha256,
    )
    clock.move_to(START)
    assert signer.verify(nbf_later) is None
    clock.shift(60)
    assert signer.verify(nbf_later) is not None


def test_skew_tolerates_an_exp_just_past_too(clock: TimeMachineFixture) -> None:
    # PyJWT's leeway applies to exp as well: without skew the TTL is a hard bound.
    tolerant = TokenSigner(SECRET, TTL, skew_seconds=5)
    token = tolerant.issue("user-1", [])
    clock.move_to(START + timedelta(seconds=TTL))
    assert TokenSigner(SECRET, TTL).verify(token) is None
    assert tolerant.verify(token) is not None
    clock.move_to(START + timedelta(seconds=TTL + 5))
    assert tolerant.verify(token) is None



def test_correctly_signed_handmade_token_is_accepted(signer: TokenSigner) -> None:
    # Guards the forgery tests below: only the property under test makes them fail.
    token = _forge({"alg": "HS256", "typ": "JWT"}, _claims(), SECRET.encode(), hashlib.sha256)
    claims = signer.verify(token)
    assert claims is not None and claims.user_id == "user-1"


def test_roles_are_optional(signer: TokenSigner) -> None:
    token = _forge({"alg": "HS256"}, _claims(roles=...), SECRET.encode(), hashlib.sha256)
    claims = signer.verify(token)
    assert claims is not None
    assert claims.roles == ()


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"iss": ...},
        {"exp": ...},
        {"iat": ...},
        {"sub": ...},
        {"jti": ...},
        {"sub": ""},
        {"sub": 42},
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": 10**400},
        {"nbf": "soon"},
        {"roles": "admin"},
        {"roles": [1, 2]},
    ],
)
def test_bad_claims_are_rejected(signer: TokenSigner, overrides: dict[str, Any]) -> None:
    token = _forge({"alg": "HS256"}, _claims(**overrides), SECRET.encode(), hashlib.sha256)
    assert signer.verify(token) is None


def test_tampered_payload_is_rejected(signer: TokenSigner) -> None:
    header, _, signature = signer.issue("user-1", ["investor"]).split(".")
    forged_payload = _b64(json.dumps(_claims(roles=["admin"])).encode())
    assert signer.verify(f"{header}.{forged_payload}.{signature}") is None


def test_tampered_signature_is_rejected(signer: TokenSigner) -> None:
    header, payload, signature = signer.issue("user-1", []).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert signer.verify(f"{header}.{payload}.{flipped}") is None
    assert signer.verify(f"{header}.{payload}.") is None


def test_token_from_another_key_is_rejected(signer: TokenSigner) -> None:
    other = TokenSigner("another-secret-that-is-long-enough!!", TTL)
    assert signer.verify(other.issue("user-1", ["admin"])) is None


def test_alg_none_is_rejected(signer: TokenSigner) -> None:
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    assert signer.verify(unsigned) is None
    for alg in ("none", "None", "NONE"):
        header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        assert signer.verify(f"{header}.{_b64(json.dumps(_claims()).encode())}.") is None


def test_other_algorithms_with_the_same_secret_are_rejected(signer: TokenSigner) -> None:
    # Classic key confusion: an RS256 header "verified" with the HMAC secret as public key.
    rs256 = _forge({"alg": "RS256", "typ": "JWT"}, _claims(), SECRET.encode(), hashlib.sha256)
    assert signer.verify(rs256) is None
    hs512 = _forge({"alg": "HS512", "typ": "JWT"}, _claims(), SECRET.encode(), hashlib.sha512)
    assert signer.verify(hs512) is None


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "...", "e30.e30.", "Bearer x", "\x00", "x" * 10_000, None, 123],
)
def test_garbage_is_rejected(signer: TokenSigner, token: Any) -> None:
    assert signer.verify(token) is None


def test_signer_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        TokenSigner("too-short", TTL)
    with pytest.raises(ValueError):
        TokenSigner(SECRET, 0)
    with pytest.raises(ValueError):
        TokenSigner(SECRET, TTL, skew_seconds=-1)
    with pytest.raises(ValueError):
        TokenSigner(SECRET, TTL).issue("", [])


# ----------------------------------------------------------------------------- throttle


class WallClock:
    """The throttle's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> WallClock:
    return WallClock()


@pytest.fixture
def failures_db(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'security.db'}")
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def _throttle(engine: sa.Engine, ticks: WallClock) -> SignInThrottle:
    attempts = SqlSignInAttempts(engine, window_seconds=FAILURE_WINDOW_SECONDS)
    return SignInThrottle(attempts, b"pepper", ticks)


@pytest.fixture
def throttle(failures_db: sa.Engine, ticks: WallClock) -> SignInThrottle:
    return _throttle(failures_db, ticks)


def test_back_off_doubles_after_the_free_failures(
    ticks: WallClock, throttle: SignInThrottle
) -> None:
    for _ in range(PAIR_BACK_OFF.free):
        assert throttle.check("ann@example.com", "10.0.0.1") is None
        throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") is None
    throttle.record_failure("ann@example.com", "10.0.0.1")
    first = PAIR_BACK_OFF.base_seconds
    assert throttle.check("ann@example.com", "10.0.0.1") == pytest.approx(first)
    ticks.now += first
    assert throttle.check("ann@example.com", "10.0.0.1") is None
    throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") == pytest.approx(2 * first)
    assert PAIR_BACK_OFF.wait(1000) == PAIR_BACK_OFF.max_seconds


def test_guesses_from_one_address_never_lock_the_owner_out_from_another(
    throttle: SignInThrottle,
) -> None:
    for _ in range(30):
        throttle.record_failure("ann@example.com", "203.0.113.9")
    assert throttle.check("ann@example.com", "203.0.113.9") is not None
    assert throttle.check("ann@example.com", "198.51.100.4") is None


def test_an_address_guessing_many_accounts_slows_down(throttle: SignInThrottle) -> None:
    for n in range(ADDRESS_BACK_OFF.free + 1):
        throttle.record_failure(f"user{n}@example.com", "10.0.0.1")
    assert throttle.check("someone-else@example.com", "10.0.0.1") is not None
    assert throttle.check("someone-else@example.com", "10.0.0.2") is None


def test_a_quiet_window_starts_the_count_again(
    ticks: WallClock, throttle: SignInThrottle
) -> None:
    for _ in range(PAIR_BACK_OFF.free):
        throttle.record_failure("ann@example.com", None)
    ticks.now += FAILURE_WINDOW_SECONDS + 1
    throttle.record_failure("ann@example.com", None)
    assert throttle.check("ann@example.com", None) is None


def test_throttle_normalizes_email_and_groups_ipv6_by_64(throttle: SignInThrottle) -> None:
    for n in range(PAIR_BACK_OFF.free + 1):
        throttle.record_failure("  Ann@Example.COM ", f"2001:db8::{n + 1}")
    assert throttle.check("ann@example.com", "2001:db8::ffff") is not None
    assert throttle.check("ann@example.com", "2001:db8:0:1::1") is None
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1")


def test_success_forgets_the_pair_but_not_the_address(throttle: SignInThrottle) -> None:
    for _ in range(PAIR_BACK_OFF.free):
        throttle.record_failure("ann@example.com", "10.0.0.1")
    throttle.record_success("ann@example.com", "10.0.0.1")
    for _ in range(PAIR_BACK_OFF.free):
        throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") is None
    for n in range(ADDRESS_BACK_OFF.free):
        throttle.record_failure(f"other{n}@example.com", "10.0.0.1")
    throttle.record_success("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") is not None  # the address's count


def test_failures_are_shared_by_replicas_and_kept_across_restarts(
    failures_db: sa.Engine, ticks: WallClock, tmp_path: Path
) -> None:
    one, two = _throttle(failures_db, ticks), _throttle(failures_db, ticks)
    for n in range(PAIR_BACK_OFF.free + 1):
        (one if n % 2 else two).record_failure("ann@example.com", "10.0.0.1")
    restarted = make_engine(f"sqlite:///{tmp_path / 'security.db'}")
    try:
        assert _throttle(restarted, ticks).check("ann@example.com", "10.0.0.1") is not None
    finally:
        restarted.dispose()


def test_neither_e_mail_nor_address_is_stored_in_clear(
    failures_db: sa.Engine, throttle: SignInThrottle
) -> None:
    throttle.record_failure("ann@example.com", "192.0.2.77")
    with failures_db.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM sign_in_failures")).all()
    text = repr(rows)
    assert len(rows) == 2 and "ann" not in text and "192.0.2.77" not in text


def test_concurrent_failures_are_all_counted(failures_db: sa.Engine, ticks: WallClock) -> None:
    workers, rounds = 4, 5
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def hammer() -> None:
        throttle = _throttle(failures_db, ticks)
        try:
            for _ in range(rounds):
                barrier.wait()
                throttle.record_failure("ann@example.com", "10.9.9.9")
        except BaseException as error:  # surfaced by the assert below
            errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 20 failures: 16 over the pair's free ones, so the wait is at its cap by now.
    wait = _throttle(failures_db, ticks).check("ann@example.com", "10.9.9.9")
    assert wait == pytest.approx(PAIR_BACK_OFF.wait(workers * rounds))
