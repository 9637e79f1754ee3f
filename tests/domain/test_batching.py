"""Group commit changes nothing but speed: `pledge_many` and the `PledgeDesk` give
every pledge exactly the answer, and the store exactly the events, that one
`pledge` at a time would have given, in arrival order.

The equivalence tests copy one prepared SQLite store twice, replay the same
command sequence one by one on the first copy and as one batch on the second,
and compare answers (ids, error types, codes, attributes, positions) and the
stored rows byte for byte. The PostgreSQL tests race real threads, and two
application instances, through desks at the max target and at a backer's cap.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledge_desk import PledgeDesk
from application.pledges import PledgeRequest
from application.unit_of_work import Written
from crowdfund.bootstrap import open_application
from crowdfund.settings import Settings
from domain.chain import hash_of
from domain.errors import DomainError
from domain.pledge import pledge_id_for
from domain.rulebook import Regime
from tests.conftest import START, Store
from tests.scenario import (
    Staff,
    draft_campaign,
    live_campaign,
    register,
    staff,
    submit_profile,
    verified_backer,
)

D = Decimal
PLEDGE_TIME = START + timedelta(hours=1)
Answer = tuple[Any, ...]


# A prepared world, copied for each comparison ----------------------------------------


@dataclass(frozen=True)
class World:
    """Who and what the generated pledges refer to, in a SQLite file."""

    path: Path
    backers: dict[str, UUID]
    campaigns: dict[str, UUID]


def open_on(url: str, clock: SettableClock | None = None) -> Crowdfund:
    """An application on a SQLite file, as production builds it."""
    directory = Path(url.removeprefix("sqlite:///")).parent
    return open_application(Settings(database_url=url, data_dir=directory), clock)


def build_world(path: Path) -> World:
    url = f"sqlite:///{path}"
    app = open_on(url, SettableClock(START))
    team = staff(app)
    backers = {
        # Reg CF limit 2,500.00 (income and net worth 50,000.00).
        "capped": verified_backer(app, team),
        # 2,000.00 invested elsewhere: 500.00 of room left.
        "nearly_capped": verified_backer(app, team, other_reg_cf_investments_12m="2000.00"),
        "accredited": verified_backer(app, team, accredited=True),
        # ECSP: risk acknowledgement above max(1,000, 5% of EUR 50,000) = 2,500.00.
        "retail": verified_backer(app, team, country="DE"),
        "no_knowledge_test": verified_backer(app, team, knowledge_test_passed=False),
        "sophisticated": verified_backer(app, team, sophisticated=True),
        "kyc_pending": _pending_backer(app),
    }
    campaigns = {
        "reg_cf": live_campaign(app, team, max_target="3000.00"),
        "ecsp": live_campaign(app, team, regime=Regime.ECSP, max_target="6000.00"),
        "draft": draft_campaign(app, team),
    }
    app.close()
    return World(path, backers, campaigns)


def _pending_backer(app: Crowdfund) -> UUID:
    backer = register(app, "pending")
    submit_profile(app, backer)
    return backer


def open_copy(world: World, path: Path) -> Crowdfund:
    """A new application on a byte-for-byte copy of the world's store."""
    with sqlite3.connect(world.path) as source, sqlite3.connect(path) as target:
        source.backup(target)
    url = f"sqlite:///{path}"
    return open_on(url, SettableClock(PLEDGE_TIME))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world") / "world.db")


@pytest.fixture
def copies(world: World, tmp_path: Path) -> Iterator[tuple[Crowdfund, Crowdfund]]:
    alone, batched = open_copy(world, tmp_path / "alone.db"), open_copy(world, tmp_path / "b.db")
    yield alone, batched
    alone.close()
    batched.close()


# Answers and rows, in a form that compares everything that matters ---------------------


def answer_of(result: Written[UUID] | DomainError) -> Answer:
    if isinstance(result, DomainError):
        attributes = {k: v for k, v in vars(result).items() if k != "__traceback__"}
        return ("error", type(result).__name__, result.code, str(result), attributes)
    return ("ok", result.value)


def one_by_one(
    app: Crowdfund, requests: Sequence[PledgeRequest]
) -> list[Written[UUID] | DomainError]:
    results: list[Written[UUID] | DomainError] = []
    for r in requests:
        try:
            results.append(app.pledges.place(
                r.backer_id, r.campaign_id, r.amount, r.idempotency_key, r.acknowledge_risk))
        except DomainError as error:
            results.append(error)
    return results


def rows_after(app: Crowdfund, position: int) -> list[tuple[Any, ...]]:
    return [
        (n.id, n.originator_id, n.originator_version, n.topic, n.state)
        for n in app.recorder.select_notifications(position + 1, 1_000_000)
    ]


def assert_same_processing(
    alone_app: Crowdfund, batch_app: Crowdfund, requests: Sequence[PledgeRequest]
) -> list[Written[UUID] | DomainError]:
    """Replay `requests` both ways; everything a caller or a reader can see must agree."""
    head = alone_app.head_position()
    assert batch_app.head_position() == head
    alone = one_by_one(alone_app, requests)
    batched = batch_app.pledges.place_many(requests)
    assert [answer_of(r) for r in batched] == [answer_of(r) for r in alone]
    # Positions: a new pledge's is the id of its own last event, the same both ways
    # (the batch writes each pledge's events together, in arrival order). A repeated
    # key's answer points at or after the first pledge's events.
    first_position: dict[UUID, int] = {}
    for a, b in zip(alone, batched, strict=True):
        if isinstance(a, DomainError):
            continue
        assert isinstance(b, Written)
        if a.value not in first_position:
            assert b.position == a.position
            first_position[a.value] = a.position
        else:
            assert b.position >= first_position[a.value]
    # The stored rows, byte for byte: same events, versions, hashes, timestamps, order.
    assert rows_after(batch_app, head) == rows_after(alone_app, head)
    return batched


# Equivalence: generated sequences -------------------------------------------------------

AMOUNTS = ["100.00", "250.00", "500.00", "1000.00", "2500.00", "2600.00", "3000.00",
           "105.00", "50.00", "0.001", "abc", "-5"]
KEYS = ["k1", "k2", "k3", "k4", "k5", " ", ""]
BACKERS = ["capped", "nearly_capped", "accredited", "retail", "no_knowledge_test",
           "sophisticated", "kyc_pending", "unknown", "not-a-uuid"]
CAMPAIGNS = ["reg_cf", "ecsp", "draft", "unknown", "not-a-uuid"]


def request_strategy(world: World) -> st.SearchStrategy[PledgeRequest]:
    def make(backer: str, campaign: str, amount: str, key: str, ack: bool) -> PledgeRequest:
        return PledgeRequest(_ref(world.backers, backer), _ref(world.campaigns, campaign),
                             amount, key, ack)

    # Weighted towards valid pledges so that the limits are reached and raced.
    valid_backer = st.sampled_from(BACKERS[:6])
    return st.builds(
        make,
        st.one_of(valid_backer, valid_backer, valid_backer, st.sampled_from(BACKERS)),
        st.one_of(st.sampled_from(["reg_cf", "ecsp"]), st.sampled_from(CAMPAIGNS)),
        st.one_of(st.sampled_from(AMOUNTS[:7]), st.sampled_from(AMOUNTS)),
        st.sampled_from(KEYS),
        st.booleans(),
    )


def _ref(known: dict[str, UUID], name: str) -> UUID | str:
    if name == "unknown":
        return uuid4()
    if name == "not-a-uuid":
        return name
    return known[name]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_batched_and_one_by_one_agree_on_generated_sequences(
    world: World, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    requests = data.draw(st.lists(request_strategy(world), min_size=1, max_size=40))
    folder = tmp_path_factory.mktemp("example")
    alone, batched = open_copy(world, folder / "a.db"), open_copy(world, folder / "b.db")
    try:
        results = assert_same_processing(alone, batched, requests)
        for result in results:  # what the examples reach: see --hypothesis-show-statistics
            event(getattr(result, "code", "accepted"))
    finally:
        alone.close()
        batched.close()


def test_several_batches_in_a_row_agree_with_one_by_one(
    world: World, copies: tuple[Crowdfund, Crowdfund]
) -> None:
    alone_app, batch_app = copies
    capped, accredited = world.backers["capped"], world.backers["accredited"]
    cid = world.campaigns["reg_cf"]
    head = alone_app.head_position()
    requests = [PledgeRequest(b, cid, "200.00", f"n{i}", True)
                for i, b in enumerate([capped, accredited] * 10)]
    alone = one_by_one(alone_app, requests)
    batched: list[Written[UUID] | DomainError] = []
    for start in range(0, len(requests), 3):  # a later batch sees what the earlier ones did
        batched += batch_app.pledges.place_many(requests[start:start + 3])
    assert [answer_of(r) for r in batched] == [answer_of(r) for r in alone]
    assert rows_after(batch_app, head) == rows_after(alone_app, head)


# Equivalence: the cases that matter, written out -----------------------------------------


def test_racing_for_the_max_target(world: World, copies: tuple[Crowdfund, Crowdfund]) -> None:
    cid = world.campaigns["reg_cf"]  # max target 3,000.00
    a, c = world.backers["accredited"], world.backers["capped"]
    requests = [
        PledgeRequest(a, cid, "1000.00", "r1", True),
        PledgeRequest(a, cid, "1000.00", "r2", True),
        PledgeRequest(c, cid, "1000.00", "r3", True),  # the last 1,000.00
        PledgeRequest(a, cid, "100.00", "r4", True),  # full: nothing left
        PledgeRequest(c, cid, "100.00", "r5", True),
    ]
    results = assert_same_processing(*copies, requests)
    assert [answer_of(r)[0:2] for r in results] == [
        ("ok", pledge_id_for(str(a), "r1")), ("ok", pledge_id_for(str(a), "r2")),
        ("ok", pledge_id_for(str(c), "r3")),
        ("error", "MaxTargetExceeded"), ("error", "MaxTargetExceeded"),
    ]
    remaining = [r.remaining for r in results[3:] if isinstance(r, DomainError)]  # type: ignore[attr-defined]
    assert remaining == [D("0.00"), D("0.00")]
    assert copies[1].campaign(cid).held == D("3000.00")


def test_a_refused_pledge_leaves_room_for_the_next(
    world: World, copies: tuple[Crowdfund, Crowdfund]
) -> None:
    cid = world.campaigns["reg_cf"]
    a = world.backers["accredited"]
    requests = [
        PledgeRequest(a, cid, "2500.00", "x1", True),
        PledgeRequest(a, cid, "600.00", "x2", True),  # only 500.00 left: refused, changes nothing
        PledgeRequest(a, cid, "500.00", "x3", True),  # fits exactly
    ]
    results = assert_same_processing(*copies, requests)
    assert [answer_of(r)[0] for r in results] == ["ok", "error", "ok"]
    assert results[1].remaining == D("500.00")  # type: ignore[union-attr]


def test_racing_for_the_last_room_under_a_cap(
    world: World, copies: tuple[Crowdfund, Crowdfund]
) -> None:
    cid, ecsp = world.campaigns["reg_cf"], world.campaigns["ecsp"]
    nearly = world.backers["nearly_capped"]  # 500.00 of room
    requests = [
        PledgeRequest(nearly, cid, "300.00", "c1", True),
        PledgeRequest(nearly, cid, "300.00", "c2", True),  # 200.00 left: refused
        PledgeRequest(nearly, cid, "200.00", "c3", True),  # exactly at the cap
        PledgeRequest(nearly, cid, "100.00", "c4", True),  # nothing left
        PledgeRequest(nearly, ecsp, "100.00", "c5", True),  # ECSP pledges do not count: accepted
    ]
    results = assert_same_processing(*copies, requests)
    assert [answer_of(r)[0:2] for r in results] == [
        ("ok", pledge_id_for(str(nearly), "c1")), ("error", "InvestmentLimitExceeded"),
        ("ok", pledge_id_for(str(nearly), "c3")), ("error", "InvestmentLimitExceeded"),
        ("ok", pledge_id_for(str(nearly), "c5")),
    ]
    assert [r.remaining for r in (results[1], results[3])] == [D("200.00"), D("0.00")]  # type: ignore[union-attr]
    assert copies[1].reg_cf_headroom(nearly).used == D("2500.00")


def test_repeated_keys_within_a_batch(world: World, copies: tuple[Crowdfund, Crowdfund]) -> None:
    cid = world.campaigns["reg_cf"]
    a, c = world.backers["accredited"], world.backers["capped"]
    requests = [
        PledgeRequest(a, cid, "100.00", "same", True),
        PledgeRequest(a, cid, "100.00", "same", True),  # a retry: the same pledge
        PledgeRequest(a, cid, "200.00", "same", True),  # same key, other amount: refused
        PledgeRequest(c, cid, "100.00", "same", True),  # another backer's key: its own pledge
        PledgeRequest(a, cid, " same ", "same", True),  # bad amount: input error first
        PledgeRequest(a, cid, "100.00", " same ", True),  # keys are trimmed: the same pledge
    ]
    results = assert_same_processing(*copies, requests)
    first = pledge_id_for(str(a), "same")
    assert [answer_of(r)[0:3] for r in results] == [
        ("ok", first), ("ok", first), ("error", "ValidationError", "IDEMPOTENCY_KEY_REUSED"),
        ("ok", pledge_id_for(str(c), "same")), ("error", "ValidationError", "INVALID_INPUT"),
        ("ok", first),
    ]
    assert copies[1].campaign(cid).open_pledges == 2


def test_ecsp_risk_acknowledgement(world: World, copies: tuple[Crowdfund, Crowdfund]) -> None:
    ecsp = world.campaigns["ecsp"]
    retail, soph = world.backers["retail"], world.backers["sophisticated"]
    untested = world.backers["no_knowledge_test"]
    requests = [
        PledgeRequest(retail, ecsp, "2500.00", "e1"),  # at the threshold: no ack needed
        # With e1 open in the same offer, above the threshold: ack required (Art. 21(7)).
        PledgeRequest(retail, ecsp, "2600.00", "e2"),
        PledgeRequest(retail, ecsp, "2600.00", "e2", acknowledge_risk=True),  # same key, ack
        # No knowledge test: warned, so every pledge needs the ack (Art. 21(4)).
        PledgeRequest(untested, ecsp, "100.00", "e3"),
        PledgeRequest(soph, ecsp, "900.00", "e4"),  # sophisticated: no ack; the last 900
        # Full: the campaign's rules come first.
        PledgeRequest(untested, ecsp, "100.00", "e5", True),
    ]
    results = assert_same_processing(*copies, requests)
    assert [answer_of(r)[0:3] for r in results] == [
        ("ok", pledge_id_for(str(retail), "e1")),
        ("error", "RiskAcknowledgementRequired", "RISK_ACKNOWLEDGEMENT_REQUIRED"),
        ("ok", pledge_id_for(str(retail), "e2")),
        ("error", "RiskAcknowledgementRequired", "RISK_ACKNOWLEDGEMENT_REQUIRED"),
        ("ok", pledge_id_for(str(soph), "e4")),
        ("error", "MaxTargetExceeded", "MAX_TARGET_EXCEEDED"),
    ]
    assert copies[1].pledge_record(pledge_id_for(str(retail), "e2")).risk_acknowledged


def test_errors_keep_their_precedence(world: World, copies: tuple[Crowdfund, Crowdfund]) -> None:
    """A request that breaks several rules gets the error `pledge` would raise first."""
    cid, draft = world.campaigns["reg_cf"], world.campaigns["draft"]
    pending, capped = world.backers["kyc_pending"], world.backers["capped"]
    requests = [
        PledgeRequest(pending, "not-a-uuid", "105.00", "p1", True),  # KYC before the campaign
        PledgeRequest(capped, draft, "50.00", "p2", True),  # campaign not live before amount rules
        PledgeRequest(capped, cid, "50.00", "p3", True),  # below the minimum pledge
        PledgeRequest(capped, cid, "105.00", "p4", True),  # not whole shares
        PledgeRequest(capped, cid, "2600.00", "p5", True),  # max target before the cap
        PledgeRequest(uuid4(), cid, "100.00", "p6", True),  # unknown backer
        PledgeRequest(capped, cid, "100.00", "", True),  # bad key
    ]
    results = assert_same_processing(*copies, requests)
    assert [answer_of(r)[1:3] for r in results] == [
        ("InvalidStateError", "KYC_NOT_VERIFIED"),
        ("InvalidStateError", "CAMPAIGN_NOT_LIVE"),
        ("ValidationError", "BELOW_MIN_PLEDGE"),
        ("ValidationError", "NOT_WHOLE_SHARES"),
        ("InvestmentLimitExceeded", "INVESTMENT_LIMIT_EXCEEDED"),
        ("NotFoundError", "NOT_FOUND"),
        ("ValidationError", "INVALID_INPUT"),
    ]


# Retries: a batch that loses a race is decided again from the store ---------------------


def test_batch_decided_again_after_another_instance_wrote(
    world: World, tmp_path: Path
) -> None:
    first = open_copy(world, tmp_path / "shared.db")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    second = open_on(url, SettableClock(PLEDGE_TIME))
    try:
        cid, a = world.campaigns["reg_cf"], world.backers["accredited"]
        first.campaign(cid)  # both caches hold the campaign
        second.campaign(cid)
        # First's cached campaign is now stale.
        second.pledges.place(a, cid, "2500.00", "elsewhere", True)
        results = first.pledges.place_many([
            PledgeRequest(a, cid, "600.00", "here-1", True),  # only 500.00 left in the store
            PledgeRequest(a, cid, "500.00", "here-2", True),
            PledgeRequest(a, cid, "2500.00", "elsewhere", True),  # made by the other instance
        ])
        assert [answer_of(r)[0:2] for r in results] == [
            ("error", "MaxTargetExceeded"), ("ok", pledge_id_for(str(a), "here-2")),
            ("ok", pledge_id_for(str(a), "elsewhere")),
        ]
        assert open_on(url).campaign(cid).held == D("3000.00")
    finally:
        first.close()
        second.close()


def test_a_pledge_unknown_to_the_cache_is_found_on_retry(world: World, tmp_path: Path) -> None:
    """The first attempt trusts the cache for idempotency keys; a key used through
    another instance makes the insert conflict, and the retry finds the pledge."""
    first = open_copy(world, tmp_path / "shared.db")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    second = open_on(url, SettableClock(PLEDGE_TIME))
    try:
        cid, a = world.campaigns["reg_cf"], world.backers["accredited"]
        made = second.pledges.place(a, cid, "300.00", "retry-me", True)
        results = first.pledges.place_many([
            PledgeRequest(a, cid, "100.00", "new-one", True),
            PledgeRequest(a, cid, "300.00", "retry-me", True),
            PledgeRequest(a, cid, "400.00", "retry-me", True),
        ])
        assert [answer_of(r)[0:3] for r in results] == [
            ("ok", pledge_id_for(str(a), "new-one")), ("ok", made.value),
            ("error", "ValidationError", "IDEMPOTENCY_KEY_REUSED"),
        ]
        campaign = first.campaign(cid)
        assert (campaign.held, campaign.open_pledges) == (D("400.00"), 2)
    finally:
        first.close()
        second.close()


# What the speed-ups rest on -------------------------------------------------------------


def test_snapshots_taken_in_memory_equal_a_replay(
    sqlite_store: Store, clock: SettableClock
) -> None:
    app = sqlite_store.open(clock)
    team = staff(app)
    backers = [verified_backer(app, team, accredited=True) for _ in range(3)]
    cid = live_campaign(app, team, max_target="100000.00")
    clock.advance(hours=1)
    for start in range(0, 450, 150):  # the campaign crosses versions 200 and 400 mid-batch
        app.pledges.place_many([PledgeRequest(backers[n % 3], cid, "100.00", f"s{n}", True)
                         for n in range(start, start + 150)])
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(cid))
    assert len(snapshots) == 2
    cached = app.campaign(cid)
    for snapshot in snapshots:
        replayed: Any = None
        for stored in app.events.get(cid, lte=snapshot.originator_version):
            replayed = stored.mutate(replayed)  # type: ignore[attr-defined]
        restored = snapshot.mutate(None)  # type: ignore[attr-defined]
        assert vars(restored) == vars(replayed)
    fresh = sqlite_store.open(clock).campaign(cid)  # snapshot + the events after it
    assert vars(fresh) == vars(cached)
    assert fresh.held == D("45000.00")


def test_fast_deep_copy_is_deep_where_it_matters(app: Crowdfund, team: Staff) -> None:
    backer = verified_backer(app, team)
    cid = live_campaign(app, team)
    app.pledges.place(backer, cid, "100.00", "one", True)
    original = app.user(backer)
    clone = copy.deepcopy(original)
    assert vars(clone) == vars(original)
    assert clone.commitments is not original.commitments
    assert clone.roles is not original.roles
    assert clone._pending_events is not original._pending_events
    clone.commitments.clear()
    clone.roles.append("ADMIN")
    assert len(original.commitments) == 1 and "ADMIN" not in original.roles


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


# Threads through the desk, on PostgreSQL ---------------------------------------------------


def race(desks: Sequence[PledgeDesk], requests: Sequence[PledgeRequest]) -> list[Any]:
    """Each request on its own thread, all released at once, spread over the desks."""
    results: list[Any] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def run(n: int) -> None:
        r = requests[n]
        start.wait()
        try:
            results[n] = desks[n % len(desks)].pledge(
                r.backer_id, r.campaign_id, r.amount, r.idempotency_key, r.acknowledge_risk,
                timeout=60,
            )
        except DomainError as error:
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_own_answers(
    app: Crowdfund, requests: Sequence[PledgeRequest], results: Sequence[Any]
) -> None:
    """Every caller got its own pledge, and its position is its own pledge's last event."""
    for r, result in zip(requests, results, strict=True):
        if isinstance(result, DomainError):
            continue
        assert isinstance(result, Written)
        assert result.value == pledge_id_for(str(r.backer_id), r.idempotency_key.strip())
        [notification] = app.recorder.select_notifications(result.position, 1)
        event: Any = app.mapper.to_domain_event(notification)
        assert type(event).__name__ == "InvestmentCommitted"
        assert (event.pledge_id, event.amount) == (str(result.value), D(str(r.amount)))
        assert hash_of(event) == event.hash


@pytest.mark.postgres
def test_threads_race_for_the_last_places(postgres_store: Store, clock: SettableClock) -> None:
    setup = postgres_store.open(clock)
    team = staff(setup)
    cid = live_campaign(setup, team, max_target="10000.00")
    backers = [verified_backer(setup, team, accredited=True) for _ in range(12)]
    clock.advance(hours=1)
    # Two instances (two processes, in effect), each with its own desk and cache.
    apps = [postgres_store.open(clock), postgres_store.open(clock)]
    desks = [PledgeDesk(a, max_batch=16) for a in apps]
    amounts = ["300.00", "700.00", "1000.00", "100.00", "500.00"]
    requests = [PledgeRequest(backers[n % 12], cid, amounts[n % 5], f"race-{n}", True)
                for n in range(60)]  # 31,200.00 asked for 10,000.00
    try:
        results = race(desks, requests)
    finally:
        for desk in desks:
            desk.close()
    accepted = [r for r, res in zip(requests, results, strict=True) if isinstance(res, Written)]
    refused = [res for res in results if isinstance(res, DomainError)]
    assert {type(e).__name__ for e in refused} == {"MaxTargetExceeded"}
    held = sum((D(str(r.amount)) for r in accepted), D("0"))
    campaign = postgres_store.open(clock).campaign(cid)  # from the store, no cache
    assert campaign.held == held <= D("10000.00")
    assert campaign.open_pledges == len(accepted)
    # Refused only when it did not fit when decided; later pledges only took more room.
    room = D("10000.00") - held
    for r, res in zip(requests, results, strict=True):
        if isinstance(res, DomainError):
            assert res.remaining >= room  # type: ignore[attr-defined]
            assert D(str(r.amount)) > res.remaining  # type: ignore[attr-defined]
    assert_own_answers(apps[0], requests, results)


@pytest.mark.postgres
def test_threads_race_for_the_last_room_under_a_cap(
    postgres_store: Store, clock: SettableClock
) -> None:
    setup = postgres_store.open(clock)
    team = staff(setup)
    first = live_campaign(setup, team, max_target="100000.00")
    second = live_campaign(setup, team, max_target="100000.00")
    backer = verified_backer(setup, team)  # Reg CF cap 2,500.00
    clock.advance(hours=1)
    apps = [postgres_store.open(clock), postgres_store.open(clock)]
    desks = [PledgeDesk(a, max_batch=8) for a in apps]
    # The same backer on two campaigns (two writers) and two instances: 7,500.00 asked.
    requests = [PledgeRequest(backer, (first, second)[n % 2], "300.00", f"cap-{n}", True)
                for n in range(25)]
    try:
        results = race(desks, requests)
    finally:
        for desk in desks:
            desk.close()
    accepted = [res for res in results if isinstance(res, Written)]
    refused = [res for res in results if isinstance(res, DomainError)]
    assert len(accepted) == 8  # 2,400.00; a ninth would be 2,700.00
    assert {type(e).__name__ for e in refused} == {"InvestmentLimitExceeded"}
    assert postgres_store.open(clock).reg_cf_headroom(backer).used == D("2400.00")
    assert_own_answers(apps[0], requests, results)


@pytest.mark.postgres
def test_threads_repeating_one_key_get_one_pledge(
    postgres_store: Store, clock: SettableClock
) -> None:
    setup = postgres_store.open(clock)
    team = staff(setup)
    cid = live_campaign(setup, team)
    backer = verified_backer(setup, team)
    app = postgres_store.open(clock)
    with PledgeDesk(app, max_batch=4) as desk:
        results = race([desk], [PledgeRequest(backer, cid, "100.00", "once", True)] * 20)
    assert {r.value for r in results} == {pledge_id_for(str(backer), "once")}
    assert postgres_store.open(clock).campaign(cid).open_pledges == 1


def test_desk_answers_input_errors_at_once_and_drains_on_close(
    app: Crowdfund, team: Staff
) -> None:
    backer = verified_backer(app, team, accredited=True)
    cid = live_campaign(app, team)
    desk = PledgeDesk(app, max_batch=3, max_wait=0.01)
    with pytest.raises(DomainError) as bad:
        desk.pledge(backer, cid, "1.005", "k")
    assert bad.value.code == "INVALID_INPUT"
    futures = [desk.submit(PledgeRequest(backer, cid, "100.00", f"f{n}", True)) for n in range(10)]
    unknown = desk.submit(PledgeRequest(backer, "not-a-uuid", "100.00", "x", True))
    desk.close()
    assert [f.result().value for f in futures] == [
        pledge_id_for(str(backer), f"f{n}") for n in range(10)
    ]
    with pytest.raises(DomainError) as missing:
        unknown.result()
    assert missing.value.code == "NOT_FOUND"
    with pytest.raises(RuntimeError):
        desk.submit(PledgeRequest(backer, cid, "100.00", "late", True))
    assert app.campaign(cid).open_pledges == 10
