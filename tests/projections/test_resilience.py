"""Nothing lost, nothing doubled: broker restarts, SIGKILLed workers, a consumer group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
import sqlalchemy as sa

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from projections import tables as t
from projections.queries import ReadModels
from tests.conftest import Store
from tests.projections.conftest import (
    Pipeline,
    Worker,
    assert_same,
    caught_up,
    dump,
    eventually,
    make_settings,
    reference,
)
from tests.projections.workload import realistic
from tests.scenario import live_campaign, pledge, staff, verified_backer


def hot_campaign(app: Crowdfund, backers: int = 8) -> tuple[UUID, list[UUID]]:
    """A campaign with room for thousands of pledges, and accredited (unlimited) backers."""
    team = staff(app)
    people = [verified_backer(app, team, accredited=True) for _ in range(backers)]
    return live_campaign(app, team, max_target="4000000.00"), people


def pledges(app: Crowdfund, campaign: UUID, backers: list[UUID], count: int) -> None:
    for n in range(count):
        pledge(app, backers[n % len(backers)], campaign, "100.00")


def published(models: ReadModels) -> int:
    with models.engine.connect() as conn:
        value = conn.execute(sa.select(t.relay_progress.c.published)).scalar()
    return int(value or 0)


async def restart_empty(broker: EmbeddedBroker) -> None:
    """Kill the broker and start a new, empty one on the same port."""
    port = broker.port
    await asyncio.to_thread(broker.stop, 0.2)
    await broker.start_async(port)


async def test_broker_restart_loses_no_update(
    store: Store, clock: SettableClock, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = make_settings(store, tmp_path, own_broker.bootstrap)
    models = ReadModels(read_model_url(settings), topic=settings.topic)
    pipeline = Pipeline(settings, store, clock, own_broker.bootstrap)
    try:
        pipeline.start_relay()
        worker = pipeline.start_projections()
        app = store.open(clock)
        campaign, backers = await asyncio.to_thread(hot_campaign, app)
        await caught_up(models, store)

        # Published while no projection reads, then lost with the broker's memory.
        await pipeline.stop_worker(worker)
        await asyncio.to_thread(pledges, app, campaign, backers, 40)
        head = app.head_position()
        await eventually(lambda: published(models) >= head, 20, "the relay to publish")
        await restart_empty(own_broker)
        pipeline.start_projections()
        await caught_up(models, store, timeout=40)

        # The broker restarts again while commands keep coming.
        writing = asyncio.create_task(asyncio.to_thread(pledges, app, campaign, backers, 60))
        await asyncio.sleep(0.2)
        await restart_empty(own_broker)
        await writing
        await caught_up(models, store, timeout=40)
    finally:
        await pipeline.close()

    view = models.campaign(str(campaign))
    assert view is not None and view.pledge_count == 100 and view.raised == Decimal("10000.00")
    assert_same(dump(models.engine), reference(store, tmp_path))
    models.close()


# The broker's group behaviour does not depend on the database: PostgreSQL is enough.
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_group_that_assigned_nothing_is_joined_again(
    store: Store, clock: SettableClock, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The broker restarts empty and the workers rejoin before the relay re-creates the
    topic: their group settles on assigning nothing. A worker without partitions that
    sees partitions lag the relay with no watermark moving joins again."""
    settings = make_settings(store, tmp_path, own_broker.bootstrap)
    models = ReadModels(read_model_url(settings), topic=settings.topic)
    pipeline = Pipeline(settings, store, clock, own_broker.bootstrap)
    try:
        relay = pipeline.start_relay()
        workers = [pipeline.start_projections(stall_after=12.0) for _ in range(2)]
        app = store.open(clock)
        campaign, backers = await asyncio.to_thread(hot_campaign, app)
        await caught_up(models, store)

        await pipeline.stop(relay)
        await restart_empty(own_broker)
        await eventually(lambda: all(w.joining_since is None and not w.assigned
                                     for w in workers), 60, "the group to assign nothing")
        pipeline.start_relay()  # re-creates the topic
        await asyncio.to_thread(pledges, app, campaign, backers, 20)
        await caught_up(models, store, timeout=60)
        await eventually(lambda: any(w.assigned for w in workers), 30, "partitions again")
    finally:
        await pipeline.close()
    assert_same(dump(models.engine), reference(store, tmp_path))
    models.close()


async def test_two_workers_share_the_partitions(
    store: Store, clock: SettableClock, pipeline: Pipeline, read_models: ReadModels,
    tmp_path: Path,
) -> None:
    pipeline.start_relay()
    first = pipeline.start_projections()
    second = pipeline.start_projections()
    await eventually(lambda: first.assigned and second.assigned
                     and len(first.assigned | second.assigned) == 4, 30, "a balanced group")
    assert not first.assigned & second.assigned
    app = store.open(clock)
    await asyncio.to_thread(realistic, app, clock)
    campaign, backers = await asyncio.to_thread(hot_campaign, app)
    await asyncio.to_thread(pledges, app, campaign, backers, 50)
    await caught_up(read_models, store)
    assert first.applied_events > 0 and second.applied_events > 0
    assert_same(dump(read_models.engine), reference(store, tmp_path))


async def test_sigkill_relay_and_workers_mid_stream(
    store: Store, clock: SettableClock, settings: Settings, read_models: ReadModels,
    workers: Callable[[str, Settings], Worker], tmp_path: Path,
) -> None:
    app = store.open(clock)
    campaign, backers = hot_campaign(app)
    group = ("--group", f"g-{settings.topic}")
    relay = workers("relay", settings).start()
    one = workers("projections", settings).start(*group)
    two = workers("projections", settings).start(*group)
    done = threading.Event()
    written = [0]

    def write() -> None:
        while not done.is_set():
            pledge(app, backers[written[0] % len(backers)], campaign, "100.00")
            written[0] += 1

    writing = asyncio.create_task(asyncio.to_thread(write))
    try:
        await eventually(lambda: published(read_models) > 0, 30, "the relay to start")
        for victim in (relay, one, relay, two):
            await asyncio.sleep(1.0)
            victim.kill()
            await asyncio.sleep(0.3)
            victim.start(*(() if victim is relay else group))
        await asyncio.sleep(1.0)
    finally:
        done.set()
        await writing
    try:
        await caught_up(read_models, store, timeout=60)
    except AssertionError:
        raise AssertionError("\n".join(w.log() for w in (relay, one, two))) from None
    view = read_models.campaign(str(campaign))
    assert view is not None and written[0] > 50
    assert view.pledge_count == written[0]
    assert view.raised == Decimal(100 * written[0]).quantize(Decimal("0.01"))
    assert_same(dump(read_models.engine), reference(store, tmp_path))
