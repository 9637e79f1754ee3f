"""Throughput of the read side: relay (store -> Kafka), projection worker
(Kafka -> read models), catch-up from the store, and a full rebuild.

    .venv/bin/python -m bench.projections --db sqlite --pledges 20000
    .venv/bin/python -m bench.projections --db postgres --pledges 20000

Each pledge writes three events (PledgePlaced, PledgeAccepted,
InvestmentCommitted). The embedded broker runs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy import select

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest
from crowdfund.bootstrap import event_log, kafka_topic, open_application, read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from projections.projector import Projector
from projections.queries import ReadModels
from projections.rebuild import rebuild_read_models
from projections.source import StoreLog
from projections.tables import relay_progress
from workers.projections import run_projections
from workers.relay import run_relay

START = datetime(2027, 3, 1, 12, tzinfo=UTC)


def prefill(app: Crowdfund, pledges: int) -> tuple[UUID, list[UUID]]:
    from tests.scenario import live_campaign, staff, verified_backer

    team = staff(app)
    backers = [verified_backer(app, team, accredited=True) for _ in range(50)]
    campaign = live_campaign(app, team, max_target="4000000.00", min_pledge="10.00")
    for start in range(0, pledges, 500):
        app.pledges.place_many([
            PledgeRequest(backers[n % len(backers)], campaign, "10.00", uuid4().hex, True)
            for n in range(start, min(start + 500, pledges))
        ])
    return campaign, backers


async def wait(check: object, what: str, timeout: float = 600) -> float:
    began = time.monotonic()
    while not await asyncio.to_thread(check):  # type: ignore[arg-type]
        if time.monotonic() - began > timeout:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def main(db: str, pledges: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-projections-"))
    if db == "postgres":
        from bench.common import fresh_schema

        schema = f"bench_proj_{uuid4().hex[:8]}"
        url = fresh_schema(schema)
    else:
        url = f"sqlite:///{workdir / 'events.db'}"
    app = open_application(Settings(database_url=url, data_dir=workdir),
                           SettableClock(START + timedelta(days=1)))
    began = time.monotonic()
    campaign, backers = prefill(app, pledges)
    head = app.head_position()
    print(f"prefill: {head} events in {time.monotonic() - began:.1f}s")

    async with EmbeddedBroker() as broker:
        settings = Settings(data_dir=workdir, database_url=url, kafka_bootstrap=broker.bootstrap,
                            topic=f"bench-{uuid4().hex[:6]}", topic_partitions=4)
        models = ReadModels(read_model_url(settings), topic=settings.topic)
        stop = asyncio.Event()
        topic, log_ = kafka_topic(settings, broker.bootstrap), event_log(app)
        relay = asyncio.create_task(run_relay(read_model_url(settings), log_, topic, stop))

        def published() -> bool:
            with models.engine.connect() as conn:
                return (conn.execute(select(relay_progress.c.published)).scalar() or 0) >= head

        seconds = await wait(published, "relay")
        print(f"relay: {head / seconds:,.0f} events/s ({seconds:.1f}s)")
        worker = asyncio.create_task(run_projections(read_model_url(settings), log_, topic, stop))
        began = time.monotonic()
        await wait(lambda: models.applied_through() >= head, "projections")
        seconds = time.monotonic() - began
        print(f"projections from Kafka (incl. ~3s group join): {head / seconds:,.0f} events/s "
              f"({seconds:.1f}s)")

        # Command -> caughtUp latency with everything running and idle.
        latencies = []
        for n in range(30):
            written = await asyncio.to_thread(
                app.pledges.place, backers[n % len(backers)], campaign, "10.00", uuid4().hex)
            latencies.append(await wait(
                lambda p=written.position: models.applied_through() >= p, "latency", 30))
            await asyncio.sleep(0.05)
        latencies.sort()
        print(f"command -> caughtUp: median {latencies[15] * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms")
        stop.set()
        await asyncio.gather(relay, worker)
        models.close()

    began = time.monotonic()
    scratch = f"sqlite:///{workdir / 'catchup.db'}"
    projector = Projector(scratch)
    projector.init_tracking(4)
    projector.catch_up(StoreLog(app), range(4), 4, head)
    seconds = time.monotonic() - began
    print(f"catch-up from the store (SQLite read models): {head / seconds:,.0f} events/s")
    began = time.monotonic()
    rebuild_read_models(read_model_url(settings), StoreLog(app), None, 4)
    seconds = time.monotonic() - began
    print(f"rebuild ({db} read models): {head / seconds:,.0f} events/s ({seconds:.1f}s)")
    app.close()
    if db == "postgres":
        import psycopg

        from bench.common import SERVER

        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[call-overload]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pledges", type=int, default=10_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.db, args.pledges))
