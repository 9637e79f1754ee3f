"""The AML monitor (`crowdfund worker monitor`): the monitor consumer group
(`projections.monitor`) applying the rules to the event topic, and its outbox, which
raises every finding as an alert through the application.

Crash safety: a finding is committed with the watermark of the event that made it,
so no event's finding is lost; the outbox raises it under an id derived from what
triggered it (`domain.aml_alert.alert_id_for`), so raising it again after a crash
(or after a rebuild re-finds it) changes nothing, and then records it as raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from application.unit_of_work import Written
from domain.aml_alert import AlertRule
from domain.errors import DomainError
from projections.consumers import Consumer
from projections.db import make_engine
from projections.monitor import mark_raised, pending_findings
from projections.projector import EventLog
from workers.projections import ProjectionWorker
from workers.running import KafkaTopic, keep_running, pause

log = logging.getLogger(__name__)

OUTBOX_BATCH = 100
OUTBOX_POLL = 0.2

# app.aml.raise_alert: (rule, subject, trigger, details, campaign_id=, related_user_ids=)
RaiseAlert = Callable[..., Written[Any]]


class AlertOutbox:
    """Raises the monitor's findings as alerts, oldest first, each once."""

    def __init__(self, read_model_url: str, raise_alert: RaiseAlert) -> None:
        self.engine = make_engine(read_model_url, writer=True)
        self.raise_alert = raise_alert
        self.raised = 0

    def drain(self, limit: int = OUTBOX_BATCH) -> int:
        """Raise up to `limit` pending findings; how many were pending."""
        with self.engine.connect() as conn:
            findings = pending_findings(conn, limit)
        for finding in findings:
            related = [u for u in finding["related_user_ids"].split(",") if u]
            try:
                written = self.raise_alert(
                    AlertRule(finding["rule"]), finding["subject_id"], finding["trigger"],
                    finding["details"], campaign_id=finding["campaign_id"],
                    related_user_ids=related,
                )
            except DomainError as error:  # e.g. lost races: left pending, tried next time
                log.warning("alert %s not raised yet: %s", finding["alert_id"], error.code)
                continue
            with self.engine.begin() as conn:
                mark_raised(conn, finding["alert_id"], written.position)
            self.raised += 1
        return len(findings)


async def run_monitor(
    read_model_url: str, log_: EventLog, topic: KafkaTopic, stop: asyncio.Event,
    *, consumer: Consumer, raise_alert: RaiseAlert, group: str | None = None,
) -> None:
    """The monitor consumer and its outbox until `stop`."""
    worker = ProjectionWorker(read_model_url, log_, topic, consumer=consumer, group=group)
    outbox = AlertOutbox(read_model_url, raise_alert)

    async def drain_once() -> None:
        pending = await asyncio.to_thread(outbox.drain)
        if pending < OUTBOX_BATCH:
            await pause(stop, OUTBOX_POLL)

    try:
        await asyncio.gather(
            worker.run(stop), keep_running(stop, "monitor outbox", drain_once),
        )
    finally:
        worker.projector.engine.dispose()
        outbox.engine.dispose()
