"""`application.data_access.DataAccessLog` in SQL: the `data_access_log` table of the
read-model database (created by its migrations; no read model, never rebuilt)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from application.data_access import DataAccess, DataAccessUnavailable
from projections.tables import data_access_log as log


class SqlDataAccessLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, accesses: Sequence[DataAccess]) -> None:
        if not accesses:
            return
        rows = [{"viewer_id": a.viewer_id, "subject_id": a.subject_id, "at": a.at,
                 "purpose": a.purpose[:200]} for a in accesses]
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(log), rows)
        except sa.exc.DBAPIError as exc:
            raise DataAccessUnavailable(type(exc).__name__) from None

    def of_subject(self, subject_id: str, limit: int) -> list[DataAccess]:
        c = log.c
        query = (sa.select(log).where(c.subject_id == str(subject_id))
                 .order_by(c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [DataAccess(r.viewer_id, r.subject_id, r.at, r.purpose)
                    for r in conn.execute(query)]
