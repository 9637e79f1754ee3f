"""Races: several "processes" (each its own `Crowdfund`, cache and connection pool,
on one PostgreSQL schema) and several threads in each fire pledges, repeated
pledges, batches, cancellations, reconfirmations and a material change at three
campaigns at once. Afterwards, from a fresh `Crowdfund` reading the store:

- escrow: held + released + refunded == pledged; held <= max target; the open
  pledges add up to what is held (no overselling, nothing lost);
- caps: every backer's Reg CF use is within their limit;
- exactly once: every accepted pledge is stored once, accepted by its campaign
  once and committed by its backer once; every stored pledge was accepted by some
  caller; no pledge was released or settled twice;
- linearizability by log order: replaying the accepted commands through the
  reference model in the order of their log positions accepts every one of them
  and ends in the same state as the store; every refusal is one the model gives
  at some log position between the moment the command started and the moment it
  answered (so no refusal rests on a stale copy);
- hash chains verify, and after the deadlines (`run_due` racing in three
  processes) cap tables hold exactly the settled shares.

Rounds at fixed instants: all windows open; five days later (ECSP reflection over
for the first round's pledges, a material change on the ECSP campaign C racing the
pledges); a day later (C's backers reconfirm or cancel); at campaign B's Reg CF
cutoff (deadline - 48 h) exactly. Between rounds `run_due` runs alone.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledge_desk import PledgeDesk
from application.pledges import PledgeRequest
from application.unit_of_work import Written
from domain.errors import ConcurrencyConflict, DomainError
from domain.user import Role
from tests.authenticator import enroll
from tests.reliability import model as m
from tests.reliability.support import (
    PASSWORD_HASH,
    Names,
    Schema,
    all_events,
    chain_breaks,
    compare,
    describe,
    escrow_problems,
    model_outcome,
    settlement_problems,
)
from tests.scenario import file_offering_statement, pass_knowledge_tests

pytestmark = pytest.mark.postgres

START = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a Monday noon
OPS_PER_THREAD = 24
AMOUNTS = ["100.00", "200.00", "250.00", "500.00", "500.00", "1000.00", "1500.00", "2500.00"]
# Retries race their originals and go through a PledgeDesk, and every refusal must
# match the model at its own log position (tests/reliability/test_race_regressions.py
# pins the interleavings that once broke both).
RETRIES_RACE = True
REFUSALS_FRESH = True
STALE_REFUSALS: Counter[str] = Counter()  # refusals matching only an earlier state
# (regime, min target, max target, min pledge, price, days to the deadline)
CAMPAIGNS = {
    "A": ("REG_CF", "2000.00", "6000.00", "100.00", "10.00", 30),
    "B": ("REG_CF", "1000.00", "4000.00", "100.00", "25.00", 22),
    "C": ("ECSP", "1000.00", "5000.00", "50.00", "10.00", 20),
}
# (annual income, net worth, accredited, sophisticated, other Reg CF investments)
BACKERS = [
    ("50000.00", "50000.00", False, False, "0.00"),  # limit 2,500.00
    ("50000.00", "50000.00", False, False, "0.00"),
    ("50000.00", "50000.00", False, False, "0.00"),
    ("10000.00", "10000.00", False, False, "0.00"),  # ECSP risk threshold 1,000.00
    ("50000.00", "50000.00", False, False, "2000.00"),  # 500.00 left
    ("200000.00", "200000.00", False, False, "0.00"),  # limit 20,000.00
    ("900000.00", "900000.00", True, True, "0.00"),  # accredited: no limit
]


@dataclass
class Op:
    """One call as a client saw it: what, when (log positions around it), the answer."""

    seq: int
    kind: str  # pledge, cancel, reconfirm, amend
    args: dict[str, Any]
    now: datetime
    start: int
    end: int = 0
    ok: bool = False
    value: Any = None
    position: int = 0
    refusal: tuple[Any, ...] | None = None
    conflict: bool = False


@dataclass
class World:
    clock: SettableClock
    schema: Schema
    founder: str
    officer: str
    campaigns: dict[str, str]  # name -> id
    backers: list[str]
    model: m.Model
    ops: list[Op] = field(default_factory=list)
    # (backer, key, pledge id, campaign) of every accepted pledge
    accepted: list[tuple[str, str, UUID, str]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    asked: list[tuple[str, str, UUID, str]] = field(default_factory=list)  # to reconfirm
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0

    def record(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)
            if op.ok and op.kind == "pledge":
                a = op.args
                self.accepted.append((a["backer"], a["key"], op.value, a["campaign"]))


def build_world(schema: Schema) -> World:
    clock = SettableClock(START)
    app = schema.open(clock)
    admin = app.accounts.register("admin@example.test", "Admin", PASSWORD_HASH,
                              (Role.BACKER, Role.FOUNDER, Role.ADMIN)).value
    officer = app.accounts.register("officer@example.test", "Officer", PASSWORD_HASH).value
    enroll(app, admin)
    app.accounts.grant_role(admin, officer, Role.RISK_OFFICER)
    enroll(app, officer)
    founder = str(app.accounts.register("founder@example.test", "Founder", PASSWORD_HASH).value)
    model = m.Model(staff={str(admin), str(officer)})
    backers = []
    for n, (income, worth, accredited, sophisticated, other) in enumerate(BACKERS):
        bid = str(app.accounts.register(f"backer{n}@example.test", f"B{n}", PASSWORD_HASH).value)
        app.accounts.submit_investor_profile(
            bid, legal_name=f"Backer {n}", date_of_birth="1985-01-01", country="US",
            annual_income=income, net_worth=worth, accredited=accredited,
            sophisticated=sophisticated, other_reg_cf_investments_12m=other,
        )
        pass_knowledge_tests(app, bid)  # graded by the server
        app.accounts.verify_investor(officer, bid)
        model.add_backer(bid, m.Profile(Decimal(income), Decimal(worth), accredited,
                                        sophisticated, True, Decimal(other)), m.KYC_VERIFIED,
                         clock.now())
        backers.append(bid)
    campaigns = {}
    for name, (regime, low, high, min_pledge, price, days) in CAMPAIGNS.items():
        deadline = START + timedelta(days=days)
        cid = app.offerings.draft(
            founder, title=f"Campaign {name}", summary="Races.", regime=regime, min_target=low,
            max_target=high, min_pledge=min_pledge, price_per_share=price, deadline=deadline,
        ).value
        file_offering_statement(app, founder, cid)
        app.offerings.submit(founder, cid)
        app.offerings.approve(officer, cid)
        app.offerings.launch(founder, cid)
        model.add_campaign(str(cid), founder, regime, m.Terms(
            f"Campaign {name}", Decimal(low), Decimal(high), Decimal(min_pledge),
            Decimal(price), deadline), START)
        campaigns[name] = str(cid)
    return World(clock, schema, founder, str(officer), campaigns, backers, model)


# The clients -----------------------------------------------------------------------------


class Client:
    """One thread of one process: random commands, every answer recorded."""

    def __init__(self, world: World, app: Crowdfund, desk: PledgeDesk | None, name: str,
                 rng: random.Random) -> None:
        self.world, self.app, self.desk, self.name, self.rng = world, app, desk, name, rng
        self.keys = 0

    def call(self, kind: str, args: dict[str, Any], run: Callable[[], Any]) -> Op:
        with self.world.lock:
            self.world.seq += 1
            seq = self.world.seq
        op = Op(seq, kind, args, self.world.clock.now(), self.app.head_position())
        try:
            written = run()
            op.ok, op.value, op.position = True, written.value, written.position
        except ConcurrencyConflict:
            op.conflict = True
        except DomainError as error:
            op.refusal = describe(error)
        op.end = self.app.head_position()
        self.world.record(op)
        return op

    def new_pledge(self) -> dict[str, Any]:
        self.keys += 1
        rng = self.rng
        return {
            "backer": rng.choice(self.world.backers),
            "campaign": self.world.campaigns[rng.choice("AABBC")],
            "amount": rng.choice(AMOUNTS), "key": f"{self.name}-{self.keys}",
            "ack": rng.random() < 0.7,
        }

    def pledge(self, args: dict[str, Any], retry: bool = False) -> None:
        if RETRIES_RACE:
            with self.world.lock:
                self.world.sent.append(args)
        request = (args["backer"], args["campaign"], args["amount"], args["key"], args["ack"])
        desk = self.desk if not retry or RETRIES_RACE else None
        place = desk.pledge if desk is not None else self.app.pledges.place
        self.call("pledge", args, lambda: place(*request))
        if not RETRIES_RACE:
            with self.world.lock:
                self.world.sent.append(args)

    def pledge_many(self) -> None:
        batch = [self.new_pledge() for _ in range(self.rng.randint(2, 4))]
        start = self.app.head_position()
        now = self.world.clock.now()
        answers = self.app.pledges.place_many([
            PledgeRequest(a["backer"], a["campaign"], a["amount"], a["key"], a["ack"])
            for a in batch
        ])
        end = self.app.head_position()
        for args, answer in zip(batch, answers, strict=True):
            with self.world.lock:
                self.world.seq += 1
                op = Op(self.world.seq, "pledge", args, now, start, end)
            if isinstance(answer, Written):
                op.ok, op.value, op.position = True, answer.value, answer.position
            elif isinstance(answer, ConcurrencyConflict):
                op.conflict = True
            else:
                op.refusal = describe(answer)
            self.world.record(op)

    def mind_change(self, kind: str) -> None:
        with self.world.lock:
            # Reconfirmations: mostly of the pledges backers were asked to reconfirm
            # (they hear of it), else of pledges to C, the campaign that changes.
            changing = self.world.asked or [
                p for p in self.world.accepted if p[3] == self.world.campaigns["C"]
            ]
            pool = changing if kind == "reconfirm" and self.rng.random() < 0.8 else None
            pool = pool or self.world.accepted
            if not pool:
                return
            backer, key, pledge_id, _ = self.rng.choice(pool)
        actor = backer if self.rng.random() < 0.9 else self.rng.choice(self.world.backers)
        args = {"actor": actor, "pledge": (backer, key)}
        command = self.app.pledges.cancel if kind == "cancel" else self.app.pledges.reconfirm
        self.call(kind, args, lambda: command(actor, pledge_id))

    def run(self, ops: int) -> None:
        for _ in range(ops):
            roll = self.rng.random()
            if roll < 0.45:
                self.pledge(self.new_pledge())
            elif roll < 0.55:  # a client's retry, on another node
                with self.world.lock:
                    earlier = self.rng.choice(self.world.sent) if self.world.sent else None
                self.pledge(earlier or self.new_pledge(), retry=earlier is not None)
            elif roll < 0.62 and self.desk is None:
                self.pledge_many()
            elif roll < 0.85:
                self.mind_change("cancel")
            else:
                self.mind_change("reconfirm")


def top_up(world: World, client: Client) -> None:
    """A few small pledges to C, one at a time, so that it has open pledges."""
    c = world.campaigns["C"]
    for n, backer in enumerate(world.backers):
        if len(world.model.open_pledges(c)) + n >= 4:
            break
        client.pledge({"backer": backer, "campaign": c, "amount": "50.00",
                       "key": f"top-up-{n}", "ack": True})


def run_round(world: World, clients: list[Client], extra: Callable[[], None] | None) -> None:
    """Every client (and `extra`) starts at the same moment; a crash fails the test."""
    jobs: list[Callable[[], None]] = [
        lambda c=c: c.run(OPS_PER_THREAD) for c in clients  # type: ignore[misc]
    ]
    if extra is not None:
        jobs.append(extra)
    barrier = threading.Barrier(len(jobs))
    failures: list[BaseException] = []

    def thread(job: Callable[[], None]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=thread, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    if failures:
        raise failures[0]


# The checks ------------------------------------------------------------------------------


def apply(model: m.Model, op: Op) -> Any:
    a = op.args
    if op.kind == "pledge":
        return model.pledge(a["backer"], a["campaign"], a["amount"], a["key"], a["ack"], op.now)
    if op.kind == "cancel":
        return model.cancel(a["actor"], a["pledge"], op.now)
    if op.kind == "reconfirm":
        return model.reconfirm(a["actor"], a["pledge"], op.now)
    return model.amend(a["actor"], a["campaign"], a["changes"], op.now)


def replay_round(model: m.Model, names: Names, ops: list[Op]) -> list[str]:
    """Linearizability by log order for one round (the clock stood still during it)."""
    problems = []
    accepted = sorted((op for op in ops if op.ok), key=lambda op: (op.position, op.seq))
    states, positions = [model.copy()], []
    for op in accepted:
        outcome = model_outcome(lambda op=op: apply(model, op))
        if not outcome.ok:
            problems.append(f"accepted {op.kind} {op.args} at position {op.position} is "
                            f"refused by the model replaying the log: {outcome.refusal}")
            continue
        if op.kind == "pledge":
            problems += names.learn(outcome.value, op.value)
        states.append(model.copy())
        positions.append(op.position)
    for op in ops:
        if op.ok or op.conflict:
            continue
        first = bisect.bisect_right(positions, op.start)
        last = bisect.bisect_right(positions, op.end)

        def refused_alike(k: int, op: Op = op) -> bool:
            return model_outcome(lambda: apply(states[k].copy(), op)).refusal == op.refusal

        if any(refused_alike(k) for k in range(first, last + 1)):
            continue
        if not REFUSALS_FRESH and any(refused_alike(k) for k in range(first)):
            STALE_REFUSALS[op.kind] += 1
            continue
        answers = {str(model_outcome(lambda k=k, op=op: apply(states[k].copy(), op)))
                   for k in range(first, last + 1)}
        problems.append(f"{op.kind} {op.args} was refused {op.refusal}, but between positions "
                        f"{op.start} and {op.end} the model answers only {sorted(answers)}"
                        + model_view(states[first], states[last], op))
    return problems


def model_view(before: m.Model, after: m.Model, op: Op) -> str:
    """What the model held at the call's start and answer (to diagnose a failure)."""
    if op.kind != "pledge":
        return ""
    views = []
    for name, model in (("start", before), ("answer", after)):
        c = model.campaigns[op.args["campaign"]]
        limit, used = model.reg_cf(op.args["backer"], op.now)
        views.append(f"{name}: held {c.held} of {c.terms.max_target}, backer used {used} of "
                     f"{limit}, key known {(op.args['backer'], op.args['key']) in model.pledges}")
    return "; " + "; ".join(views)


def exactly_once_problems(app: Crowdfund, world: World) -> list[str]:
    problems = []
    placed: Counter[UUID] = Counter()
    accepted: Counter[str] = Counter()
    committed: Counter[str] = Counter()
    released: Counter[str] = Counter()
    endings: Counter[UUID] = Counter()
    escrowed: Counter[str] = Counter()
    for _, event in all_events(app):
        name = type(event).__name__
        if name == "PledgePlaced":
            placed[event.originator_id] += 1
        elif name == "PledgeAccepted":
            accepted[event.pledge_id] += 1
        elif name == "InvestmentCommitted":
            committed[event.pledge_id] += 1
        elif name == "PledgeReleased":
            released[event.pledge_id] += 1
        elif name in ("PledgeCancelled", "PledgeRefunded", "PledgeSettled"):
            endings[event.originator_id] += 1
        elif name == "EscrowReleased":
            escrowed.update(event.pledge_ids)
    claimed = {op.value: op for op in world.ops if op.ok and op.kind == "pledge"}
    for pid in set(placed) | set(claimed):
        if placed[pid] != 1 or accepted[str(pid)] != 1 or committed[str(pid)] != 1:
            problems.append(f"pledge {pid}: placed {placed[pid]}, accepted "
                            f"{accepted[str(pid)]}, committed {committed[str(pid)]} times")
        if pid not in claimed:
            problems.append(f"pledge {pid} is stored but no caller was told it was accepted")
            continue
        stored, args = app.pledge_record(pid), claimed[pid].args
        if (stored.backer_id, stored.campaign_id, stored.amount) != (
            args["backer"], args["campaign"], Decimal(args["amount"])
        ):
            problems.append(f"pledge {pid} stored as {stored.backer_id} {stored.campaign_id} "
                            f"{stored.amount}, accepted as {args}")
    for pid, n in [*released.items(), *escrowed.items()]:
        if n > 1:
            problems.append(f"pledge {pid} released {n} times")
    problems += [f"pledge {pid} ended {n} times" for pid, n in endings.items() if n > 1]
    return problems


def cap_problems(app: Crowdfund, world: World) -> list[str]:
    problems = []
    for bid in world.backers:
        headroom = app.reg_cf_headroom(bid)
        if headroom.limit is not None and headroom.used > headroom.limit:
            problems.append(f"backer {bid} used {headroom.used} of {headroom.limit}")
    return problems


def store_problems(world: World) -> list[str]:
    fresh = world.schema.open(world.clock)
    return (escrow_problems(fresh, list(world.campaigns.values()))
            + cap_problems(fresh, world) + exactly_once_problems(fresh, world))


# The test --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_commands_are_linearizable(postgres_server: str, seed: int) -> None:
    schema = Schema(postgres_server)
    try:
        check_races(schema, seed)
    finally:
        schema.drop()


def check_races(schema: Schema, seed: int) -> None:
    world = build_world(schema)
    rng = random.Random(seed)
    # Three processes: two call the service directly (and batch now and then), one
    # takes its pledges through a PledgeDesk (group commit), as the API does.
    processes = [schema.open(world.clock) for _ in range(3)]
    desk = PledgeDesk(processes[2])
    clients = [
        Client(world, app, desk if app is processes[2] else None, f"p{p}t{t}",
               random.Random(rng.random()))
        for p, app in enumerate(processes) for t in range(3 if p < 2 else 2)
    ]
    names = Names()
    material_change: dict[str, Any] = {}

    def amend_c() -> None:
        """The founder of C raises its max target while the pledges fly."""
        changes = {"max_target": "7000.00"}
        started = len(world.ops)
        for _ in range(500):  # once the round is under way (and C has open pledges)
            if len(world.ops) >= started + 40:
                break
            time.sleep(0.01)
        client = Client(world, processes[0], None, "founder", random.Random(seed))
        for _ in range(1 if REFUSALS_FRESH else 5):
            op = client.call("amend", {"actor": world.founder, "campaign": world.campaigns["C"],
                                       "changes": changes},
                             lambda: processes[0].offerings.amend(world.founder,
                                                                world.campaigns["C"], changes))
            if op.ok or op.refusal is None or op.refusal[1] != "PLEDGE_CLOSED":
                break
            op.conflict = True  # the known bug: not a refusal the model can explain
        material_change["op"] = op

    cutoff_b = START + timedelta(days=CAMPAIGNS["B"][5]) - m.REG_CF_NO_CANCEL_BEFORE_DEADLINE
    rounds: list[tuple[datetime, Callable[[], None] | None]] = [
        (START, None), (START + timedelta(days=5), amend_c),
        (START + timedelta(days=6), None),  # C's backers answer the material change
        (cutoff_b, None),
    ]
    try:
        for now, extra in rounds:
            if now > world.clock.now():
                world.clock.set(now)
                processes[0].due.run()
                world.model.advance(now)
            world.asked = [(key[0], key[1], names.pledge_ids[key], p.campaign)
                           for key, p in world.model.pledges.items() if p.status == m.PENDING]
            before = len(world.ops)
            if extra is amend_c:  # the material change must have pledges to ask about
                top_up(world, Client(world, processes[0], None, "top-up", random.Random(seed)))
            run_round(world, clients, extra)
            problems = replay_round(world.model, names, world.ops[before:])
            problems += store_problems(world)
            assert not problems, "\n".join(problems[:30])
    finally:
        desk.close()
    assert material_change["op"].ok, material_change["op"]

    # The deadlines pass; the scheduler runs in three processes at once.
    end = START + timedelta(days=40)
    world.clock.set(end)
    barrier = threading.Barrier(3)

    def scheduler(app: Crowdfund) -> None:
        barrier.wait()
        app.due.run()

    threads = [threading.Thread(target=scheduler, args=(app,)) for app in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    world.model.advance(end)

    fresh = schema.open(world.clock)
    problems = compare(fresh, world.model, names, end)
    problems += store_problems(world) + chain_breaks(fresh)
    problems += settlement_problems(fresh, world.model)
    assert not problems, "\n".join(problems[:30])

    # The run proved something: races happened and were refused for the right reasons.
    outcomes = Counter(
        (op.kind, "accepted" if op.ok else "conflict" if op.conflict else op.refusal[1])
        for op in world.ops if op.refusal or op.ok or op.conflict
    )
    print(sorted(outcomes.items()), "stale refusals:", dict(STALE_REFUSALS))
    for wanted in [("pledge", "accepted"), ("pledge", "MAX_TARGET_EXCEEDED"),
                   ("pledge", "INVESTMENT_LIMIT_EXCEEDED"), ("cancel", "accepted"),
                   ("cancel", "CANCELLATION_WINDOW_CLOSED"), ("reconfirm", "accepted")]:
        assert outcomes[wanted], f"no {wanted} in {outcomes}"
    assert outcomes[("pledge", "conflict")] <= len(world.ops) // 20, outcomes
