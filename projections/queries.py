"""The read side's query interface: what the API and the CLI ask the read models.

Every method runs one short read transaction and returns frozen views
(`projections.views`). Cursors are opaque strings; pages are in a stable order
(campaigns: by draft position; pledges: by placement position).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import schema
from projections import tables as t
from projections.consumers import PROJECTIONS
from projections.db import EngineOrUrl, make_engine
from projections.views import (
    CampaignView,
    DistributionView,
    DocumentView,
    EscrowView,
    EventFilter,
    HoldingView,
    OfferingView,
    Page,
    PayoutView,
    PledgeView,
    StatsView,
    TeamMemberView,
    UpdateView,
    UserView,
)

ZERO = Decimal("0.00")
COUNTED = ("ACTIVE", "PENDING_RECONFIRMATION", "SETTLED")
OPEN = ("ACTIVE", "PENDING_RECONFIRMATION")
MAX_PAGE = 500
DEFAULT_TOPIC = "crowdfund.events"


class InvalidCursor(ValueError):
    """A cursor this API did not hand out."""


class ReadModels:
    """Queries over the read-model database (SQLite file or PostgreSQL)."""

    def __init__(self, engine_or_url: EngineOrUrl, *, topic: str = DEFAULT_TOPIC) -> None:
        schema.upgrade(engine_or_url)
        self.engine: Engine = make_engine(engine_or_url)
        self.topic = topic

    def close(self) -> None:
        self.engine.dispose()

    # Campaigns ---------------------------------------------------------------------

    def campaign(self, id: str) -> CampaignView | None:
        return self.campaigns_by_ids([id]).get(str(id))

    def campaigns_by_ids(self, ids: Iterable[str]) -> dict[str, CampaignView]:
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return {}
        query = sa.select(t.campaigns).where(t.campaigns.c.id.in_(wanted))
        with self.engine.connect() as conn:
            return {row.id: _campaign(row) for row in conn.execute(query)}

    def campaigns(
        self, status: str | None = None, first: int = 20, after: str | None = None
    ) -> Page[CampaignView]:
        c = t.campaigns.c
        where = [] if status is None else [c.status == status]
        return self._page(t.campaigns, c.seq, where, first, after, "campaign", _campaign)

    def campaigns_of_founder(self, founder_id: str) -> list[CampaignView]:
        """Every campaign the founder drafted, whatever its status, newest first."""
        c = t.campaigns.c
        query = (
            sa.select(t.campaigns).where(c.founder_id == str(founder_id)).order_by(c.seq.desc())
        )
        with self.engine.connect() as conn:
            return [_campaign(row) for row in conn.execute(query)]

    def review_queue(self) -> list[CampaignView]:
        c = t.campaigns.c
        query = sa.select(t.campaigns).where(c.status == "IN_REVIEW").order_by(c.seq)
        with self.engine.connect() as conn:
            return [_campaign(row) for row in conn.execute(query)]

    def escrow(self, campaign_id: str) -> EscrowView | None:
        view = self.campaign(campaign_id)
        if view is None:
            return None
        return EscrowView(view.id, view.currency, view.held, view.released, view.refunded)

    def updates(self, campaign_id: str) -> list[UpdateView]:
        u = t.updates.c
        query = (
            sa.select(t.updates)
            .where(u.campaign_id == str(campaign_id))
            .order_by(u.position, u.id)
        )
        with self.engine.connect() as conn:
            return [
                UpdateView(r.id, r.campaign_id, r.posted_at, r.title, r.body, r.material,
                           r.position)
                for r in conn.execute(query)
            ]

    # Offerings and their documents ---------------------------------------------------

    def offerings_by_ids(self, ids: Iterable[str]) -> dict[str, OfferingView]:
        """Described offerings by campaign id (campaigns never described are absent)."""
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return {}
        query = sa.select(t.offerings).where(t.offerings.c.campaign_id.in_(wanted))
        with self.engine.connect() as conn:
            return {row.campaign_id: _offering(row) for row in conn.execute(query)}

    def documents_by_campaigns(self, ids: Iterable[str]) -> dict[str, list[DocumentView]]:
        """Each campaign's documents, oldest first."""
        wanted = sorted({str(i) for i in ids})
        found: dict[str, list[DocumentView]] = {i: [] for i in wanted}
        if not wanted:
            return found
        d = t.documents.c
        query = sa.select(t.documents).where(d.campaign_id.in_(wanted)).order_by(d.position)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.campaign_id].append(_document(row))
        return found

    def document(self, sha256: str) -> DocumentView | None:
        """The first document filed with this content."""
        d = t.documents.c
        query = sa.select(t.documents).where(d.sha256 == sha256).order_by(d.position).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _document(row)

    # Pledges -----------------------------------------------------------------------

    def pledge(self, id: str) -> PledgeView | None:
        return self.pledges_by_ids([id]).get(str(id))

    def pledges_by_ids(self, ids: Iterable[str]) -> dict[str, PledgeView]:
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return {}
        query = _pledge_select().where(t.pledges.c.id.in_(wanted))
        with self.engine.connect() as conn:
            return {row.id: _pledge(row) for row in conn.execute(query)}

    def pledges_for_campaign(
        self, campaign_id: str, first: int = 50, after: str | None = None
    ) -> Page[PledgeView]:
        p = t.pledges.c
        where = [p.campaign_id == str(campaign_id)]
        return self._page(t.pledges, p.seq, where, first, after, "pledge", _pledge)

    def pledges_for_backer(self, backer_id: str) -> list[PledgeView]:
        p = t.pledges.c
        query = _pledge_select().where(p.backer_id == str(backer_id)).order_by(p.seq)
        with self.engine.connect() as conn:
            return [_pledge(row) for row in conn.execute(query)]

    # Investors ---------------------------------------------------------------------

    def investor_usage(self, backer_id: str, regime: str, since: datetime) -> Decimal:
        """Open or settled commitments on this platform made after `since` (exclusive)."""
        m = t.commitments.c
        amount = sa.type_coerce(m.amount, sa.BigInteger)  # sum cents, convert once
        query = sa.select(sa.func.coalesce(sa.func.sum(amount), 0)).where(
            m.backer_id == str(backer_id), m.regime == regime, m.at > since
        )
        with self.engine.connect() as conn:
            cents = conn.execute(query).scalar_one()
        return (Decimal(int(cents)) * t.CENT).quantize(t.CENT)

    def user(self, id: str) -> UserView | None:
        return self.users_by_ids([id]).get(str(id))

    def users_by_ids(self, ids: Iterable[str]) -> dict[str, UserView]:
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return {}
        query = sa.select(t.users).where(t.users.c.id.in_(wanted))
        with self.engine.connect() as conn:
            return {row.id: _user(row) for row in conn.execute(query)}

    def kyc_queue(self, first: int) -> list[UserView]:
        """PENDING investor profiles, the longest waiting first (rows from before the
        submission instant was kept sort by registration)."""
        u = t.users.c
        submitted = sa.func.coalesce(u.profile_submitted_at, u.registered_at)
        query = (sa.select(t.users).where(u.kyc_status == "PENDING")
                 .order_by(submitted, u.id).limit(first))
        with self.engine.connect() as conn:
            return [_user(row) for row in conn.execute(query)]

    # Cap tables and distributions ----------------------------------------------------

    def holdings(self, campaign_id: str) -> list[HoldingView]:
        h = t.holdings.c
        query = (
            sa.select(t.holdings)
            .where(h.campaign_id == str(campaign_id), h.shares > 0)
            .order_by(h.shares.desc(), h.backer_id)
        )
        with self.engine.connect() as conn:
            return [
                HoldingView(r.campaign_id, r.backer_id, int(r.shares), r.amount_invested)
                for r in conn.execute(query)
            ]

    def distributions(self, campaign_id: str) -> list[DistributionView]:
        d, p = t.distributions.c, t.payouts.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.distributions)
                .where(d.campaign_id == str(campaign_id))
                .order_by(d.position)
            ).all()
            ids = [r.id for r in rows]
            payouts: dict[str, list[PayoutView]] = {i: [] for i in ids}
            if ids:
                for r in conn.execute(
                    sa.select(t.payouts)
                    .where(p.distribution_id.in_(ids))
                    .order_by(p.distribution_id, p.backer_id)
                ):
                    payouts[r.distribution_id].append(PayoutView(r.backer_id, r.amount))
        return [
            DistributionView(r.id, r.campaign_id, r.total, r.declared_at,
                             tuple(payouts[r.id]), r.position)
            for r in rows
        ]

    # The platform ------------------------------------------------------------------

    def platform_stats(self) -> StatsView:
        c, p = t.campaigns.c, t.pledges.c
        held = sa.type_coerce(c.held, sa.BigInteger)  # sum cents, convert once
        released = sa.type_coerce(c.released, sa.BigInteger)
        raised = sa.func.coalesce(sa.func.sum(held + released), 0)
        with self.engine.connect() as conn:
            live = conn.execute(
                sa.select(sa.func.count()).where(c.status == "LIVE")
            ).scalar_one()
            funded = conn.execute(
                sa.select(sa.func.count()).where(c.status.in_(("FUNDED", "SETTLED")))
            ).scalar_one()
            backers, count = conn.execute(
                sa.select(sa.func.count(sa.distinct(p.backer_id)), sa.func.count())
                .select_from(t.pledges)
            ).one()
            by_regime: dict[str, Any] = dict(
                conn.execute(sa.select(c.regime, raised).group_by(c.regime)).all()
            )
        return StatsView(
            live_campaigns=int(live),
            funded_campaigns=int(funded),
            backers=int(backers),
            pledges=int(count),
            raised_usd=_cents(by_regime.get("REG_CF", 0)),
            raised_eur=_cents(by_regime.get("ECSP", 0)),
        )

    def event_positions(self, where: EventFilter, after: int, limit: int) -> list[int]:
        """Positions after `after` of the events that pass the filter, in log order, at
        most `limit` (from the auditors' index of the log, `rm_events`: each filter has an
        index that yields positions in order, so a page costs `limit` rows, not a scan)."""
        e = t.events.c
        conditions: list[Any] = [e.position > after]
        if where.stream_type is not None:
            conditions.append(e.stream_type == where.stream_type)
        if where.type is not None:
            conditions.append(e.type == where.type)
        if where.stream_id is not None:
            conditions.append(e.stream_id == where.stream_id)
        if where.occurred_from is not None:
            conditions.append(e.occurred_at >= where.occurred_from)
        if where.occurred_until is not None:
            conditions.append(e.occurred_at <= where.occurred_until)
        query = sa.select(e.position).where(*conditions).order_by(e.position).limit(limit)
        with self.engine.connect() as conn:
            return [int(p) for p in conn.execute(query).scalars()]

    def applied_through(self, consumer: str = PROJECTIONS.name) -> int:
        """Every event with position <= the answer is applied by every read model (of
        `consumer`: the projections unless another consumer group is named).

        Partition i is complete through its watermark `applied[i]`; if that has
        reached the last position the relay published to i, partition i is also
        complete through everything the relay published (it has nothing else
        below that). The answer is the minimum over partitions.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.tracking.c.partition, t.tracking.c.partitions,
                                          t.tracking.c.applied)
                                .where(t.tracking.c.consumer == consumer)).all()
            if not rows:
                return 0
            relay = conn.execute(
                sa.select(t.relay_progress.c.partitions, t.relay_progress.c.published,
                          t.relay_partitions.c.partition, t.relay_partitions.c.last_position)
                .select_from(t.relay_progress.outerjoin(
                    t.relay_partitions, t.relay_partitions.c.topic == t.relay_progress.c.topic))
                .where(t.relay_progress.c.topic == self.topic)
            ).all()
        return applied_through(
            [(r.partition, r.partitions, int(r.applied)) for r in rows],
            [(r.partitions, int(r.published), r.partition, r.last_position) for r in relay],
        )

    # Paging ------------------------------------------------------------------------

    def _page(
        self, table: sa.Table, seq: sa.Column[Any], where: Sequence[Any], first: int,
        after: str | None, kind: str, convert: Any,
    ) -> Page[Any]:
        first = max(0, min(int(first), MAX_PAGE))
        conditions = list(where)
        if after:
            conditions.append(seq > decode_cursor(after, kind))
        query = _pledge_select() if table is t.pledges else sa.select(table)
        query = query.where(*conditions).order_by(seq).limit(first + 1)
        count_query = sa.select(sa.func.count()).select_from(table).where(*where)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = int(conn.execute(count_query).scalar_one())
        page = rows[:first]
        return Page(
            items=tuple(convert(r) for r in page),
            cursors=tuple(encode_cursor(kind, int(r.seq)) for r in page),
            total_count=total,
            has_next_page=len(rows) > first,
        )


def applied_through(
    tracking_rows: Sequence[tuple[int, int, int]],
    relay_rows: Sequence[tuple[int, int, int | None, int | None]],
) -> int:
    """The pure rule behind `ReadModels.applied_through` (unit-tested on its own).

    tracking_rows: (partition, partition count, applied watermark);
    relay_rows: (partition count, published, partition, last position there).
    """
    if not tracking_rows:
        return 0
    counts = {count for _, count, _ in tracking_rows}
    applied = {partition: watermark for partition, _, watermark in tracking_rows}
    if len(counts) != 1 or len(applied) != next(iter(counts)):
        return 0  # a partition-count change is being normalised: nothing to promise
    published = 0
    last: dict[int, int] = {}
    if relay_rows and relay_rows[0][0] == next(iter(counts)):
        published = relay_rows[0][1]
        last = {p: pos for _, _, p, pos in relay_rows if p is not None and pos is not None}
    through = []
    for partition, watermark in applied.items():
        if watermark >= last.get(partition, 0):
            watermark = max(watermark, published)
        through.append(watermark)
    return min(through)


# Cursors ------------------------------------------------------------------------------


def encode_cursor(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(f"not a {kind} cursor: {cursor[:64]!r}") from None


# Row conversion -------------------------------------------------------------------------


def _cents(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) * t.CENT).quantize(t.CENT)


def _campaign(r: Any) -> CampaignView:
    return CampaignView(
        id=r.id, founder_id=r.founder_id, title=r.title, summary=r.summary, regime=r.regime,
        currency=r.currency, status=r.status, min_target=r.min_target,
        max_target=r.max_target, min_pledge=r.min_pledge, price_per_share=r.price_per_share,
        deadline=r.deadline, launched_at=r.launched_at, raised=r.held + r.released,
        backer_count=int(r.backer_count), pledge_count=int(r.pledge_count),
        terms_version=int(r.terms_version), reconfirm_by=r.reconfirm_by,
        last_position=int(r.last_position), drafted_at=r.drafted_at, seq=int(r.seq),
        held=r.held, released=r.released, refunded=r.refunded,
    )


def _offering(r: Any) -> OfferingView:
    team = tuple(
        TeamMemberView(m["name"], m["role"], m.get("bio")) for m in json.loads(r.team)
    )
    return OfferingView(
        campaign_id=r.campaign_id, security_type=r.security_type, valuation=r.valuation,
        story=r.story, use_of_proceeds=r.use_of_proceeds, risks=r.risks, team=team,
    )


def _document(r: Any) -> DocumentView:
    return DocumentView(
        id=r.id, campaign_id=r.campaign_id, kind=r.kind, name=r.name,
        content_type=r.content_type, size=int(r.size), sha256=r.sha256,
        uploaded_at=r.uploaded_at, position=int(r.position),
    )


def _pledge_select() -> sa.Select[Any]:
    """Pledge rows with their campaign's deadline (REG_CF cancellation follows it)."""
    return sa.select(t.pledges, t.campaigns.c.deadline.label("campaign_deadline")).select_from(
        t.pledges.outerjoin(t.campaigns, t.campaigns.c.id == t.pledges.c.campaign_id)
    )


def _pledge(r: Any) -> PledgeView:
    return PledgeView(
        id=r.id, campaign_id=r.campaign_id, backer_id=r.backer_id, amount=r.amount,
        shares=int(r.shares), status=r.status, pledged_at=r.pledged_at,
        reflection_ends=r.cancellable_until, campaign_deadline=r.campaign_deadline,
        reconfirm_by=r.reconfirm_by, regime=r.regime, currency=r.currency,
        terms_version=int(r.terms_version), last_position=int(r.last_position), seq=int(r.seq),
    )


def _user(r: Any) -> UserView:
    return UserView(
        id=r.id, display_name=r.display_name,
        roles=tuple(x for x in r.roles.split(",") if x), kyc_status=r.kyc_status,
        country=r.country, accredited=bool(r.accredited), sophisticated=bool(r.sophisticated),
        knowledge_test_passed=bool(r.knowledge_test_passed), registered_at=r.registered_at,
        profile_submitted_at=r.profile_submitted_at,
    )
