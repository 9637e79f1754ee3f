"""Behaviour of api.security: hashing, password/e-mail policy, tokens, sign-in throttle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from time_machine import TimeMachineFixture

from api.security import (
    DEFAULT_HASHER,
    DUMMY_HASH,
    SignInThrottle,
    TokenSigner,
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


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def throttle(ticks: FakeMonotonic) -> SignInThrottle:
    return SignInThrottle(ticks)


def test_throttle_locks_after_five_failures_and_unlocks_after_window(
    ticks: FakeMonotonic, throttle: SignInThrottle
) -> None:
    for _ in range(4):
        throttle.record_failure("ann@example.com", "10.0.0.1")
        assert throttle.check("ann@example.com", "10.0.0.1") is None
    throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") == pytest.approx(900.0)
    # The lock follows the e-mail, not the client.
    assert throttle.check("ann@example.com", "192.0.2.7") == pytest.approx(900.0)
    assert throttle.check("bob@example.com", "10.0.0.1") is None
    ticks.now += 899.5
    assert throttle.check("ann@example.com", None) == pytest.approx(0.5)
    ticks.now += 0.5
    assert throttle.check("ann@example.com", None) is None


def test_throttle_window_slides(ticks: FakeMonotonic, throttle: SignInThrottle) -> None:
    for _ in range(5):
        throttle.record_failure("ann@example.com", None)
        ticks.now += 100
    # Failures at +0..+400; the first leaves the 15-minute window at +900.
    assert throttle.check("ann@example.com", None) == pytest.approx(400.0)
    ticks.now += 400
    assert throttle.check("ann@example.com", None) is None
    throttle.record_failure("ann@example.com", None)  # five inside the window again
    assert throttle.check("ann@example.com", None) == pytest.approx(100.0)


def test_throttle_normalizes_email(throttle: SignInThrottle) -> None:
    for _ in range(5):
        throttle.record_failure("  Ann@Example.COM ", None)
    assert throttle.check("ann@example.com", None) is not None


def test_success_resets_email_but_not_ip(throttle: SignInThrottle) -> None:
    for _ in range(4):
        throttle.record_failure("ann@example.com", "10.0.0.1")
    throttle.record_success("ann@example.com", "10.0.0.1")
    for _ in range(4):
        throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") is None
    throttle.record_failure("ann@example.com", "10.0.0.1")
    assert throttle.check("ann@example.com", "10.0.0.1") is not None
    # 9 failures from 10.0.0.1 survived the success: 11 more lock the IP.
    throttle.record_success("ann@example.com", "10.0.0.1")
    for i in range(11):
        throttle.record_failure(f"user{i}@example.com", "10.0.0.1")
    assert throttle.check("fresh@example.com", "10.0.0.1") is not None


def test_per_ip_limit(ticks: FakeMonotonic, throttle: SignInThrottle) -> None:
    for i in range(19):
        throttle.record_failure(f"user{i}@example.com", "203.0.113.9")
    assert throttle.check("fresh@example.com", "203.0.113.9") is None
    throttle.record_failure("user19@example.com", "203.0.113.9")
    assert throttle.check("fresh@example.com", "203.0.113.9") == pytest.approx(900.0)
    assert throttle.check("fresh@example.com", "203.0.113.10") is None
    assert throttle.check("fresh@example.com", None) is None
    ticks.now += 900
    assert throttle.check("fresh@example.com", "203.0.113.9") is None


def test_ipv6_clients_are_counted_per_64(throttle: SignInThrottle) -> None:
    for i in range(20):
        throttle.record_failure(f"user{i}@example.com", f"2001:db8:1:2::{i + 1:x}")
    assert throttle.check("fresh@example.com", "2001:db8:1:2:ffff::1") is not None
    assert throttle.check("fresh@example.com", "2001:db8:1:3::1") is None


def test_ipv4_mapped_addresses_share_the_ipv4_counter(throttle: SignInThrottle) -> None:
    for i in range(20):
        throttle.record_failure(f"user{i}@example.com", "::ffff:198.51.100.4")
    assert throttle.check("fresh@example.com", "198.51.100.4") is not None


def test_throttle_memory_is_bounded(ticks: FakeMonotonic) -> None:
    throttle = SignInThrottle(ticks, max_failures_per_email=1, max_failures_per_ip=1, max_keys=50)
    for i in range(1000):
        throttle.record_failure(f"user{i}@example.com", f"10.0.{i // 256}.{i % 256}")
        ticks.now += 0.01
    assert throttle.tracked_emails == 50
    assert throttle.tracked_ips == 50
    # The most recent offenders are the ones kept.
    assert throttle.check("user999@example.com", None) is not None
    assert throttle.check("user0@example.com", None) is None


def test_expired_entries_are_dropped(ticks: FakeMonotonic, throttle: SignInThrottle) -> None:
    for i in range(30):
        throttle.record_failure(f"user{i}@example.com", f"10.0.0.{i}")
    assert throttle.tracked_emails == 30
    ticks.now += 900
    assert throttle.check("anyone@example.com", None) is None
    assert throttle.tracked_emails == 0
    assert throttle.tracked_ips == 0


def test_longest_wait_wins_when_email_and_ip_are_both_locked(
    ticks: FakeMonotonic, throttle: SignInThrottle
) -> None:
    for i in range(20):
        throttle.record_failure(f"user{i}@example.com", "10.0.0.1")
    ticks.now += 300
    for _ in range(5):
        throttle.record_failure("ann@example.com", "10.0.0.2")
    assert throttle.check("ann@example.com", "10.0.0.1") == pytest.approx(900.0)
    assert throttle.check("nobody@example.com", "10.0.0.1") == pytest.approx(600.0)


def test_throttle_is_thread_safe(ticks: FakeMonotonic) -> None:
    # Eight threads fail on the same fresh e-mail each round (a barrier lines them up), so
    # an unguarded get-or-create would lose failures and leave some e-mails unlocked. The
    # GIL makes such races rare, so this test can only catch a missing lock sometimes.
    workers, rounds = 8, 400
    throttle = SignInThrottle(
        ticks, max_failures_per_email=workers, max_failures_per_ip=workers * rounds
    )
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for i in range(rounds):
                barrier.wait()
                throttle.record_failure(f"round{i}@example.com", "10.9.9.9")
                throttle.check(f"round{i}@example.com", f"10.8.8.{worker}")
        except BaseException as error:  # surfaced by the assert below
            errors.append(error)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    assert throttle.tracked_emails == rounds
    unlocked = [i for i in range(rounds) if throttle.check(f"round{i}@example.com", None) is None]
    assert unlocked == []
    # The shared IP reached exactly its limit: no failure was lost there either.
    assert throttle.check("fresh@example.com", "10.9.9.9") is not None


def test_throttle_default_clock_and_configuration() -> None:
    throttle = SignInThrottle()
    for _ in range(5):
        throttle.record_failure("ann@example.com", "10.0.0.1")
    wait = throttle.check("ann@example.com", "10.0.0.1")
    assert wait is not None and 899 < wait <= 900
    with pytest.raises(ValueError):
        SignInThrottle(max_keys=0)
    with pytest.raises(ValueError):
        SignInThrottle(window_seconds=0)
