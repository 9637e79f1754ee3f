"""End to end: command -> event store -> relay -> Kafka -> projections -> read models."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from application.clock import SettableClock
from projections.queries import ReadModels
from tests.conftest import START, Store
from tests.projections.conftest import Pipeline, assert_same, caught_up, dump, reference
from tests.projections.workload import realistic
from tests.scenario import live_campaign, pledge, staff, verified_backer


async def test_commands_reach_the_read_models(
    store: Store, clock: SettableClock, pipeline: Pipeline, read_models: ReadModels,
    tmp_path: Path,
) -> None:
    pipeline.start_relay()
    pipeline.start_projections()
    app = store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    campaign = live_campaign(app, team, max_target="10000.00")
    first = pledge(app, backer, campaign, "500.00")
    written = app.pledges.place(backer, campaign, "300.00", "second", True)
    await caught_up(read_models, store)
    assert read_models.applied_through() >= written.position

    view = read_models.campaign(str(campaign))
    assert view is not None
    assert (view.status, view.raised, view.backer_count, view.pledge_count) == (
        "LIVE", Decimal("800.00"), 1, 2)
    assert view.deadline == START + timedelta(days=30)
    placed = read_models.pledge(str(first))
    assert placed is not None and placed.status == "ACTIVE"
    assert placed.campaign_deadline == view.deadline  # REG_CF's window follows the deadline
    assert read_models.investor_usage(str(backer), "REG_CF", START - timedelta(days=1)) == (
        Decimal("800.00"))

    app.pledges.cancel(backer, first)
    await caught_up(read_models, store)
    view = read_models.campaign(str(campaign))
    assert view is not None and view.raised == Decimal("300.00")
    assert view.refunded == Decimal("500.00") and view.backer_count == 1
    cancelled = read_models.pledge(str(first))
    assert cancelled is not None and cancelled.status == "CANCELLED"


async def test_realistic_history_matches_a_replay(
    store: Store, clock: SettableClock, pipeline: Pipeline, read_models: ReadModels,
    tmp_path: Path,
) -> None:
    pipeline.start_relay()
    pipeline.start_projections()
    app = store.open(clock)
    history = realistic(app, clock)
    await caught_up(read_models, store)

    settled = read_models.campaign(str(history.settled))
    assert settled is not None and settled.status == "SETTLED"
    assert settled.raised == settled.released == Decimal("1200.00")
    assert settled.backer_count == 2 and settled.held == 0
    assert sum(h.shares for h in read_models.holdings(str(history.settled))) == 120
    (distribution,) = read_models.distributions(str(history.settled))
    assert sum(p.amount for p in distribution.payouts) == Decimal("123.45")
    failed = read_models.campaign(str(history.failed))
    assert failed is not None and failed.status == "FAILED" and failed.raised == 0
    assert [c.id for c in read_models.review_queue()] == [str(history.in_review)]
    stats = read_models.platform_stats()
    assert (stats.live_campaigns, stats.funded_campaigns, stats.backers, stats.pledges) == (
        1, 1, 3, 10)
    assert stats.raised_usd == Decimal("1500.00") and stats.raised_eur == 0
    assert_same(dump(read_models.engine), reference(store, tmp_path))
