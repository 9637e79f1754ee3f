"""Target 4: projection lag at a steady write rate, and the pipeline's maximum
sustained rate (a backlog caught up), with the relay and the projection worker
as real `crowdfund worker` processes and the embedded broker.

    python -m bench.lag [--rate 2000] [--seconds 15] [--backlog 150000]

1. Lag: this process writes pledges through the application (`pledge_many`, one
   batch every `--tick` seconds, 3 events per pledge) at `--rate` events/s. Commit
   time = when `pledge_many` returned; a poller thread reads
   `ReadModels.applied_through()` every 2 ms and notes when each batch's last
   position is covered. Lag = that moment - commit (resolution ~2 ms + one query).
2. Pipeline: with the workers stopped, `--backlog` events are written; then the
   relay and projection processes are started and timed until the read models
   cover the head. Reported both from process start and from the first event
   published (process start-up and Kafka group join excluded).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import select

from application.crowdfund import Crowdfund
from application.pledges import PledgeRequest
from application.unit_of_work import Written
from bench.common import (
    GC_THRESHOLD,
    build_app,
    bulk_backers,
    fresh_schema,
    live_campaign,
    table,
    tune_gc,
    write_result,
)
from bench.platform import Processes, new_secret, platform_env
from crowdfund.bootstrap import read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from projections.queries import ReadModels
from projections.tables import relay_progress

SCHEMA = "bench_lag"
POLL_SECONDS = 0.002


class Poller(threading.Thread):
    """Notes when `applied_through()` first covers each awaited position."""

    def __init__(self, models: ReadModels) -> None:
        super().__init__(daemon=True)
        self.models = models
        self.waiting: list[tuple[int, float]] = []  # (position, commit time), in order
        self.lags: list[float] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.applied = 0

    def expect(self, position: int, committed: float) -> None:
        with self.lock:
            self.waiting.append((position, committed))

    def run(self) -> None:
        while not self.done.is_set():
            self.applied = self.models.applied_through()
            now = time.perf_counter()
            with self.lock:
                while self.waiting and self.waiting[0][0] <= self.applied:
                    self.lags.append(now - self.waiting.pop(0)[1])
            time.sleep(POLL_SECONDS)


def requests(backers: list[Any], campaign: Any, count: int) -> list[PledgeRequest]:
    return [PledgeRequest(backers[n % len(backers)], campaign, "10.00", uuid4().hex, True)
            for n in range(count)]


def paced_writes(app: Crowdfund, backers: list[Any], campaign: Any, rate: float,
                 seconds: float, tick: float, poller: Poller) -> dict[str, Any]:
    per_batch = max(1, round(rate * tick / 3))  # 3 events per pledge
    ticks = int(seconds / tick)
    began = time.perf_counter()
    events = 0
    behind = 0
    write_times = []
    for n in range(ticks):
        due = began + n * tick
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            behind += 1
        t0 = time.perf_counter()
        results = app.pledges.place_many(requests(backers, campaign, per_batch))
        committed = time.perf_counter()
        write_times.append(committed - t0)
        positions = [r.position for r in results if isinstance(r, Written)]
        assert len(positions) == per_batch, results[:3]
        poller.expect(max(positions), committed)
        events += 3 * per_batch
    elapsed = time.perf_counter() - began
    return {"events": events, "seconds": round(elapsed, 2),
            "events_per_s": round(events / elapsed, 1), "pledges_per_batch": per_batch,
            "ticks_started_late": behind,
            "median_write_ms": round(statistics.median(write_times) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000, help="events/s written")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--tick", type=float, default=0.05, help="seconds between batches")
    parser.add_argument("--backlog", type=int, default=150_000, help="events, for the pipeline")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    tune_gc(GC_THRESHOLD)

    url = fresh_schema(SCHEMA)
    app = build_app(url)
    scene = live_campaign(app, max_target="4000000.00")
    # Accredited: no Reg CF cap, so a few hundred backers can pledge without limit.
    backers = bulk_backers(app, 300, accredited=True, annual_income="500000.00",
                           net_worth="2000000.00")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-lag-"))
    topic = f"bench-lag-{uuid4().hex[:6]}"
    figures: dict[str, Any] = {"settings": vars(args), "workers": "real processes"}
    with EmbeddedBroker() as broker:
        env = platform_env(url, broker.bootstrap, topic, new_secret(), log_dir)
        env["CROWDFUND_TOPIC_PARTITIONS"] = str(args.partitions)
        settings = Settings(database_url=url, topic=topic, topic_partitions=args.partitions,
                            data_dir=log_dir)
        procs = Processes(env, log_dir)
        models: ReadModels | None = None
        try:
            # --- 1. lag at a steady rate
            procs.start("relay", "worker", "relay")
            time.sleep(2)  # one at a time: see bench/http.py
            procs.start("projections", "worker", "projections")
            models = ReadModels(read_model_url(settings), topic=topic)
            app.pledges.place_many(requests(backers, scene.campaign_id, 10))
            head = app.head_position()
            wait_until(lambda: models is not None and models.applied_through() >= head,
                       procs, 90)
            poller = Poller(models)
            poller.start()
            cpu = {k: procs.cpu_seconds(k) for k in procs.running}
            writes = paced_writes(app, backers, scene.campaign_id, args.rate, args.seconds,
                                  args.tick, poller)
            wait_until(lambda: not poller.waiting, procs, 60)
            poller.done.set()
            poller.join()
            q = statistics.quantiles(poller.lags, n=100, method="inclusive")
            figures["lag"] = {
                **writes, "batches": len(poller.lags),
                "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
                "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(poller.lags) * 1000, 1),
                **{f"{k}_cpu_cores": round((procs.cpu_seconds(k) - cpu[k]) / writes["seconds"], 2)
                   for k in cpu},
            }
            procs.stop()

            # --- 2. pipeline: a backlog caught up
            start_pos = app.head_position()
            began = time.perf_counter()
            written = 0
            pledges = args.backlog // 3
            for start in range(0, pledges, 500):
                app.pledges.place_many(
                    requests(backers, scene.campaign_id, min(500, pledges - start))
                )
            head = app.head_position()
            written = head - start_pos
            write_seconds = time.perf_counter() - began
            started = time.perf_counter()
            procs.start("relay", "worker", "relay")
            procs.start("projections", "worker", "projections")
            cpu = {k: 0.0 for k in procs.running}
            first = wait_until(lambda: published(models) > start_pos, procs, 120)
            wait_until(lambda: models is not None and models.applied_through() >= head,
                       procs, 300)
            total = time.perf_counter() - started
            after_first = total - first
            cores = {f"{k}_cpu_cores": round((procs.cpu_seconds(k) - cpu[k]) / total, 2)
                     for k in cpu}
            figures["pipeline"] = {
                "events": written, "backlog_written_in_s": round(write_seconds, 1),
                "seconds_from_start": round(total, 2), "startup_seconds": round(first, 2),
                "events_per_s_from_start": round(written / total, 1),
                "events_per_s_after_first_publish": round(written / after_first, 1),
                **cores,
            }
        finally:
            procs.stop()
            if models is not None:
                models.close()
    app.close()

    lag, pipe = figures["lag"], figures["pipeline"]
    print(table([
        ("measure", "value", "target"),
        ("events/s written (offered)", f"{lag['events_per_s']:,.0f} ({args.rate:,.0f})", ""),
        ("commit -> read model p50", f"{lag['p50_ms']} ms", ""),
        ("commit -> read model p95", f"{lag['p95_ms']} ms", ""),
        ("commit -> read model p99", f"{lag['p99_ms']} ms", "< 250 ms"),
        ("relay / projections CPU (cores)",
         f"{lag['relay_cpu_cores']} / {lag['projections_cpu_cores']}", ""),
        ("pipeline, backlog events", f"{pipe['events']:,}", ""),
        ("pipeline events/s, after first publish",
         f"{pipe['events_per_s_after_first_publish']:,.0f}", ">= 20,000"),
        ("pipeline events/s, incl. start-up",
         f"{pipe['events_per_s_from_start']:,.0f}", ""),
        ("pipeline relay / projections CPU (cores)",
         f"{pipe['relay_cpu_cores']} / {pipe['projections_cpu_cores']}", ""),
    ]))
    print(f"wrote {write_result('lag', figures)}")


def published(models: ReadModels | None) -> int:
    assert models is not None
    with models.engine.connect() as conn:
        return int(conn.execute(select(relay_progress.c.published)).scalar() or 0)


def wait_until(check: Any, procs: Processes, timeout: float) -> float:
    began = time.perf_counter()
    while not check():
        procs.check()
        if time.perf_counter() - began > timeout:
            raise TimeoutError(f"waited {timeout}s")
        time.sleep(0.01)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
