"""The AML transaction monitor: a consumer group (`crowdfund worker monitor`) whose
model remembers what the rules need and writes what they find (`aml_findings`, an
outbox); `workers.monitor` raises each finding as an alert through the application.

What it remembers, and from which stream (docs/aml.md, "Monitoring"):
- a campaign's founder and backers (the campaign's stream);
- a backer's pledges and releases (`InvestmentCommitted` / `InvestmentReleased` on the
  backer's own stream, in order: STRUCTURING, VELOCITY and RAPID_CANCEL_CYCLE read one
  stream, so they fire the same however partitions interleave);
- each identity hash (HMAC of legal name and date of birth) a user's profiles had,
  read from the event store through the application (`InvestorFacts`), never from
  the topic. SELF_DEALING and DUPLICATE_IDENTITY join streams; they are written so
  that the same facts give the same findings in any order (a finding is named by the
  campaign and backer, or the pair of accounts, not by the event that completed it).

Rows are written with SQL as each event is applied (the rules read what the events
before them in the batch wrote), inside the batch's transaction with the watermarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.aml_alert import AlertRule, alert_id_for
from domain.aml_rules import (
    MonitoringThresholds,
    Placed,
    rapid_cancel_cycle,
    structuring,
    velocity,
)
from domain.rulebook import RULEBOOKS, Regime
from projections import tables as t
from projections.consumers import Consumer
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, instant, money

NAME = "monitor"
GROUP = "crowdfund-monitor"
PROFILE_EVENTS = frozenset({"InvestorProfileSubmitted", "FinancesDeclared"})
HANDLES = frozenset({
    "CampaignDrafted", "PledgeAccepted", "UserRegistered", "InvestmentCommitted",
    "InvestmentReleased", *PROFILE_EVENTS,
})
TABLES = (
    t.aml_campaigns, t.aml_campaign_backers, t.aml_users, t.aml_identities,
    t.aml_commitments, t.aml_findings,
)


class InvestorFacts(Protocol):
    """What the monitor may learn of an investor as of a version of their stream
    (`application.aml.InvestorFacts` reads it from the event store)."""

    def identity_key(self, user_id: str, version: int) -> str | None: ...

    def declared_means(self, user_id: str, version: int) -> Decimal | None: ...

    def ecsp_risk_threshold(self, user_id: str, version: int) -> Decimal | None: ...


@dataclass(frozen=True)
class Finding:
    rule: AlertRule
    trigger: str
    subject_id: str
    details: str
    campaign_id: str | None = None
    related_user_ids: tuple[str, ...] = ()


class MonitorModel:
    """The monitor's one read model: `apply` for every event it handles."""

    def __init__(self, facts: InvestorFacts, rules: MonitoringThresholds) -> None:
        self.facts = facts
        self.rules = rules
        self._handlers = {
            "CampaignDrafted": self._campaign_drafted,
            "PledgeAccepted": self._pledge_accepted,
            "UserRegistered": self._user_registered,
            "InvestorProfileSubmitted": self._profile,
            "FinancesDeclared": self._profile,
            "InvestmentCommitted": self._committed,
            "InvestmentReleased": self._released,
        }

    def apply(self, batch: Batch, e: EventRecord) -> None:
        self._handlers[e.type](batch.conn, e)

    # Campaign stream -----------------------------------------------------------------

    def _campaign_drafted(self, conn: sa.Connection, e: EventRecord) -> None:
        conn.execute(sa.insert(t.aml_campaigns).values(
            campaign_id=e.stream_id, founder_id=e.payload["founder_id"]))

    def _pledge_accepted(self, conn: sa.Connection, e: EventRecord) -> None:
        campaign_id, backer_id = e.stream_id, str(e.payload["backer_id"])
        known = conn.execute(sa.select(t.aml_campaign_backers.c.backer_id).where(
            t.aml_campaign_backers.c.campaign_id == campaign_id,
            t.aml_campaign_backers.c.backer_id == backer_id)).first()
        if known is not None:
            return  # the pair was checked at its first pledge (identities: when they came)
        conn.execute(sa.insert(t.aml_campaign_backers).values(
            campaign_id=campaign_id, backer_id=backer_id))
        founder = _founder(conn, campaign_id)
        if founder is not None:
            self._check_self_dealing(conn, campaign_id, founder, backer_id)

    # User stream ---------------------------------------------------------------------

    def _user_registered(self, conn: sa.Connection, e: EventRecord) -> None:
        conn.execute(sa.insert(t.aml_users).values(
            user_id=e.stream_id, registered_position=e.position))

    def _profile(self, conn: sa.Connection, e: EventRecord) -> None:
        user_id = e.stream_id
        conn.execute(sa.update(t.aml_users).where(t.aml_users.c.user_id == user_id)
                     .values(profile_version=e.version))
        if e.type != "InvestorProfileSubmitted":
            return
        key = self.facts.identity_key(user_id, e.version)
        if key is None or _has_key(conn, user_id, key):
            return
        conn.execute(sa.insert(t.aml_identities).values(user_id=user_id, identity_key=key))
        others = conn.execute(sa.select(t.aml_identities.c.user_id).where(
            t.aml_identities.c.identity_key == key,
            t.aml_identities.c.user_id != user_id)).scalars().all()
        for other in sorted(others):
            self._duplicate(conn, user_id, other)
        # Campaigns this user founded, with backers sharing the identity; campaigns this
        # user backed, whose founder shares it.
        founded = conn.execute(
            sa.select(t.aml_campaign_backers.c.campaign_id, t.aml_campaign_backers.c.backer_id)
            .join(t.aml_campaigns,
                  t.aml_campaigns.c.campaign_id == t.aml_campaign_backers.c.campaign_id)
            .where(t.aml_campaigns.c.founder_id == user_id)).all()
        backed = conn.execute(
            sa.select(t.aml_campaign_backers.c.campaign_id, t.aml_campaigns.c.founder_id)
            .join(t.aml_campaigns,
                  t.aml_campaigns.c.campaign_id == t.aml_campaign_backers.c.campaign_id)
            .where(t.aml_campaign_backers.c.backer_id == user_id)).all()
        for campaign_id, backer_id in sorted(founded):
            self._check_self_dealing(conn, campaign_id, user_id, backer_id)
        for campaign_id, founder_id in sorted(backed):
            self._check_self_dealing(conn, campaign_id, founder_id, user_id)

    def _committed(self, conn: sa.Connection, e: EventRecord) -> None:
        p, backer_id = e.payload, e.stream_id
        placed = Placed(
            pledge_id=str(p["pledge_id"]), currency=RULEBOOKS[Regime(p["regime"])].currency,
            amount=money(p["amount"]), at=instant(p["at"]),
        )
        conn.execute(sa.insert(t.aml_commitments).values(
            pledge_id=placed.pledge_id, backer_id=backer_id, currency=placed.currency,
            amount=placed.amount, at=placed.at))
        horizon = placed.at - max(self.rules.structuring_window, self.rules.velocity_window)
        recent = _pledges(conn, backer_id, since=horizon)
        version = _profile_version(conn, backer_id)
        trigger = f"{backer_id}/{e.version}"
        campaign_id = str(p["campaign_id"])
        risk = None
        if placed.currency == "EUR" and version is not None:
            risk = self.facts.ecsp_risk_threshold(backer_id, version)
        details = structuring(placed, recent, self.rules, risk)
        if details is not None:
            self._found(conn, Finding(AlertRule.STRUCTURING, trigger, backer_id, details,
                                      campaign_id))
        means = None if version is None else self.facts.declared_means(backer_id, version)
        details = velocity(placed, recent, self.rules, means)
        if details is not None:
            self._found(conn, Finding(AlertRule.VELOCITY, trigger, backer_id, details,
                                      campaign_id))

    def _released(self, conn: sa.Connection, e: EventRecord) -> None:
        backer_id, pledge_id = e.stream_id, str(e.payload["pledge_id"])
        now = e.occurred_at
        conn.execute(sa.update(t.aml_commitments).where(
            t.aml_commitments.c.pledge_id == pledge_id).values(released_at=now))
        recent = _pledges(conn, backer_id, since=now - self.rules.cancel_window)
        released = next((r for r in recent if r.pledge_id == pledge_id), None)
        if released is None:
            return
        last = conn.execute(sa.select(t.aml_users.c.cancel_alerted_at).where(
            t.aml_users.c.user_id == backer_id)).scalar_one_or_none()
        details = rapid_cancel_cycle(released, recent, self.rules, last)
        if details is None:
            return
        conn.execute(sa.update(t.aml_users).where(t.aml_users.c.user_id == backer_id)
                     .values(cancel_alerted_at=now))
        self._found(conn, Finding(AlertRule.RAPID_CANCEL_CYCLE, f"{backer_id}/{e.version}",
                                  backer_id, details))

    # Cross-stream rules: named by their facts, not by the event that completed them ------

    def _check_self_dealing(
        self, conn: sa.Connection, campaign_id: str, founder_id: str, backer_id: str
    ) -> None:
        if backer_id == founder_id:
            details = "The campaign's founder pledged into it from their own account."
            related: tuple[str, ...] = ()
        elif _share_identity(conn, founder_id, backer_id):
            details = (f"Account {backer_id} has the legal name and date of birth of the "
                       f"campaign's founder (account {founder_id}) and pledged into it.")
            related = (founder_id,)
        else:
            return
        self._found(conn, Finding(AlertRule.SELF_DEALING, f"{campaign_id}/{backer_id}",
                                  backer_id, details, campaign_id, related))

    def _duplicate(self, conn: sa.Connection, user_id: str, other: str) -> None:
        order = dict(conn.execute(
            sa.select(t.aml_users.c.user_id, t.aml_users.c.registered_position)
            .where(t.aml_users.c.user_id.in_([user_id, other]))).all())
        older, newer = sorted((user_id, other), key=lambda u: (order.get(u, 0), u))
        details = (f"Account {newer} has the legal name and date of birth of account "
                   f"{older} (keyed identity hashes compared).")
        self._found(conn, Finding(AlertRule.DUPLICATE_IDENTITY, f"{older}/{newer}", newer,
                                  details, None, (older,)))

    def _found(self, conn: sa.Connection, finding: Finding) -> None:
        """Record a finding once: a cross-stream one may be found again from another
        stream (in this batch, or concurrently by a worker on another partition)."""
        insert_once(conn, t.aml_findings, {
            "alert_id": str(alert_id_for(finding.rule, finding.trigger)),
            "rule": finding.rule.value, "trigger": finding.trigger,
            "subject_id": finding.subject_id, "campaign_id": finding.campaign_id,
            "related_user_ids": ",".join(finding.related_user_ids),
            "details": finding.details,
        })


def insert_once(conn: sa.Connection, table: sa.Table, row: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a concurrent insert of the same key waits for
    the other transaction, then does nothing."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(row).on_conflict_do_nothing())


def _founder(conn: sa.Connection, campaign_id: str) -> str | None:
    return conn.execute(sa.select(t.aml_campaigns.c.founder_id).where(
        t.aml_campaigns.c.campaign_id == campaign_id)).scalar_one_or_none()


def _has_key(conn: sa.Connection, user_id: str, key: str) -> bool:
    return conn.execute(sa.select(t.aml_identities.c.user_id).where(
        t.aml_identities.c.user_id == user_id,
        t.aml_identities.c.identity_key == key)).first() is not None


def _share_identity(conn: sa.Connection, a: str, b: str) -> bool:
    mine = sa.select(t.aml_identities.c.identity_key).where(t.aml_identities.c.user_id == a)
    return conn.execute(sa.select(t.aml_identities.c.user_id).where(
        t.aml_identities.c.user_id == b,
        t.aml_identities.c.identity_key.in_(mine))).first() is not None


def _profile_version(conn: sa.Connection, user_id: str) -> int | None:
    return conn.execute(sa.select(t.aml_users.c.profile_version).where(
        t.aml_users.c.user_id == user_id)).scalar_one_or_none()


def _pledges(conn: sa.Connection, backer_id: str, since: datetime) -> list[Placed]:
    c = t.aml_commitments.c
    rows = conn.execute(sa.select(t.aml_commitments).where(
        c.backer_id == backer_id, c.at > since).order_by(c.at, c.pledge_id)).mappings()
    return [Placed(r["pledge_id"], r["currency"], r["amount"], r["at"], r["released_at"])
            for r in rows]


def monitor_consumer(facts: InvestorFacts, rules: MonitoringThresholds) -> Consumer:
    """The monitor as a consumer group: its model, tracking rows and rebuild."""
    model = MonitorModel(facts, rules)
    return Consumer(NAME, GROUP, (ReadModel("aml_monitor", TABLES, HANDLES, apply=model.apply),))


def pending_findings(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """Findings not yet raised as alerts."""
    f = t.aml_findings
    query = (sa.select(f).outerjoin(t.aml_raised, t.aml_raised.c.alert_id == f.c.alert_id)
             .where(t.aml_raised.c.alert_id.is_(None)).order_by(f.c.alert_id)
             .limit(limit))
    return [dict(r) for r in conn.execute(query).mappings()]


def mark_raised(conn: sa.Connection, alert_id: str, position: int) -> None:
    insert_once(conn, t.aml_raised, {"alert_id": alert_id, "position": position})
