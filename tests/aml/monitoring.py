"""Running the AML monitor in-process over an event store: its consumer applied from the
store (as a worker catches up), then its outbox drained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from application.crowdfund import Crowdfund
from crowdfund.bootstrap import aml_monitor
from crowdfund.settings import Settings
from projections import tables as t
from projections.consumers import Consumer
from projections.db import make_engine
from projections.projector import Projector
from projections.source import StoreLog
from workers.monitor import AlertOutbox

PARTITIONS = 4


class Monitor:
    def __init__(self, app: Crowdfund, directory: Path, name: str = "monitor") -> None:
        self.app = app
        self.url = f"sqlite:///{directory / f'{name}.db'}"
        self.consumer: Consumer = aml_monitor(Settings(), app)
        self.projector = Projector(self.url, self.consumer)
        self.projector.init_tracking(PARTITIONS)
        self.outbox = AlertOutbox(self.url, app.aml.raise_alert)

    def run(self) -> None:
        """Apply everything in the store, then raise what was found."""
        log = StoreLog(self.app)
        self.projector.catch_up(log, range(PARTITIONS), PARTITIONS, log.head())
        while self.outbox.drain():
            pass

    def findings(self) -> list[dict[str, Any]]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.select(t.aml_findings).order_by(t.aml_findings.c.alert_id))
                return [dict(r) for r in rows.mappings()]
        finally:
            engine.dispose()

    def rules(self) -> list[str]:
        return sorted(f["rule"] for f in self.findings())

    def close(self) -> None:
        self.projector.engine.dispose()
        self.outbox.engine.dispose()
