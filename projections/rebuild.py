"""Drop and rebuild read models from the event store (`crowdfund projections rebuild`).

A rebuild covers one consumer group's models (or one of its models) and nothing
else: it replays exactly the events that consumer's tracking says are applied
(per partition, position <= watermark), inside one transaction that holds every
tracking row of that consumer: its live workers wait, other consumers carry on,
and the result equals the live read models row for row. Without tracking (a
fresh database) it replays up to the head.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from projections import consumers
from projections.consumers import Consumer
from projections.db import EngineOrUrl
from projections.envelope import EventRecord, partition_for
from projections.models import ReadModel
from projections.projector import EventLog, Projector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildReport:
    models: tuple[str, ...]
    events: int
    through: int


def rebuild_read_models(
    engine: EngineOrUrl, log_: EventLog, name: str | None, default_partitions: int,
    extra: Sequence[Consumer] = (),
) -> RebuildReport:
    """Rebuild every consumer's read models (None), one consumer's (its name) or one
    read model (its name) from the event store's log; `extra`: consumers built with
    collaborators (the AML monitor). An unknown name raises KeyError before anything
    is changed."""
    reports = [
        rebuild(engine, log_, consumer, models, default_partitions)
        for consumer, models in consumers.resolve(name, extra)
    ]
    return RebuildReport(
        tuple(m for r in reports for m in r.models), sum(r.events for r in reports),
        max(r.through for r in reports),
    )


def rebuild(
    engine: EngineOrUrl, log_: EventLog, consumer: Consumer,
    models: tuple[ReadModel, ...], default_partitions: int,
) -> RebuildReport:
    """Rebuild some of `consumer`'s models, under its tracking alone."""
    projector = Projector(engine, consumer, models=models)
    tables = [table for model in models for table in model.tables]
    with projector.engine.begin() as conn:
        marks = projector.lock_tracking(conn, None)
        count = projector.tracked_partitions(conn)
        if not marks:
            through = log_.head()
            projector.start_tracking(conn, default_partitions, through)

            def keep(record: EventRecord) -> bool:
                return record.position <= through
        else:
            if count is None or set(marks) != set(range(count)):
                raise RuntimeError(f"inconsistent tracking of {consumer.name}")
            through = max(marks.values())

            def keep(record: EventRecord) -> bool:
                return record.position <= marks[partition_for(record.stream_id, count)]

        for table in reversed(tables):
            table.drop(conn, checkfirst=True)
        for table in tables:
            table.create(conn)
        events = projector.replay(conn, log_, through, keep)
    if not isinstance(engine, sa.Engine):
        projector.engine.dispose()
    log.info("rebuilt %s from %d events up to position %d",
             ", ".join(m.name for m in models), events, through)
    return RebuildReport(tuple(m.name for m in models), events, through)
