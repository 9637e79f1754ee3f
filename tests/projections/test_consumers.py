"""A second consumer group beside the projections: its own models, its own tracking.

The consumer here counts events by type in a table of its own, as a notifier or
a monitor would keep its own tables; it runs in the same worker class with its
own Kafka group id.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from application.clock import SettableClock
from crowdfund.bootstrap import read_model_url
from crowdfund.settings import Settings
from projections.consumers import PROJECTIONS, Consumer
from projections.db import make_engine
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel
from projections.projector import Projector
from projections.queries import ReadModels
from projections.rebuild import rebuild
from projections.source import StoreLog
from tests.conftest import Store
from tests.projections.conftest import Pipeline, caught_up, dump, eventually
from tests.projections.workload import realistic
from tests.scenario import pledge, staff, verified_backer

counts = sa.Table(
    "test_event_counts", sa.MetaData(),
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
)


def count(batch: Batch, record: EventRecord) -> None:
    rows = batch.rows(counts)
    row = rows.get(record.type)
    if row is None:
        rows.insert({"type": record.type, "events": 1})
    else:
        row["events"] += 1


COUNTER = Consumer("event-counter", "crowdfund-test-counter",
                   (ReadModel("event_counts", (counts,), None, apply=count),))


def counted(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {r.type: r.events for r in conn.execute(sa.select(counts))}
    finally:
        engine.dispose()


def marks(url: str, consumer: Consumer) -> dict[int, int]:
    projector = Projector(url, consumer)
    try:
        return projector.tracking()
    finally:
        projector.engine.dispose()


def in_store(log: StoreLog, upto: int) -> dict[str, int]:
    return dict(Counter(log.record(n).type for n in log.read(0, 1_000_000, upto)))


async def test_consumers_advance_and_rebuild_independently(
    store: Store, clock: SettableClock, settings: Settings, pipeline: Pipeline,
    read_models: ReadModels,
) -> None:
    url = read_model_url(settings)
    engine = make_engine(url)
    counts.create(engine, checkfirst=True)
    engine.dispose()
    app = store.open(clock)
    log = StoreLog(app)
    pipeline.start_relay()
    pipeline.start_projections()
    counter = pipeline.start_projections(consumer=COUNTER)
    verified_backer(app, staff(app))
    await caught_up(read_models, store)
    head = app.head_position()
    await eventually(lambda: counted(url) == in_store(log, head), 30, "the counter")
    assert counter.group == f"g-event-counter-{settings.topic}"

    # The counter stops: the projections go on, the counter's tracking stays behind.
    await pipeline.stop_worker(counter)
    counter_head, counter_marks = head, marks(url, COUNTER)
    history = await asyncio.to_thread(realistic, app, clock)
    await caught_up(read_models, store)
    assert marks(url, COUNTER) == counter_marks
    assert max(counter_marks.values()) < app.head_position()
    assert counted(url) == in_store(log, counter_head)

    # Rebuilding the projections leaves the counter's table and tracking alone ...
    live = dump(url)
    projection_marks = marks(url, PROJECTIONS)
    await asyncio.to_thread(rebuild, url, StoreLog(store.open()), PROJECTIONS,
                            PROJECTIONS.models, settings.topic_partitions)
    assert dump(url) == live
    assert marks(url, COUNTER) == counter_marks
    assert counted(url) == in_store(log, counter_head)

    # ... and rebuilding the counter, the projections' (they keep advancing meanwhile).
    await asyncio.to_thread(pledge, app, history.backers[0], history.live, "100.00")
    report = await asyncio.to_thread(rebuild, url, StoreLog(store.open()), COUNTER,
                                     COUNTER.models, settings.topic_partitions)
    assert report.through == max(counter_marks.values())
    assert counted(url) == in_store(log, counter_head)
    assert marks(url, COUNTER) == counter_marks
    await caught_up(read_models, store)
    assert marks(url, PROJECTIONS) != projection_marks

    # Started again, the counter catches up from its own watermarks.
    pipeline.start_projections(consumer=COUNTER)
    head = app.head_position()
    await eventually(lambda: counted(url) == in_store(log, head), 30, "the counter again")
