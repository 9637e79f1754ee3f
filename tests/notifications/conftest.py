"""Shared helpers for the notice tests: the notifier's tables read back."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from projections import schema
from projections import tables as t
from projections.db import make_engine
from tests.projections.conftest import (  # noqa: F401  (fixtures for the broker tests here)
    broker,
    pipeline,
    settings,
    workers,
)


def stored_notices(url: Any) -> list[dict[str, Any]]:
    schema.upgrade(url)  # a worker process may not have made the tables yet
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(t.notifications).order_by(t.notifications.c.position,
                                                    t.notifications.c.id))]
    finally:
        if engine is not url:
            engine.dispose()


def owed_counter(notices: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((n["kind"], n["recipient_id"]) for n in notices)
