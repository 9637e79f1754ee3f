"""crowdfund.audit: streams with global positions, the log, hash chains, as-of replays.

Runs on both event stores (the `store` fixture): the positions come from raw SQL
that differs between SQLite (rowid) and PostgreSQL (notification_id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.cipher import AESCipher

from application.audit import (
    UNDECODABLE,
    audit_trail,
    campaign_as_of,
    event_log,
    events_at,
    stream_export,
    verify_chains,
)
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.campaign import CampaignStatus
from domain.chain import hash_of
from domain.errors import NotFoundError
from tests.conftest import Store
from tests.scenario import Staff, live_campaign, pledge, staff, verified_backer


@dataclass(frozen=True)
class History:
    team: Staff
    alice: UUID
    bob: UUID
    campaign: UUID
    first: UUID
    second: UUID
    after_first: datetime


def _history(app: Crowdfund, clock: SettableClock) -> History:
    """Staff, two backers, a live campaign and two pledges an hour apart."""
    team = staff(app)
    alice = verified_backer(app, team)
    bob = verified_backer(app, team)
    campaign = live_campaign(app, team)
    clock.advance(hours=1)
    first = pledge(app, alice, campaign, "500.00")
    after_first = clock.now()
    clock.advance(hours=1)
    second = pledge(app, bob, campaign, "300.00")
    return History(team, alice, bob, campaign, first, second, after_first)


def _position_of(app: Crowdfund, stream_id: object, version: int) -> int:
    return next(e.position for e in audit_trail(app, str(stream_id)) if e.version == version)


def test_trail_has_global_positions_and_chained_hashes(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    trail = audit_trail(app, str(h.campaign))

    assert [e.version for e in trail] == list(range(1, len(trail) + 1))
    assert [e.type for e in trail] == [
        "CampaignDrafted", "IssuerAssigned", "DocumentUploaded", "CampaignSubmitted",
        "CampaignApproved", "CampaignLaunched", "PledgeAccepted", "PledgeAccepted",
    ]
    assert {e.stream_type for e in trail} == {"Campaign"}
    assert {e.stream_id for e in trail} == {str(h.campaign)}
    # The positions are the global log's: the same events, found there at those positions.
    log = {n.id: n for n in app.recorder.select_notifications(1, 10_000)}
    for event in trail:
        stored = log[event.position]
        assert str(stored.originator_id) == event.stream_id
        assert stored.originator_version == event.version
    assert [e.position for e in trail] == sorted(e.position for e in trail)
    # Hash chain: genesis first (no previous event), then each links to its predecessor.
    assert trail[0].prev_hash is None
    for before, after in pairwise(trail):
        assert after.prev_hash == before.hash
    accepted = trail[6]
    assert accepted.payload["amount"] == "500.00"
    assert accepted.payload["pledge_id"] == str(h.first)
    assert accepted.to_json()["streamType"] == "Campaign"
    assert accepted.occurred_at is not None
    assert accepted.to_json()["occurredAt"] == accepted.occurred_at.isoformat()


def test_trail_of_unknown_and_malformed_streams(app: Crowdfund) -> None:
    assert audit_trail(app, str(uuid4())) == []
    with pytest.raises(NotFoundError):
        audit_trail(app, "not-a-stream-id")


def test_as_of_cuts_the_trail_and_the_campaign(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    drafted_before = clock.now() - timedelta(seconds=1)
    h = _history(app, clock)
    campaign = str(h.campaign)
    cut = h.after_first
    trail = audit_trail(app, campaign, as_of=cut)
    assert [e.type for e in trail][-1] == "PledgeAccepted"
    assert len([e for e in trail if e.type == "PledgeAccepted"]) == 1
    assert all(e.occurred_at is not None and e.occurred_at <= cut for e in trail)

    assert campaign_as_of(app, campaign, drafted_before) is None
    then = campaign_as_of(app, campaign, cut)
    assert then is not None
    assert then.campaign.status is CampaignStatus.LIVE
    assert (then.raised, then.backer_count) == (Decimal("500.00"), 1)
    now = campaign_as_of(app, campaign, clock.now())
    assert now is not None
    assert (now.raised, now.backer_count) == (Decimal("800.00"), 2)
    assert now.version == len(audit_trail(app, campaign))


def test_as_of_counts_released_and_settled_pledges(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    campaign = str(h.campaign)
    app.pledges.cancel(h.bob, h.second)
    after_cancel = clock.now()
    clock.advance(minutes=5)
    extra = pledge(app, h.alice, h.campaign, "600.00")
    assert extra
    deadline = app.campaign(campaign).terms.deadline
    clock.set(deadline)
    app.due.run()
    assert app.campaign(campaign).status is CampaignStatus.SETTLED

    cancelled = campaign_as_of(app, campaign, after_cancel)
    assert cancelled is not None
    assert (cancelled.raised, cancelled.backer_count) == (Decimal("500.00"), 1)
    settled = campaign_as_of(app, campaign, deadline)
    assert settled is not None
    assert settled.campaign.status is CampaignStatus.SETTLED
    # Settled pledges still count: raised is open plus released-to-issuer funds.
    assert (settled.raised, settled.backer_count) == (Decimal("1100.00"), 1)


def test_as_of_needs_an_offset(app: Crowdfund) -> None:
    with pytest.raises(ValueError, match="timezone"):
        campaign_as_of(app, str(uuid4()), datetime(2027, 3, 1, 12, 0))


def test_campaign_as_of_other_stream_is_none(app: Crowdfund, clock: SettableClock) -> None:
    team = staff(app)
    assert campaign_as_of(app, str(team.founder), clock.now()) is None


def test_event_log_pages_through_the_whole_log(app: Crowdfund, clock: SettableClock) -> None:
    _history(app, clock)
    head = app.head_position()
    seen: list[int] = []
    after = 0
    while True:
        events, next_position, reported_head = event_log(app, after, 7)
        assert reported_head == head
        assert len(events) <= 7
        seen += [e.position for e in events]
        if next_position is None:
            break
        assert next_position == events[-1].position
        after = next_position
    assert seen == [n.id for n in app.recorder.select_notifications(1, 10_000)]
    assert seen[-1] == head
    assert event_log(app, head, 10) == ([], None, head)


def test_verify_chains_ok(store: Store, app: Crowdfund, clock: SettableClock) -> None:
    _history(app, clock)
    result = verify_chains(app)
    assert result.ok and result.first_bad_position is None
    assert result.checked_events == store.event_count()


def test_tampered_payload_is_found_at_its_position(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    campaign = h.campaign
    trail = audit_trail(app, str(campaign))
    version = next(e.version for e in trail if e.type == "PledgeAccepted")
    state = dict((v, s) for v, _, s in store.rows(campaign))[version]
    assert b"500.00" in state
    store.set_state(campaign, version, state.replace(b"500.00", b"900.00"))

    fresh = store.open(clock)  # no cache: reads what is stored now
    result = verify_chains(fresh)
    assert not result.ok
    assert result.first_bad_position == _position_of(fresh, campaign, version)
    assert result.checked_events == store.event_count()
    # The tampered event still decodes, but its recomputed hash no longer matches.
    tampered = next(e for e in audit_trail(fresh, str(campaign)) if e.version == version)
    assert tampered.payload["amount"] == "900.00"


def test_first_of_two_tampered_events_is_reported(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    later, earlier = h.second, h.first
    for pledge_id in (later, earlier):  # tamper the later one first: order must not matter
        _, _, state = store.rows(pledge_id)[0]
        store.set_state(pledge_id, 1, state.replace(b"00.00", b"01.00"))
    fresh = store.open(clock)
    assert verify_chains(fresh).first_bad_position == _position_of(fresh, earlier, 1)


def test_deleted_event_breaks_the_link_of_the_next(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    campaign = h.campaign
    store.execute(
        "DELETE FROM {events} WHERE originator_id = %s AND originator_version = 3",
        [store.stream_key(campaign)],
    )
    fresh = store.open(clock)
    assert verify_chains(fresh).first_bad_position == _position_of(fresh, campaign, 4)


def test_undecodable_ciphertext_is_bad_and_still_listed(
    store: Store, clock: SettableClock
) -> None:
    key = AESCipher.create_key(num_bytes=32)
    app = store.open(clock, cipher_key=key)
    h = _history(app, clock)
    user = h.alice
    _, _, state = store.rows(user)[0]
    flipped = state[:-5] + bytes([state[-5] ^ 0x01]) + state[-4:]
    store.set_state(user, 1, flipped)

    fresh = store.open(clock, cipher_key=key)
    position = _position_of(fresh, user, 1)
    assert verify_chains(fresh).first_bad_position == position
    broken = next(e for e in audit_trail(fresh, str(user)) if e.version == 1)
    assert broken.type == UNDECODABLE and broken.occurred_at is None
    events, _, _ = event_log(fresh, position - 1, 1)
    assert events[0].type == UNDECODABLE
    # Every intact event still verifies: recomputed hashes match the stored ones.
    assert all(e.type != UNDECODABLE for e in audit_trail(fresh, str(h.campaign)))


def test_hash_of_matches_what_the_trail_reports(app: Crowdfund, clock: SettableClock) -> None:
    h = _history(app, clock)
    for stored in app.recorder.select_events(h.campaign):
        event: Any = app.mapper.to_domain_event(stored)
        assert hash_of(event) == event.hash



def test_events_at_reads_chosen_positions_in_order(
    store: Store, app: Crowdfund, clock: SettableClock, memory_app: Crowdfund
) -> None:
    """What a filtered log page reads from the store: the events at given positions, the
    same as the log has there, in position order (duplicates and unknown ones dropped)."""
    for subject in (app, memory_app):
        _history(subject, clock)
        log, _, head = event_log(subject, 0, 1000)
        by_position = {e.position: e for e in log}
        chosen = [log[5].position, log[1].position, log[-1].position, log[1].position,
                  head + 10, 0]
        found = events_at(subject, chosen)
        assert found == [by_position[p] for p in sorted({log[1].position, log[5].position,
                                                         log[-1].position})]
        assert events_at(subject, []) == []


def test_the_export_is_json_lines_of_the_trail(
    store: Store, app: Crowdfund, clock: SettableClock
) -> None:
    h = _history(app, clock)
    campaign = str(h.campaign)
    whole = stream_export(app, campaign)
    assert whole is not None and whole.text.endswith("\n")
    assert whole.events == audit_trail(app, campaign)
    assert [json.loads(line) for line in whole.text.splitlines()] == [
        e.to_json() for e in whole.events]
    cut = stream_export(app, campaign, h.after_first)
    assert cut is not None and cut.events == audit_trail(app, campaign, h.after_first)
    assert [json.loads(line) for line in cut.text.splitlines()] == [
        e.to_json() for e in cut.events]
    early = stream_export(app, campaign, h.after_first - timedelta(days=1))
    assert early is not None and (early.events, early.text) == ([], "")
    assert stream_export(app, str(uuid4())) is None
