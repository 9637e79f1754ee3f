"""Every event carries a hash of its content chained to the previous event of its stream:
tampering with a stored event (by raw SQL on the real table) is detected."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.cipher import AESCipher

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.chain import GENESIS, hash_of
from tests.conftest import Store
from tests.scenario import chain_break, live_campaign, pledge, staff, verified_backer


def all_streams(app: Crowdfund) -> list[UUID]:
    seen: dict[UUID, None] = {}
    for notification in app.recorder.select_notifications(1, 100_000):
        seen[app.mapper.to_domain_event(notification).originator_id] = None
    return list(seen)


def busy_platform(app: Crowdfund, clock: SettableClock) -> tuple[UUID, UUID, UUID]:
    team = staff(app)
    backer = verified_backer(app, team)
    cid = live_campaign(app, team, min_target="500.00")
    pid = pledge(app, backer, cid, "500.00")
    pledge(app, backer, cid, "300.00")
    app.offerings.amend(team.founder, cid, {"summary": "Material change."})
    app.pledges.reconfirm(backer, pid)
    clock.set(app.campaign(cid).terms.deadline)
    app.due.run()
    app.offerings.declare_distribution(team.founder, cid, "10.00")
    return backer, cid, pid


def edit_state(store: Store, stream: UUID, version: int, change: Any) -> None:
    """Rewrite one stored event's JSON state with raw SQL, as an intruder with DB access would."""
    rows = {v: state for v, _, state in store.rows(stream)}
    state = json.loads(rows[version])
    change(state)
    store.set_state(stream, version, json.dumps(state, separators=(",", ":")).encode())


def version_of(app: Crowdfund, stream: UUID, type_name: str) -> int:
    return next(e.originator_version for e in app.events.get(stream)
                if type(e).__name__ == type_name)


def test_every_stream_verifies_and_links_to_its_previous_event(
    app: Crowdfund, clock: SettableClock
) -> None:
    busy_platform(app, clock)
    streams = all_streams(app)
    assert len(streams) > 8  # users, e-mail index, campaign, pledges, cap table, calendar
    for stream in streams:
        events = list(app.events.get(stream))
        assert events[0].prev_hash == GENESIS  # type: ignore[attr-defined]
        for before, after in pairwise(events):
            assert after.prev_hash == before.hash  # type: ignore[attr-defined]
        assert all(hash_of(e) == e.hash for e in events)  # type: ignore[attr-defined]
        assert chain_break(app, stream) is None
    assert len({e.hash for s in streams for e in app.events.get(s)}) == sum(  # type: ignore[attr-defined]
        len(list(app.events.get(s))) for s in streams
    )


def test_a_changed_amount_no_longer_matches_its_hash(
    store: Store, clock: SettableClock
) -> None:
    app = store.open(clock)
    backer, cid, _ = busy_platform(app, clock)
    version = version_of(app, cid, "PledgeAccepted")

    def richer(state: dict[str, Any]) -> None:
        assert state["amount"] == {"_type_": "decimal_str", "_data_": "500.00"}
        state["amount"]["_data_"] = "5.00"

    edit_state(store, cid, version, richer)
    fresh = store.open(clock)  # nothing cached: reads what is stored now
    event: Any = next(e for e in fresh.events.get(cid) if e.originator_version == version)
    assert str(event.amount) == "5.00"
    assert hash_of(event) != event.hash
    assert chain_break(fresh, cid) == version
    assert chain_break(fresh, backer) is None  # other streams are untouched


def test_a_recomputed_hash_breaks_the_link_to_the_next_event(
    store: Store, clock: SettableClock
) -> None:
    app = store.open(clock)
    backer, _, _ = busy_platform(app, clock)
    version = version_of(app, backer, "InvestmentCommitted")
    original: Any = next(e for e in app.events.get(backer) if e.originator_version == version)
    forged_hash: list[str] = []

    def forge(state: dict[str, Any]) -> None:
        state["amount"]["_data_"] = "1.00"
        # The intruder also recomputes this event's own hash...
        fake = type(original)(**{**original.__dict__, "amount": original.amount / 500})
        forged_hash.append(hash_of(fake))
        state["hash"] = forged_hash[0]

    edit_state(store, backer, version, forge)
    fresh = store.open(clock)
    events: list[Any] = list(fresh.events.get(backer))
    tampered = next(e for e in events if e.originator_version == version)
    assert hash_of(tampered) == tampered.hash == forged_hash[0]  # ...so it verifies alone,
    following = next(e for e in events if e.originator_version == version + 1)
    assert following.prev_hash == original.hash != tampered.hash  # but the chain breaks.
    assert chain_break(fresh, backer) == version + 1


def test_a_backdated_timestamp_is_detected(store: Store, clock: SettableClock) -> None:
    app = store.open(clock)
    _, cid, pid = busy_platform(app, clock)

    def backdate(state: dict[str, Any]) -> None:
        state["timestamp"]["_data_"] = "2027-02-01T12:00:00+00:00"

    edit_state(store, pid, 1, backdate)
    fresh = store.open(clock)
    assert chain_break(fresh, pid) == 1
    assert chain_break(fresh, cid) is None


def test_a_deleted_event_is_detected(store: Store, clock: SettableClock) -> None:
    app = store.open(clock)
    backer, _, _ = busy_platform(app, clock)
    version = version_of(app, backer, "InvestorVerified")
    store.execute(
        "DELETE FROM {events} WHERE originator_id = %s AND originator_version = %s",
        [store.stream_key(backer), version],
    )
    assert chain_break(store.open(clock), backer) == version


def test_with_a_cipher_key_personal_data_is_unreadable_and_tampering_fails_loudly(
    store: Store, clock: SettableClock
) -> None:
    key = AESCipher.create_key(num_bytes=32)
    app = store.open(clock, cipher_key=key)
    team = staff(app)
    backer = verified_backer(app, team)
    assert app.user(backer).profile.legal_name == "Test Investor"  # type: ignore[union-attr]
    states = [state for _, _, state in store.rows(backer)]
    assert not any(b"Test Investor" in s or b"50000" in s for s in states)
    # Flip one byte of the ciphertext of the profile event: authenticated encryption
    # refuses to decrypt it, so a tampered record can never be read as valid.
    version, _, state = store.rows(backer)[1]
    store.set_state(backer, version, state[:-5] + bytes([state[-5] ^ 0x01]) + state[-4:])
    fresh = store.open(clock, cipher_key=key)
    with pytest.raises(ValueError):
        fresh.user(backer)
