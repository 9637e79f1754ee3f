"""E-mail index stream ids must not let anyone confirm an address."""

from __future__ import annotations

from eventsourcing.cipher import AESCipher

from adapters.event_store import eventsourcing_env
from application.crowdfund import Crowdfund
from domain.email_index import email_index_id


def _app(key: str | None) -> Crowdfund:
    return Crowdfund(env=eventsourcing_env("memory://", key))


def test_with_a_key_the_index_id_cannot_be_derived_from_the_address() -> None:
    key = AESCipher.create_key(num_bytes=32)
    app = _app(key)
    user_id = app.accounts.register("Ada@Example.org", "Ada", "hash").value
    stream_ids = {n.originator_id for n in app.recorder.select_notifications(1, 10)}
    assert email_index_id("ada@example.org") not in stream_ids
    assert email_index_id("ada@example.org", key) in stream_ids
    found = app.user_by_email(" ADA@example.org ")
    assert found is not None and found.id == user_id


def test_without_a_key_lookups_still_work() -> None:
    app = _app(None)
    user_id = app.accounts.register("bob@example.org", "Bob", "hash").value
    found = app.user_by_email("bob@example.org")
    assert found is not None and found.id == user_id
    assert app.user_by_email("nobody@example.org") is None
