"""Drop and rebuild read models from the event store (`crowdfund projections rebuild`).

The rebuild replays exactly the events the tracking says are applied (per
partition, position <= watermark), inside one transaction that holds every
tracking row: live workers wait, and the result equals the live read models
row for row. Without tracking (a fresh database) it replays up to the head.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from projections import models as registry
from projections import tables as t
from projections.db import EngineOrUrl
from projections.envelope import EventRecord, partition_for
from projections.projector import EventLog, Projector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildReport:
    models: tuple[str, ...]
    events: int
    through: int


def rebuild_read_models(
    engine: EngineOrUrl, log_: EventLog, name: str | None, default_partitions: int
) -> RebuildReport:
    """Rebuild one read model (by name) or all of them from the event store's log.
    An unknown name raises KeyError before anything is changed."""
    chosen = registry.select(name)
    projector = Projector(engine, chosen)
    tables = [table for model in chosen for table in model.tables]
    with projector.engine.begin() as conn:
        marks = projector.lock_tracking(conn, None)
        count = projector.tracked_partitions(conn)
        if not marks:
            through = log_.head()
            conn.execute(sa.insert(t.tracking), [
                {"partition": i, "partitions": default_partitions, "applied": through}
                for i in range(default_partitions)
            ])

            def keep(record: EventRecord) -> bool:
                return record.position <= through
        else:
            if count is None or set(marks) != set(range(count)):
                raise RuntimeError("inconsistent projection tracking")
            through = max(marks.values())

            def keep(record: EventRecord) -> bool:
                return record.position <= marks[partition_for(record.stream_id, count)]

        for table in reversed(tables):
            table.drop(conn, checkfirst=True)
        for table in tables:
            table.create(conn)
        events = projector.replay(conn, log_, through, keep)
    projector.engine.dispose()
    log.info("rebuilt %s from %d events up to position %d",
             ", ".join(m.name for m in chosen), events, through)
    return RebuildReport(tuple(m.name for m in chosen), events, through)
