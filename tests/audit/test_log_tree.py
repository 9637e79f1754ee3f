"""The tamper-evident log on SQLite and PostgreSQL: the stored tree equals a rebuild from
the log, heads are signed and their proofs verify, and every kind of tampering done with
raw SQL after a head was saved is named by position (`application.head_check`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from uuid import UUID

import pytest

from adapters.signing import load_signer, new_signing_key, verify_signature
from application.audit import audit_trail, event_log, verify_chains
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.head_check import Finding, check_head
from application.transparency import (
    TreeHead,
    consistency_proof,
    grow_fully,
    grow_tree,
    inclusion_proof,
    rebuild_tree,
    receipt,
    register_key,
    sign_head,
)
from crowdfund.bootstrap import read_model_url
from crowdfund.settings import Settings
from domain import merkle
from domain.errors import ValidationError
from projections.log_tree import SqlLogTree
from tests.conftest import START, Store
from tests.scenario import live_campaign, pledge, staff, verified_backer

SIGNER = load_signer(new_signing_key())


@dataclass(frozen=True)
class History:
    campaign: UUID
    alice: UUID
    bob: UUID
    first_pledge: UUID


def history(app: Crowdfund, clock: SettableClock) -> History:
    team = staff(app)
    alice = verified_backer(app, team)
    bob = verified_backer(app, team)
    campaign = live_campaign(app, team)
    clock.advance(hours=1)
    first = pledge(app, alice, campaign, "500.00")
    pledge(app, bob, campaign, "300.00")
    pledge(app, alice, campaign, "200.00")
    return History(campaign, alice, bob, first)


@pytest.fixture
def tree(store: Store) -> Iterator[SqlLogTree]:
    settings = Settings(database_url=store.url, data_dir=store.directory)
    built = SqlLogTree(read_model_url(settings), writer=True)
    yield built
    built.close()


def saved_head(app: Crowdfund, tree: SqlLogTree) -> TreeHead:
    grow_fully(app, tree)
    register_key(tree, SIGNER, START)
    head = sign_head(tree, SIGNER, START)
    assert head is not None and head.size == app.head_position()
    return TreeHead.from_json(head.to_json())  # as a witness keeps it


def positions(app: Crowdfund, stream: UUID) -> list[int]:
    return [e.position for e in audit_trail(app, stream)]


def verify_proof(head: TreeHead, position: int, path: list[str], leaf: str) -> bool:
    return merkle.verify_inclusion(position - 1, head.size, bytes.fromhex(leaf),
                                   [bytes.fromhex(h) for h in path],
                                   bytes.fromhex(head.root_hash))


# --- the tree, its heads and proofs ----------------------------------------------------------


def test_the_stored_tree_equals_a_rebuild_from_the_log(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    team = staff(app)
    campaign = live_campaign(app, team)
    backers = [verified_backer(app, team) for _ in range(3)]
    for round_ in range(3):  # the tree grows in small batches while the log grows
        if store.is_postgres:  # a rolled-back transaction's id: a vacant position
            store.execute(f"SELECT nextval(pg_get_serial_sequence("
                          f"'{store.events_table}', 'notification_id'))")
        for backer in backers:
            pledge(app, backer, campaign, "100.00")
        while grow_tree(app, tree, batch=7):
            pass
        assert tree.size() == app.head_position(), round_
    rebuilt = rebuild_tree(app)
    assert rebuilt.size() == tree.size()
    assert rebuilt.all_nodes() == tree.all_nodes()
    assert len(tree.all_nodes()) == 2 * tree.size() - bin(tree.size()).count("1")
    held = {n.id for n in app.recorder.select_notifications(1, 10_000)}
    vacant = sorted(set(range(1, tree.size() + 1)) - held)
    assert len(vacant) == (3 if store.is_postgres else 0)
    for position in vacant:
        assert tree.nodes([(0, position - 1)])[(0, position - 1)] == merkle.leaf_hash(
            merkle.VACANT)


def test_heads_are_signed_and_proofs_verify(
    app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    old = saved_head(app, tree)
    pledge(app, h.bob, h.campaign, "100.00")
    grow_fully(app, tree)
    new = sign_head(tree, SIGNER, START)
    assert new is not None and new.size > old.size
    assert verify_signature(SIGNER.public_key_pem, new.message, bytes.fromhex(new.signature))
    assert sign_head(tree, SIGNER, START) is None  # nothing new to sign
    assert tree.latest_head() == new
    events, _, _ = event_log(app, 0, 1000)
    hashes = {e.position: e.hash for e in events}
    for position in (1, old.size, new.size):
        proof = inclusion_proof(tree, position)
        assert proof.tree_size == new.size
        expected_leaf = merkle.leaf_hash(bytes.fromhex(hashes[position])).hex()
        assert proof.leaf_hash == expected_leaf
        assert verify_proof(new, position, proof.path, proof.leaf_hash)
    consistency = consistency_proof(tree, old.size)
    assert merkle.verify_consistency(
        old.size, new.size, bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash),
        [bytes.fromhex(x) for x in consistency.path],
    )
    with pytest.raises(ValidationError):
        inclusion_proof(tree, new.size + 1)
    with pytest.raises(ValidationError):
        consistency_proof(tree, 1, new.size + 5)
    # A receipt: the head covering the position and the proof within it.
    given = receipt(tree, positions(app, h.first_pledge)[0])
    assert given is not None and given.head == new
    assert verify_proof(new, given.proof.position, given.proof.path, given.proof.leaf_hash)
    assert receipt(tree, new.size + 1) is None


# --- tampering, named by position against a saved head ----------------------------------------


def check(app: Crowdfund, tree: SqlLogTree, head: TreeHead) -> tuple[Finding, int | None]:
    result = check_head(app, tree, head, verify_signature)
    return result.finding, result.position


def test_an_untouched_log_holds_every_saved_head(
    app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    first = saved_head(app, tree)
    pledge(app, h.bob, h.campaign, "100.00")
    grow_fully(app, tree)
    assert check(app, tree, first) == (Finding.CONSISTENT, None)
    forged = TreeHead(first.size, first.root_hash, first.at, "00" * 64, first.key_id)
    assert check(app, tree, forged)[0] is Finding.BAD_SIGNATURE
    stranger = TreeHead(first.size, first.root_hash, first.at, first.signature, "0123abcd")
    assert check(app, tree, stranger)[0] is Finding.UNKNOWN_KEY


def test_deleting_the_newest_event_of_a_stream(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    head = saved_head(app, tree)
    newest = positions(app, h.campaign)[-1]
    store.execute(f"DELETE FROM {{events}} WHERE {id_column(store)} = %s", [newest])
    assert verify_chains(app).ok  # a stream's chain cannot see its own end cut off
    assert check(app, tree, head) == (Finding.MISSING, newest)


def test_deleting_a_whole_stream(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    head = saved_head(app, tree)
    first = positions(app, h.first_pledge)[0]
    store.execute("DELETE FROM {events} WHERE originator_id = %s",
                  [store.stream_key(h.first_pledge)])
    assert check(app, tree, head) == (Finding.MISSING, first)


def test_truncating_the_log(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    history(app, clock)
    head = saved_head(app, tree)
    cut = head.size - 5
    store.execute(f"DELETE FROM {{events}} WHERE {id_column(store)} > %s", [cut])
    assert verify_chains(app).ok
    assert check(app, tree, head) == (Finding.MISSING, cut + 1)


def test_swapping_two_events(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    history(app, clock)
    head = saved_head(app, tree)
    notes = app.recorder.select_notifications(1, head.size)
    # Two neighbours of different streams: each stream's own order stays intact.
    p, q = next((a.id, b.id) for a, b in pairwise(notes[5:])
                if a.originator_id != b.originator_id)
    column = id_column(store)
    for old, new in ((p, -1), (q, p), (-1, q)):
        store.execute(f"UPDATE {{events}} SET {column} = %s WHERE {column} = %s", [new, old])
    assert verify_chains(app).ok  # per-stream chains cannot see it
    result = check_head(app, tree, head, verify_signature)
    assert (result.finding, result.position, result.was_at) == (Finding.OUT_OF_ORDER, p, q)


def test_editing_one_event(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    head = saved_head(app, tree)
    position = positions(app, h.first_pledge)[0]
    (version, _, state), *_ = store.rows(h.first_pledge)
    assert b'"500.00"' in state
    store.set_state(h.first_pledge, version, state.replace(b'"500.00"', b'"900.00"'))
    assert verify_chains(app).first_bad_position == position
    assert check(app, tree, head) == (Finding.CHANGED, position)


def test_a_rewritten_stored_tree_cannot_hide_tampering(
    store: Store, app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    """Whoever also rebuilds the stored tree from the tampered log still fails the head."""
    history(app, clock)
    head = saved_head(app, tree)
    store.execute(f"DELETE FROM {{events}} WHERE {id_column(store)} = %s", [3])
    with tree.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM log_tree_nodes")
        conn.exec_driver_sql("UPDATE log_tree SET size = 0")
    grow_fully(app, tree)
    assert check(app, tree, head) == (Finding.UNLOCATED, None)


def id_column(store: Store) -> str:
    return "notification_id" if store.is_postgres else "rowid"


def test_keys_rotate_and_stay_listed(
    app: Crowdfund, clock: SettableClock, tree: SqlLogTree
) -> None:
    h = history(app, clock)
    old = saved_head(app, tree)
    rotated = load_signer(new_signing_key())
    later = START.replace(hour=13)
    register_key(tree, rotated, later)
    pledge(app, h.bob, h.campaign, "100.00")
    grow_fully(app, tree)
    new = sign_head(tree, rotated, later)
    assert new is not None and new.key_id == rotated.key_id != old.key_id
    listed = {k.key_id: k for k in tree.log_keys()}
    assert set(listed) == {SIGNER.key_id, rotated.key_id}  # the retired key stays listed
    assert "PRIVATE" not in listed[SIGNER.key_id].public_key_pem
    for head in (old, new):
        assert check(app, tree, head) == (Finding.CONSISTENT, None)
    register_key(tree, rotated, later)  # idempotent
    assert len(tree.log_keys()) == 2
