"""The notifier's read model: events -> notices (application.notification_rules).

It runs as its own consumer group (`projections.consumers.NOTIFIER`, `crowdfund worker
notifier`), so a notice is stored in the same transaction as the watermark that
says its event is applied: a redelivered or replayed event makes no second notice,
and a broker loss is caught up from the event store like the projections.

Besides the notices it keeps what the rules need, each row from the events of one
stream: a campaign's terms and its backers' open money (the campaign's stream:
PledgeAccepted / PledgeReleased carry backer and amount), a pledge's backer and
amount, a question's asker, a cap table's campaign. A notice about a pledge, a
question or a cap table names its campaign from the campaign's row, which another
partition fills: a title changed meanwhile may be worded as of either moment.

Each notice also gets a row in the mail outbox (`nt_outbox`, inserted if absent), which
is not one of this model's tables: a rebuild re-makes the same notices (same ids)
and finds them queued or sent already, so it mails nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from application.notification_rules import (
    RULES,
    CampaignFacts,
    Cause,
    Facts,
    PledgeFacts,
    notices_for,
)
from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel, Row, instant, money

STATUS_AFTER = {
    "CampaignSubmitted": "IN_REVIEW", "CampaignRejected": "REJECTED",
    "CampaignApproved": "APPROVED", "CampaignLaunched": "LIVE", "CampaignFunded": "FUNDED",
    "CampaignFailed": "FAILED", "CampaignCancelled": "CANCELLED", "CampaignSettled": "SETTLED",
}
# Events that change what the notifier keeps (besides those that make notices).
KEPT = frozenset({
    "CampaignDrafted", "CampaignAmended", "MaterialChangeMade", "EarlyCloseScheduled",
    "PledgeAccepted", "PledgeReleased", "PledgePlaced", "QuestionAsked", "CapTableOpened",
    "IssuerAssigned", "IssuerRegistered", "EarlyCloseWithdrawn", *STATUS_AFTER,
})
HANDLES = frozenset(RULES) | KEPT
# Campaign-stream notices that go to every backer: the batch's rows are written first,
# then the campaign's backers read with one query.
TO_BACKERS = frozenset({
    "MaterialChangeMade", "EarlyCloseScheduled", "CampaignFunded", "CampaignFailed",
    "CampaignCancelled", "UpdatePosted", "CancellationWindowClosing",
})
TERMS = ("title", "min_target", "price_per_share", "deadline")


def cause_of(record: EventRecord) -> Cause:
    return Cause(record.stream_id, record.version, record.position, record.type,
                 record.occurred_at, record.payload)


# Facts ---------------------------------------------------------------------------------


def _campaign(batch: Batch, campaign_id: str | None) -> CampaignFacts | None:
    if campaign_id is None:
        return None
    row = batch.rows(t.notifier_campaigns).get(campaign_id)
    if row is None:
        return None
    issuer = batch.rows(t.notifier_issuers).get(row["issuer_id"]) if row["issuer_id"] else None
    return CampaignFacts(
        id=row["id"], title=row["title"], regime=row["regime"], currency=row["currency"],
        founder_id=row["founder_id"], status=row["status"], deadline=row["deadline"],
        price_per_share=row["price_per_share"], min_target=row["min_target"],
        issuer_name=issuer["name"] if issuer is not None else None,
    )


def _backers(batch: Batch, campaign_id: str) -> dict[str, Decimal]:
    """Each backer's money open (or settled) in the campaign, as of this event."""
    batch.rows(t.notifier_backings).flush()
    b = t.notifier_backings
    found = batch.conn.execute(
        sa.select(b.c.backer_id, sa.func.sum(b.c.amount)).where(b.c.campaign_id == campaign_id)
        .group_by(b.c.backer_id))
    return {backer: money(total) for backer, total in found}


def facts_for(batch: Batch, record: EventRecord) -> Facts:
    stream, kind, p = record.stream_id, record.stream_type, record.payload
    if kind == "Campaign":
        backers = _backers(batch, stream) if record.type in TO_BACKERS else {}
        settled = {}
        if record.type == "EscrowReleased":
            rows = batch.rows(t.notifier_backings)
            for pledge_id in p.get("pledge_ids") or []:
                row = rows.get(stream, str(pledge_id))
                if row is not None:
                    settled[str(pledge_id)] = (row["backer_id"], row["amount"])
        return Facts(campaign=_campaign(batch, stream), backers=backers, settled=settled)
    if record.type == "PledgePlaced":
        return Facts(campaign=_campaign(batch, str(p["campaign_id"])))
    if kind == "Pledge":
        row = batch.rows(t.notifier_pledges).get(stream)
        if row is None:
            return Facts()
        pledge = PledgeFacts(row["id"], row["campaign_id"], row["backer_id"], row["amount"],
                             int(row["shares"]), row["currency"])
        return Facts(campaign=_campaign(batch, pledge.campaign_id), pledge=pledge)
    if kind == "Question":
        if record.type == "QuestionAsked":
            return Facts(campaign=_campaign(batch, str(p["campaign_id"])))
        question = batch.rows(t.notifier_questions).get(stream)
        if question is None:
            return Facts()
        return Facts(campaign=_campaign(batch, question["campaign_id"]),
                     asker_id=question["asker_id"],
                     question_campaign_id=question["campaign_id"])
    if kind == "CapTable":
        table = batch.rows(t.notifier_cap_tables).get(stream)
        if table is None:
            return Facts()
        return Facts(campaign=_campaign(batch, table["campaign_id"]),
                     cap_table_campaign_id=table["campaign_id"],
                     cap_table_currency=table["currency"])
    return Facts()


# Keeping ------------------------------------------------------------------------------


def keep(batch: Batch, record: EventRecord) -> None:
    """Update what the notifier keeps, after the event's notices were made."""
    p, stream = record.payload, record.stream_id
    if record.type == "CampaignDrafted":
        batch.rows(t.notifier_campaigns).insert({
            "id": stream, "title": p["title"], "regime": p["regime"],
            "currency": p["currency"], "founder_id": p["founder_id"], "status": "DRAFT",
            "deadline": instant(p["deadline"]), "price_per_share": money(p["price_per_share"]),
            "min_target": money(p["min_target"]), "issuer_id": None,
        })
    elif record.type in ("CampaignAmended", "MaterialChangeMade", "EarlyCloseScheduled",
                         "EarlyCloseWithdrawn", "IssuerAssigned"):
        row = batch.rows(t.notifier_campaigns).get(stream)
        if row is not None:
            changes = dict(p.get("changes") or {})
            if "new_deadline" in p:
                changes["deadline"] = p["new_deadline"]
            if record.type == "EarlyCloseWithdrawn":
                changes["deadline"] = p["deadline"]
            if record.type == "IssuerAssigned":
                row["issuer_id"] = str(p["issuer_id"])
            _change_terms(row, changes)
    elif record.type == "PledgeAccepted":
        batch.rows(t.notifier_backings).insert({
            "campaign_id": stream, "pledge_id": str(p["pledge_id"]),
            "backer_id": str(p["backer_id"]), "amount": money(p["amount"]),
        })
    elif record.type == "PledgeReleased":
        rows = batch.rows(t.notifier_backings)
        if rows.get(stream, str(p["pledge_id"])) is not None:
            rows.delete(stream, str(p["pledge_id"]))
    elif record.type in STATUS_AFTER:
        row = batch.rows(t.notifier_campaigns).get(stream)
        if row is not None:
            row["status"] = STATUS_AFTER[record.type]
    else:
        _keep_other(batch, record)


def _change_terms(row: Row, changes: dict[str, Any]) -> None:
    for name in TERMS:
        if name in changes:
            value = changes[name]
            row[name] = instant(value) if name == "deadline" else (
                str(value) if name == "title" else money(value))


def _keep_other(batch: Batch, record: EventRecord) -> None:
    p, stream = record.payload, record.stream_id
    if record.type == "PledgePlaced":
        batch.rows(t.notifier_pledges).insert({
            "id": stream, "campaign_id": str(p["campaign_id"]), "backer_id": str(p["backer_id"]),
            "amount": money(p["amount"]), "shares": int(p["shares"]), "currency": p["currency"],
        })
    elif record.type == "QuestionAsked":
        batch.rows(t.notifier_questions).insert({
            "id": stream, "campaign_id": str(p["campaign_id"]), "asker_id": str(p["asker_id"]),
        })
    elif record.type == "IssuerRegistered":
        batch.rows(t.notifier_issuers).insert({"id": stream, "name": p["registered_name"]})
    elif record.type == "CapTableOpened":
        batch.rows(t.notifier_cap_tables).insert({
            "id": stream, "campaign_id": str(p["campaign_id"]), "currency": p["currency"],
        })


# The model -----------------------------------------------------------------------------


def apply(batch: Batch, record: EventRecord) -> None:
    if record.type in RULES:
        notices = batch.rows(t.notifications)
        for notice in notices_for(cause_of(record), facts_for(batch, record)):
            notices.insert({
                "id": notice.id, "recipient_id": notice.recipient_id,
                "kind": notice.kind.value, "subject": notice.subject[:400],
                "body": notice.body, "campaign_id": notice.campaign_id,
                "pledge_id": notice.pledge_id, "position": notice.position,
                "created_at": notice.created_at,
            })
    if record.type in KEPT:
        keep(batch, record)


def prefetch(batch: Batch, records: Sequence[EventRecord]) -> None:
    """One query per table for the rows the batch reads by key."""
    keys: dict[sa.Table, set[tuple[Any, ...]]] = defaultdict(set)
    for r in records:
        p = r.payload
        if r.stream_type == "Campaign":
            keys[t.notifier_campaigns].add((r.stream_id,))
            if r.type == "PledgeReleased":
                keys[t.notifier_backings].add((r.stream_id, str(p["pledge_id"])))
            elif r.type == "EscrowReleased":
                keys[t.notifier_backings].update(
                    (r.stream_id, str(pledge_id)) for pledge_id in p.get("pledge_ids") or [])
        elif r.stream_type == "Pledge":
            keys[t.notifier_pledges].add((r.stream_id,))
        elif r.stream_type == "Question":
            keys[t.notifier_questions].add((r.stream_id,))
        elif r.stream_type == "CapTable":
            keys[t.notifier_cap_tables].add((r.stream_id,))
        elif r.stream_type == "Issuer":
            keys[t.notifier_issuers].add((r.stream_id,))
        if "campaign_id" in p:
            keys[t.notifier_campaigns].add((str(p["campaign_id"]),))
    for table, wanted in keys.items():
        batch.rows(table).prefetch(wanted)
    # Campaign rows a pledge, question or cap table names (known once their rows are in).
    named = {(row["campaign_id"],) for table in (t.notifier_pledges, t.notifier_questions,
                                                 t.notifier_cap_tables)
             for row in batch.rows(table).rows.values() if row is not None}
    campaigns = batch.rows(t.notifier_campaigns)
    campaigns.prefetch(named)
    batch.rows(t.notifier_issuers).prefetch(
        {(row["issuer_id"],) for row in campaigns.rows.values() if row and row["issuer_id"]})


def queue_mail(conn: sa.Connection, records: Sequence[EventRecord]) -> None:
    """An outbox row for every notice these events made, unless it has one already (a
    replay or a rebuild): one statement per batch."""
    positions = sorted({r.position for r in records if r.type in RULES})
    n, o = t.notifications, t.notification_outbox
    for start in range(0, len(positions), 500):
        chosen = sa.select(
            n.c.id, sa.literal(0), sa.literal(0, type_=sa.BigInteger),
        ).where(n.c.position.in_(positions[start:start + 500]))
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(o).from_select(
            ["notification_id", "attempts", "next_attempt_at"], chosen
        ).on_conflict_do_nothing(index_elements=["notification_id"])
        conn.execute(statement)


MODEL = ReadModel(
    name="notifications",
    tables=(t.notifier_campaigns, t.notifier_issuers, t.notifier_backings, t.notifier_pledges,
            t.notifier_questions, t.notifier_cap_tables, t.notifications),
    handles=HANDLES, apply=apply, prefetch=prefetch, apply_many=queue_mail,
)
