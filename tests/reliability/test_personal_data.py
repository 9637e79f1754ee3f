"""Personal data at rest: encrypted in the event store, never in the domain's logs,
never in what the relay would publish.

The application is built the way every entry point builds it
(`crowdfund.bootstrap.open_application` from `CROWDFUND_*` settings), once with
`CROWDFUND_CIPHER_KEY` set and once without. Then the raw bytes are searched for
distinctive personal values: the SQLite database files as they are on disk, and
every row of every table in the PostgreSQL schema through plain SQL. With the key
none may appear; without it they all must (else the search proves nothing).

(The topic itself is searched by tests/projections/test_topic.py and the running
platform's logs by tests/security/test_live_platform.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import MapperDeserialisationError

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import open_application
from crowdfund.settings import Settings
from domain.email_index import email_index_id
from domain.errors import DomainError
from domain.user import Role
from projections.envelope import encode, to_message
from projections.source import StoreLog
from tests.authenticator import enroll
from tests.conftest import START
from tests.reliability.support import POSTGRES_URL, Schema

EMAIL = "zebulon.quixotic-marchbanks@example.test"
PERSONAL = {
    "legal name": "Zebulon Quixotic-Marchbanks",
    "surname": "Quixotic-Marchbanks",
    "e-mail": EMAIL,
    "password hash": "$argon2id$v=19$m=65536,t=3,p=4$WmVidWxvbg$QuixoticHashOfZebulon",
    "date of birth": "1961-07-19",
    "annual income": "987654.32",
    "net worth": "876543.21",
    "other Reg CF investments": "1234.56",
}


class Store:
    """Where the events go, and how to read every stored byte without the application."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.schema: Schema | None = None
        if kind == "sqlite":
            self.directory = tmp_path / "store"
            self.url = f"sqlite:///{self.directory / 'events.db'}"
        else:
            self.schema = Schema(POSTGRES_URL)
            self.url = self.schema.url

    def raw_bytes(self) -> bytes:
        if self.schema is None:  # the database files themselves, journal included
            return b"".join(p.read_bytes() for p in sorted(self.directory.iterdir()))
        found = []
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            tables = [row[0] for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [self.schema.name],
            )]
            assert any(t.endswith("_events") for t in tables), tables
            for table in tables:
                query = f'SELECT * FROM "{self.schema.name}"."{table}"'
                for row in conn.execute(query):  # type: ignore[call-overload]
                    found += [as_bytes(value) for value in row]
        return b"\n".join(found)

    def close(self) -> None:
        if self.schema is not None:
            self.schema.drop()


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
    made = Store(request.param, tmp_path)
    yield made
    made.close()


def open_platform(store: Store, key: str | None, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Crowdfund:
    """The application as `crowdfund api` and the workers build it, from the environment."""
    monkeypatch.setenv("CROWDFUND_DATABASE_URL", store.url)
    monkeypatch.setenv("CROWDFUND_DATA_DIR", str(tmp_path / "data"))
    if key is None:
        monkeypatch.delenv("CROWDFUND_CIPHER_KEY", raising=False)
    else:
        monkeypatch.setenv("CROWDFUND_CIPHER_KEY", key)
    return open_application(Settings(), SettableClock(START), dev=False)


def investor_with_a_past(app: Crowdfund) -> UUID:
    """Zebulon registers, declares his finances, is verified, and his user stream is
    snapshotted (so that snapshots are searched too). Refused attempts that carry his
    data must not repeat it in their messages."""
    admin = app.accounts.register("admin@example.test", "Admin", "$argon2id$admin",
                              (Role.BACKER, Role.ADMIN)).value
    officer = app.accounts.register("officer@example.test", "Officer", "$argon2id$officer").value
    enroll(app, admin)
    app.accounts.grant_role(admin, officer, Role.RISK_OFFICER)
    enroll(app, officer)
    zebulon = app.accounts.register(EMAIL, "Zeb", PERSONAL["password hash"]).value
    profile = {
        "legal_name": PERSONAL["legal name"], "date_of_birth": PERSONAL["date of birth"],
        "country": "GB", "annual_income": PERSONAL["annual income"],
        "net_worth": PERSONAL["net worth"],
        "other_reg_cf_investments_12m": PERSONAL["other Reg CF investments"],
        "knowledge_test_passed": True,
    }
    mistakes = [
        {"legal_name": PERSONAL["legal name"] * 10},
        {"date_of_birth": f"{PERSONAL['date of birth']} {PERSONAL['legal name']}"},
        {"annual_income": PERSONAL["annual income"] + "9"},
        {"net_worth": "-" + PERSONAL["net worth"]},
        {"country": PERSONAL["surname"]},
    ]
    for mistake in mistakes:
        with pytest.raises(DomainError) as refused:
            app.accounts.submit_investor_profile(zebulon, **{**profile, **mistake})
        assert not leaked(str(refused.value).encode()), (mistake, str(refused.value))
    with pytest.raises(DomainError) as taken:
        app.accounts.register(EMAIL.upper(), "Zeb again", "$argon2id$other")
    assert not leaked(str(taken.value).encode()), str(taken.value)
    app.accounts.submit_investor_profile(zebulon, **profile)
    app.accounts.verify_investor(officer, zebulon)
    app.take_snapshot(zebulon)
    # The application itself still reads it all back.
    user = app.user(zebulon)
    assert user.profile is not None and user.profile.legal_name == PERSONAL["legal name"]
    assert app.user_by_email(EMAIL) is not None
    return zebulon


def leaked(data: bytes) -> list[str]:
    return [what for what, value in PERSONAL.items() if value.encode() in data]


def relayed_bytes(app: Crowdfund) -> tuple[bytes, set[str]]:
    """Every event as the relay would publish it (its envelope, encoded), and the types."""
    log = StoreLog(app)
    messages, types = [], set()
    for notification in log.read(0, 10_000):
        record = log.record(notification)
        types.add(record.type)
        messages.append(encode(to_message(record, 4, 0)))
    return b"\n".join(messages), types


def test_personal_data_is_encrypted_at_rest(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    app = open_platform(store, AESCipher.create_key(num_bytes=32), tmp_path, monkeypatch)
    investor_with_a_past(app)
    stream_ids = {n.originator_id for n in app.recorder.select_notifications(1, 10_000)}
    relayed, types = relayed_bytes(app)
    app.close()

    assert leaked(store.raw_bytes()) == []
    # The e-mail index's stream id (a Kafka key, shown to auditors) is keyed too: it
    # cannot be recomputed from a candidate address to learn that it has an account.
    assert email_index_id(EMAIL) not in stream_ids
    assert "InvestorProfileSubmitted" in types and "UserRegistered" in types
    assert leaked(relayed) == []
    printed = capfd.readouterr()
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    ) + printed.out + printed.err
    assert leaked(logged.encode()) == []


def test_without_a_key_the_search_finds_everything(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same search on an unencrypted store finds every value, so the
    test above fails when encryption is off."""
    app = open_platform(store, None, tmp_path, monkeypatch)
    investor_with_a_past(app)
    relayed, _ = relayed_bytes(app)
    app.close()

    assert sorted(leaked(store.raw_bytes())) == sorted(PERSONAL)
    assert leaked(relayed) == []  # the envelope drops personal fields either way


def test_each_key_reads_only_its_own_data(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encrypted with one key, the store cannot be read with another (nor without one)."""
    app = open_platform(store, AESCipher.create_key(num_bytes=32), tmp_path, monkeypatch)
    zebulon = investor_with_a_past(app)
    app.close()
    other = open_platform(store, AESCipher.create_key(num_bytes=32), tmp_path, monkeypatch)
    try:
        with pytest.raises(MapperDeserialisationError):  # the cipher's tag does not match
            other.user(zebulon)
    finally:
        other.close()
