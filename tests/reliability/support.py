"""What the reliability tests share: throw-away PostgreSQL schemas, the real
application on them, and the comparison of the real state with the model's.

Comparisons return lists of differences (empty: agreement), so that a failure
names every field that disagrees, not only the first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from adapters.business_calendars import business_calendars
from adapters.documents import MemoryDocumentStore
from adapters.event_store import eventsourcing_env
from application.crowdfund import Crowdfund
from application.unit_of_work import Written
from domain.chain import GENESIS, hash_of
from domain.clock import Clock
from domain.errors import DomainError
from tests.reliability.model import OPEN, Model, Rejected

POSTGRES_URL = os.environ.get(
    "CROWDFUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PASSWORD_HASH = "$argon2id$not-a-real-hash"


class Schema:
    """A fresh PostgreSQL schema for one run; `drop()` removes it and everything in it."""

    def __init__(self, server: str = POSTGRES_URL) -> None:
        self.server = server
        self.name = f"r_{uuid.uuid4().hex}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')  # type: ignore[call-overload]
        self.url = f"{server}?schema={self.name}"
        self.apps: list[Crowdfund] = []
        # Every application of the run files documents in one place, as processes would.
        self.documents = MemoryDocumentStore()

    def open(self, clock: Clock, cls: type[Crowdfund] = Crowdfund) -> Crowdfund:
        """One more application on this schema (its own cache and connections: a process)."""
        env = eventsourcing_env(self.url)
        env["CREATE_TABLE"] = "y"
        # Small pools: a run opens several applications on a server other suites share.
        env.update(POSTGRES_POOL_SIZE="2", POSTGRES_MAX_OVERFLOW="6")
        app = cls(env=env, clock=clock, business_calendars=business_calendars(),
                  documents=self.documents)
        self.apps.append(app)
        return app

    def drop(self) -> None:
        for app in self.apps:
            app.close()
        self.apps.clear()
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')  # type: ignore[call-overload]


# Outcomes -------------------------------------------------------------------------------


def describe(error: DomainError) -> tuple[Any, ...]:
    """A refusal in the model's terms: (class, code, field, details)."""
    details: dict[str, Any] = {}
    for name in ("limit", "remaining", "threshold"):
        if hasattr(error, name):
            details[name] = getattr(error, name)
    return (type(error).__name__, error.code, getattr(error, "field", None),
            tuple(sorted(details.items())))


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None  # the command's value when accepted
    refusal: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        return f"accepted {self.value}" if self.ok else f"refused {self.refusal}"


def real_outcome(call: Callable[[], Written[Any]]) -> Outcome:
    try:
        return Outcome(True, call().value)
    except DomainError as error:
        return Outcome(False, refusal=describe(error))


def model_outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(True, call())
    except Rejected as rejected:
        return Outcome(False, refusal=rejected.describe())


# State, side by side ------------------------------------------------------------------


@dataclass
class Names:
    """Which real pledge id is which model pledge, `(backer, key)`."""

    pledge_ids: dict[tuple[str, str], UUID] = field(default_factory=dict)

    def learn(self, key: tuple[str, str], pledge_id: UUID) -> list[str]:
        known = self.pledge_ids.setdefault(key, pledge_id)
        if known != pledge_id:
            return [f"pledge {key} answered as {pledge_id}, earlier as {known}"]
        others = [k for k, v in self.pledge_ids.items() if v == pledge_id and k != key]
        return [f"pledges {key} and {others} share the id {pledge_id}"] if others else []


def real_state(app: Crowdfund, model: Model, names: Names, now: datetime) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for cid in model.campaigns:
        c = app.campaign(cid)
        state[f"campaign {cid}"] = {
            "status": c.status.value, "pledged": c.pledged, "held": c.held,
            "released": c.released, "refunded": c.refunded, "open": c.open_pledges,
            "deadline": c.terms.deadline, "max_target": c.terms.max_target,
            "balanced": c.held + c.released + c.refunded == c.pledged,
        }
    for key, pid in names.pledge_ids.items():
        p = app.pledge_record(pid)
        state[f"pledge {key}"] = {
            "status": p.status.value, "amount": p.amount, "campaign": p.campaign_id,
            "backer": p.backer_id, "shares": p.shares, "reconfirm_by": p.reconfirm_by,
        }
    for bid in model.backers:
        headroom = app.user(bid).reg_cf_headroom(now)
        state[f"backer {bid}"] = {"limit": headroom.limit, "used": headroom.used}
    return state


def model_state(model: Model, now: datetime) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for cid, c in model.campaigns.items():
        state[f"campaign {cid}"] = {
            "status": c.status, "pledged": c.pledged, "held": c.held,
            "released": c.released, "refunded": c.refunded,
            "open": len(model.open_pledges(cid)), "deadline": c.terms.deadline,
            "max_target": c.terms.max_target, "balanced": True,
        }
    for key, p in model.pledges.items():
        state[f"pledge {key}"] = {
            "status": p.status, "amount": p.amount, "campaign": p.campaign,
            "backer": p.backer, "shares": p.shares, "reconfirm_by": p.reconfirm_by,
        }
    for bid in model.backers:
        limit, used = model.reg_cf(bid, now)
        state[f"backer {bid}"] = {"limit": limit, "used": used}
    return state


def differences(real: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    found = []
    for name in sorted(set(real) | set(expected)):
        got, want = real.get(name), expected.get(name)
        if got is None or want is None:
            found.append(f"{name}: only in {'the model' if got is None else 'the store'}")
            continue
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                found.append(f"{name}.{key}: store {got.get(key)!r}, model {want.get(key)!r}")
    return found


def compare(app: Crowdfund, model: Model, names: Names, now: datetime) -> list[str]:
    return differences(real_state(app, model, names, now), model_state(model, now))


# The whole log ----------------------------------------------------------------------


def all_events(app: Crowdfund) -> Iterator[tuple[int, Any]]:
    """(position, domain event) of every stored event, in log order."""
    start = 1
    while True:
        page = app.recorder.select_notifications(start, 500)
        if not page:
            return
        for notification in page:
            yield notification.id, app.mapper.to_domain_event(notification)
        start = page[-1].id + 1


def chain_breaks(app: Crowdfund) -> list[str]:
    """Every stream's hash chain, walked independently of `crowdfund.audit`."""
    heads: dict[UUID, tuple[int, str]] = {}
    found = []
    for position, event in all_events(app):
        version, prev = heads.get(event.originator_id, (0, GENESIS))
        if event.originator_version != version + 1 or event.prev_hash != prev:
            found.append(f"position {position}: does not follow its stream's previous event")
        if hash_of(event) != event.hash:
            found.append(f"position {position}: hash does not match the content")
        heads[event.originator_id] = (event.originator_version, event.hash)
    return found


def settlement_problems(app: Crowdfund, model: Model) -> list[str]:
    """Cap tables hold exactly the shares of the settled pledges, per backer."""
    found = []
    for cid, campaign in model.campaigns.items():
        table = app.cap_table(cid)
        expected: dict[str, int] = {}
        for pledge in model.pledges.values():
            if pledge.campaign == cid and pledge.status == "SETTLED":
                expected[pledge.backer] = expected.get(pledge.backer, 0) + pledge.shares
        holdings = dict(table.holdings) if table is not None else {}
        if holdings != expected:
            found.append(f"cap table of {cid}: {holdings}, expected {expected}")
        if campaign.status not in ("SETTLED",) and table is not None:
            found.append(f"cap table of {cid} exists, campaign is {campaign.status}")
    return found


def escrow_problems(app: Crowdfund, campaign_ids: list[str]) -> list[str]:
    """Escrow invariants read from the store alone (no model)."""
    found = []
    open_sum: dict[str, Decimal] = {cid: Decimal("0") for cid in campaign_ids}
    open_count: dict[str, int] = {cid: 0 for cid in campaign_ids}
    pledge_ids: set[UUID] = set()
    for _, event in all_events(app):
        if type(event).__name__ == "PledgePlaced":
            pledge_ids.add(event.originator_id)
    for pid in pledge_ids:
        pledge = app.pledge_record(pid)
        if pledge.status.value in OPEN and pledge.campaign_id in open_sum:
            open_sum[pledge.campaign_id] += pledge.amount
            open_count[pledge.campaign_id] += 1
    for cid in campaign_ids:
        c = app.campaign(cid)
        if c.held + c.released + c.refunded != c.pledged:
            found.append(f"{cid}: held {c.held} + released {c.released} + refunded "
                         f"{c.refunded} != pledged {c.pledged}")
        if c.held > c.terms.max_target or c.held < 0:
            found.append(f"{cid}: held {c.held} outside 0..{c.terms.max_target}")
        if open_sum[cid] != c.held or open_count[cid] != c.open_pledges:
            found.append(f"{cid}: open pledges sum to {open_sum[cid]} ({open_count[cid]}), "
                         f"campaign holds {c.held} ({c.open_pledges})")
    return found
