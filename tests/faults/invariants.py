"""What must hold after any fault run, checked against the event store itself.

Every check returns a list of problems (empty: it holds) so that a failure names
every violation, not only the first. `check_all` runs them all and returns
(problems, the names of the checks that passed).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa

from application.audit import verify_chains
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import aml_monitor
from crowdfund.settings import Settings
from domain.aml_alert import AlertRule
from projections import consumers, monitor
from projections import tables as t
from projections.db import make_engine
from projections.rebuild import rebuild_read_models
from projections.source import StoreLog
from tests.faults.load import Ledger
from tests.faults.world import World

ZERO = Decimal("0.00")
# The tables a rebuild makes: those of every consumer's read models (the AML monitor's
# included). Consumers' bookkeeping and what the API writes directly (sign-outs, throttling,
# reset tokens, staff reads of personal data) are not derived from events.
READ_MODELS = {table.name for _, models in consumers.resolve(None) for model in models
               for table in model.tables} | {table.name for table in monitor.TABLES}
STATUS_AFTER = {
    "PledgePlaced": "ACTIVE", "PledgeCancelled": "CANCELLED", "PledgeRefunded": "REFUNDED",
    "PledgeSettled": "SETTLED", "ReconfirmationRequested": "PENDING_RECONFIRMATION",
    "PledgeReconfirmed": "ACTIVE",
}
COUNTED = ("ACTIVE", "PENDING_RECONFIRMATION", "SETTLED")


@dataclass
class StoredPledge:
    id: str
    campaign_id: str
    backer_id: str
    regime: str
    amount: Decimal
    status: str = "ACTIVE"
    placed: int = 0  # PledgePlaced events (exactly 1 expected)


@dataclass
class StoredCampaign:
    accepted: Counter[str] = field(default_factory=Counter)  # pledge id -> PledgeAccepted count
    accepted_sum: Decimal = ZERO
    released_back: Counter[str] = field(default_factory=Counter)  # PledgeReleased
    released_back_sum: Decimal = ZERO
    escrow_released: Counter[str] = field(default_factory=Counter)  # EscrowReleased ids
    escrow_released_sum: Decimal = ZERO


@dataclass
class Scan:
    events: int = 0
    pledges: dict[str, StoredPledge] = field(default_factory=dict)
    campaigns: dict[str, StoredCampaign] = field(default_factory=lambda: defaultdict(
        StoredCampaign))
    commitments: Counter[str] = field(default_factory=Counter)  # pledge id -> committed
    commitment_releases: Counter[str] = field(default_factory=Counter)


def notifications(app: Crowdfund, page: int = 2000) -> Iterator[Any]:
    after = 0
    while True:
        batch = app.recorder.select_notifications(after, page, inclusive_of_start=False)
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def scan_log(app: Crowdfund) -> Scan:
    """One pass over the whole log: every pledge, every escrow movement, every commitment."""
    scan = Scan()
    for notification in notifications(app):
        event = app.mapper.to_domain_event(notification)
        scan.events += 1
        name = type(event).__name__
        stream = str(event.originator_id)
        if name == "PledgePlaced":
            found = scan.pledges.get(stream)
            if found is None:
                found = scan.pledges[stream] = StoredPledge(
                    stream, str(event.campaign_id), str(event.backer_id), str(event.regime),
                    Decimal(event.amount))
            found.placed += 1
        elif name in STATUS_AFTER and stream in scan.pledges:
            scan.pledges[stream].status = STATUS_AFTER[name]
        elif name == "PledgeAccepted":
            campaign = scan.campaigns[stream]
            campaign.accepted[str(event.pledge_id)] += 1
            campaign.accepted_sum += Decimal(event.amount)
        elif name == "PledgeReleased":
            campaign = scan.campaigns[stream]
            campaign.released_back[str(event.pledge_id)] += 1
            campaign.released_back_sum += Decimal(event.amount)
        elif name == "EscrowReleased":
            campaign = scan.campaigns[stream]
            campaign.escrow_released.update(str(p) for p in event.pledge_ids)
            campaign.escrow_released_sum += Decimal(event.amount)
        elif name == "InvestmentCommitted":
            scan.commitments[str(event.pledge_id)] += 1
        elif name == "InvestmentReleased":
            scan.commitment_releases[str(event.pledge_id)] += 1
    return scan


# --- the checks ------------------------------------------------------------------------


def acknowledged_exactly_once(scan: Scan, ledger: Ledger) -> list[str]:
    """Every acknowledged pledge is in the store once, as acknowledged, accepted once."""
    problems = []
    for key in ledger.mismatched_ids:
        problems.append(f"pledge {key}: the API acknowledged another pledge id than the key names")
    for intent in ledger.by_outcome("acked"):
        stored = scan.pledges.get(intent.pledge_id)
        if stored is None:
            problems.append(f"acknowledged pledge {intent.pledge_id} (key {intent.key}) is "
                            "not in the event store")
            continue
        if stored.placed != 1:
            problems.append(f"pledge {intent.pledge_id} placed {stored.placed} times")
        if (stored.campaign_id, stored.backer_id, stored.amount) != (
                intent.offering.id, intent.backer.id, intent.amount):
            problems.append(f"pledge {intent.pledge_id} stored as {stored} but acknowledged "
                            f"for {intent.offering.id} {intent.backer.id} {intent.amount}")
        accepted = scan.campaigns[stored.campaign_id].accepted[intent.pledge_id]
        if accepted != 1:
            problems.append(f"pledge {intent.pledge_id} accepted {accepted} times by its campaign")
        if stored.regime == "REG_CF" and scan.commitments[intent.pledge_id] != 1:
            problems.append(f"pledge {intent.pledge_id} committed "
                            f"{scan.commitments[intent.pledge_id]} times to the backer's limit")
    return problems


def nothing_unacknowledged_in_escrow(scan: Scan, ledger: Ledger) -> list[str]:
    """Every stored pledge was acknowledged; nothing refused or unanswered was stored."""
    problems = []
    acked = {i.pledge_id for i in ledger.by_outcome("acked")}
    known = {i.pledge_id: i for i in ledger.intents}
    for pledge_id, stored in scan.pledges.items():
        if pledge_id in acked:
            continue
        intent = known.get(pledge_id)
        what = "a pledge nobody sent" if intent is None else (
            f"key {intent.key} ({intent.outcome}, {intent.code}, {intent.attempts} attempts)")
        problems.append(f"pledge {pledge_id} is stored ({stored.status}, {stored.amount}) "
                        f"without acknowledgement: {what}")
    for intent in ledger.intents:
        if intent.outcome in ("unresolved", "pending"):
            problems.append(f"key {intent.key} never got an answer, even after the platform "
                            "recovered")
    return problems


def escrow_balances(app: Crowdfund, scan: Scan, world: World) -> list[str]:
    """held + released + refunded == pledged per campaign, and each equals its pledges."""
    problems = []
    by_campaign: dict[str, list[Any]] = defaultdict(list)
    for stored in scan.pledges.values():
        by_campaign[stored.campaign_id].append(stored)
    for offering in world.offerings:
        campaign = app.campaign(offering.id)
        events = scan.campaigns[offering.id]
        pledges = by_campaign[offering.id]
        total = sum((p.amount for p in pledges), ZERO)
        held = sum((p.amount for p in pledges if p.status in ("ACTIVE",
                                                              "PENDING_RECONFIRMATION")), ZERO)
        released = sum((p.amount for p in pledges if p.status == "SETTLED"), ZERO)
        refunded = sum((p.amount for p in pledges if p.status in ("CANCELLED", "REFUNDED")),
                       ZERO)
        name = offering.name
        if campaign.held + campaign.released + campaign.refunded != campaign.pledged:
            problems.append(f"{name}: held {campaign.held} + released {campaign.released} + "
                            f"refunded {campaign.refunded} != pledged {campaign.pledged}")
        expected = (total, held, released, refunded)
        actual = (campaign.pledged, campaign.held, campaign.released, campaign.refunded)
        if actual != expected:
            problems.append(f"{name}: (pledged, held, released, refunded) is {actual} but its "
                            f"pledges add up to {expected}")
        if events.accepted_sum != total:
            problems.append(f"{name}: PledgeAccepted events sum to {events.accepted_sum}, "
                            f"its pledges to {total}")
        if (events.escrow_released_sum, events.released_back_sum) != (released, refunded):
            problems.append(f"{name}: escrow events released {events.escrow_released_sum} and "
                            f"gave back {events.released_back_sum}; pledges say {released} and "
                            f"{refunded}")
        twice = [p for p, n in (events.escrow_released + events.released_back).items() if n > 1]
        if twice:
            problems.append(f"{name}: pledges released more than once: {twice[:5]}")
        if set(events.accepted) != {p.id for p in pledges}:
            problems.append(f"{name}: accepted pledge ids differ from the pledges placed on it")
    return problems


def within_targets_and_caps(app: Crowdfund, scan: Scan, world: World) -> list[str]:
    """No campaign above its max target; no backer above their Reg CF limit."""
    problems = []
    for offering in world.offerings:
        campaign = app.campaign(offering.id)
        raised = campaign.held + campaign.released
        if raised > offering.max_target:
            problems.append(f"{offering.name}: raised {raised} > max target {offering.max_target}")
    for backer in world.backers:
        limit = backer.reg_cf_limit
        counted = [p for p in scan.pledges.values()
                   if p.backer_id == backer.id and p.regime == "REG_CF" and p.status in COUNTED]
        used = sum((p.amount for p in counted), ZERO)
        if limit is not None and used > limit:
            problems.append(f"backer {backer.id}: Reg CF commitments {used} > limit {limit}")
        user = app.user(backer.id)
        recorded = sum((c.amount for c in user.commitments.values() if c.regime == "REG_CF"),
                       ZERO)
        if recorded != used:
            problems.append(f"backer {backer.id}: the user's commitments say {recorded}, the "
                            f"open and settled Reg CF pledges {used}")
    return problems


def final_statuses(app: Crowdfund, scan: Scan, world: World, ledger: Ledger) -> list[str]:
    """Short campaigns funded or refunded completely; cancellations as acknowledged.

    The short offerings are ECSP: funded at their deadline, they settle only when the
    last reflection period ends (Art. 22), four days after the run."""
    problems = []
    for offering in world.short_offerings:
        campaign = app.campaign(offering.id)
        status = campaign.status.value
        if offering.expect_funded:
            held = campaign.settlement_held_until
            if status != "FUNDED" or held is None or held <= campaign.terms.deadline:
                problems.append(f"{offering.name}: {status}, settlement held until {held}, "
                                "expected FUNDED and held past the deadline")
        elif status != "FAILED" or campaign.held != ZERO:
            problems.append(f"{offering.name}: {status} holding {campaign.held}, expected "
                            "FAILED holding nothing")
    for intent in ledger.by_outcome("acked"):
        stored = scan.pledges.get(intent.pledge_id)
        if stored is None:
            continue  # reported by acknowledged_exactly_once
        if intent.offering.short:
            want = "ACTIVE" if intent.offering.expect_funded else "REFUNDED"
            if stored.status != want:
                problems.append(f"pledge {stored.id} on {intent.offering.name} is "
                                f"{stored.status}, expected {want}")
            continue
        if intent.cancel == "acked" and stored.status != "CANCELLED":
            problems.append(f"pledge {stored.id}: cancellation acknowledged, status "
                            f"{stored.status}")
        elif intent.cancel == "refused" and intent.cancel_attempts == 1 \
                and stored.status != "ACTIVE":
            problems.append(f"pledge {stored.id}: cancellation refused ({intent.cancel_code}), "
                            f"status {stored.status}")
        elif intent.cancel is None and stored.status != "ACTIVE":
            problems.append(f"pledge {stored.id}: never cancelled, status {stored.status}")
    return problems


def chains_verify(app: Crowdfund) -> list[str]:
    result = verify_chains(app)
    if result.ok:
        return []
    return [f"hash chains: first bad position {result.first_bad_position} "
            f"({result.checked_events} events checked)"]


# --- read models -----------------------------------------------------------------------


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, table by table, in primary-key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [tuple(r) for r in conn.execute(
                    sa.select(table).order_by(*table.primary_key.columns))]
                for table in t.metadata.sorted_tables if table.name in READ_MODELS
            }
    finally:
        engine.dispose()


def rebuilt_reference(app: Crowdfund, server: str, partitions: int) -> dict[str, list[Any]]:
    """The read models rebuilt from the event store into a fresh schema (dropped after)."""
    schema = f"ref_{uuid.uuid4().hex}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[call-overload]
    try:
        url = f"{server}?schema={schema}"
        rebuild_read_models(url, StoreLog(app), None, partitions,
                            extra=(aml_monitor(Settings(), app),))
        return dump(url)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[call-overload]


def read_models_equal_rebuild(live_url: str, app: Crowdfund, server: str,
                              partitions: int) -> list[str]:
    live = dump(live_url)
    reference = rebuilt_reference(app, server, partitions)
    problems = []
    for name, rows in reference.items():
        got = live.get(name, [])
        if got == rows:
            continue
        missing = [r for r in rows if r not in got]
        extra = [r for r in got if r not in rows]
        problems.append(f"read model {name}: {len(got)} live rows, {len(rows)} rebuilt; "
                        f"missing {missing[:3]}, unexpected {extra[:3]}")
    return problems


def read_models_match_store(live_url: str, app: Crowdfund, world: World) -> list[str]:
    problems = []
    engine = make_engine(live_url)
    try:
        with engine.connect() as conn:
            for offering in world.offerings:
                row = conn.execute(sa.select(t.campaigns).where(
                    t.campaigns.c.id == offering.id)).first()
                campaign = app.campaign(offering.id)
                want = (campaign.status.value, campaign.held, campaign.released,
                        campaign.refunded)
                got = None if row is None else (row.status, row.held, row.released,
                                                row.refunded)
                if got != want:
                    problems.append(f"{offering.name}: read model {got}, event store {want}")
    finally:
        engine.dispose()
    return problems


def aml_alerts_raised_once(live_url: str, app: Crowdfund) -> list[str]:
    """Every finding of the monitor is an alert in the event store, raised once, and every
    monitoring alert in the store is a finding (SANCTIONS_MATCH comes from screening)."""
    engine = make_engine(live_url)
    try:
        with engine.connect() as conn:
            found = set(conn.execute(sa.select(t.aml_findings.c.alert_id)).scalars())
    finally:
        engine.dispose()
    topic = "domain.aml_alert:AmlAlert.AmlAlertRaised"
    raised: Counter[str] = Counter()
    for note in app.recorder.select_notifications(0, 1_000_000, topics=[topic]):
        if app.aml.alert(note.originator_id).rule is not AlertRule.SANCTIONS_MATCH:
            raised[str(note.originator_id)] += 1
    problems = [f"finding {a} never raised" for a in sorted(found - set(raised))]
    problems += [f"alert {a} raised without a finding" for a in sorted(set(raised) - found)]
    problems += [f"alert {a} raised {n} times" for a, n in raised.items() if n > 1]
    return problems


def personal_data_in_logs(logs: dict[str, str], world: World) -> list[str]:
    """Backers' e-mail addresses and legal names never appear in any process's output."""
    found = []
    for backer in world.backers:
        for value in (backer.email, backer.legal_name):
            for name, text in logs.items():
                if value.lower() in text.lower():
                    found.append(f"{value!r} in the {name} log")
    return found


def check_all(app: Crowdfund, world: World, ledger: Ledger, live_url: str, server: str,
              partitions: int) -> tuple[list[str], list[str], Scan]:
    scan = scan_log(app)
    checks = {
        "every acknowledged pledge stored exactly once":
            lambda: acknowledged_exactly_once(scan, ledger),
        "no unacknowledged pledge in escrow": lambda: nothing_unacknowledged_in_escrow(
            scan, ledger),
        "held + released + refunded == pledged, per campaign and pledge by pledge":
            lambda: escrow_balances(app, scan, world),
        "no campaign over its max target, no backer over their cap":
            lambda: within_targets_and_caps(app, scan, world),
        "settlements, refunds and cancellations as acknowledged":
            lambda: final_statuses(app, scan, world, ledger),
        "hash chains verify": lambda: chains_verify(app),
        "read models equal a rebuild, row for row":
            lambda: read_models_equal_rebuild(live_url, app, server, partitions),
        "read models agree with the event store": lambda: read_models_match_store(
            live_url, app, world),
        "every AML finding raised as an alert exactly once":
            lambda: aml_alerts_raised_once(live_url, app),
    }
    problems: list[str] = []
    passed: list[str] = []
    for name, check in checks.items():
        found = check()
        if found:
            problems.extend(f"[{name}] {p}" for p in found)
        else:
            passed.append(name)
    return problems, passed, scan
