"""Target 5: rebuilding every read model from N events.

    python -m bench.replay [--events 200000] [--batch 1000]

The event log is generated fast on a fresh PostgreSQL schema: pledges by
accredited backers to one live campaign through `Crowdfund.pledge_many`
(3 events per pledge). Then `projections.rebuild.rebuild_read_models` (as the CLI calls it)
drops and re-creates every read model (PostgreSQL tables beside the store) and
replays the whole log. Baseline, in the same run: the same rows read raw by
psycopg with no decoding. A second rebuild is timed as well (warm store cache).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

from application.pledges import PledgeRequest
from bench.common import (
    GC_THRESHOLD,
    SERVER,
    build_app,
    bulk_backers,
    fresh_schema,
    live_campaign,
    table,
    tune_gc,
    write_result,
)
from crowdfund.bootstrap import aml_monitor, event_log, read_model_url
from crowdfund.settings import Settings
from projections.rebuild import rebuild_read_models

SCHEMA = "bench_replay"
TARGET_EVENTS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="pledges per pledge_many")
    parser.add_argument("--runs", type=int, default=2, help="rebuilds timed in turn")
    args = parser.parse_args()
    tune_gc(GC_THRESHOLD)

    url = fresh_schema(SCHEMA)
    app = build_app(url)
    scene = live_campaign(app, max_target="4000000.00")
    backers = bulk_backers(app, 500, accredited=True, annual_income="500000.00",
                           net_worth="2000000.00")
    began = time.perf_counter()
    pledges = max(0, args.events - app.head_position()) // 3
    for start in range(0, pledges, args.batch):
        app.pledges.place_many([
            PledgeRequest(backers[n % len(backers)], scene.campaign_id, "10.00", uuid4().hex, True)
            for n in range(start, min(start + args.batch, pledges))
        ])
    head = app.head_position()
    generate = time.perf_counter() - began
    print(f"generated: {head:,} events in {generate:.1f}s ({head / generate:,.0f} events/s)")

    raw = raw_read(head)
    print(f"baseline, raw read of the log: {raw['events_per_s']:,.0f} events/s")
    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp(prefix="bench-replay-")))
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        cpu = time.process_time()
        # What `crowdfund projections rebuild` runs (crowdfund/cli.py).
        report = rebuild_read_models(
            read_model_url(settings), event_log(app), None, settings.topic_partitions,
            extra=(aml_monitor(settings, app),),
        )
        seconds = time.perf_counter() - t0
        runs.append({"seconds": round(seconds, 2), "events_per_s": round(head / seconds, 1),
                     "python_cpu_cores": round((time.process_time() - cpu) / seconds, 2),
                     "report": str(report)[:500]})
    app.close()
    best = max(r["events_per_s"] for r in runs)
    figures = {
        "settings": vars(args), "events": head, "generate_seconds": round(generate, 1),
        "rebuilds": runs, "baseline_raw_read": raw,
        "rebuild_of_raw_read": round(best / raw["events_per_s"], 3),
        "extrapolated_seconds_for_1m": round(TARGET_EVENTS / best, 1),
        "note": "1M is extrapolated linearly from the measured rate, not measured",
    }
    rows = [("run", "events", "seconds", "events/s", "Python CPU (cores)", "target")]
    for n, r in enumerate(runs, 1):
        rows.append((f"rebuild {n}", f"{head:,}", f"{r['seconds']}", f"{r['events_per_s']:,.0f}",
                     f"{r['python_cpu_cores']}", ">= 50,000/s"))
    print(table(rows))
    print(f"best rebuild / raw read of the same log: {best / raw['events_per_s']:.1%}")
    print(f"1,000,000 events at the best rate: ~{TARGET_EVENTS / best:.0f}s (extrapolated)")
    print(f"wrote {write_result('replay', figures)}")


def raw_read(head: int) -> dict[str, Any]:
    """Baseline: every stored event's topic and state read by psycopg in log order
    (server-side cursor, 5,000 rows a fetch), with no decoding at all."""
    t0 = time.perf_counter()
    rows = 0
    with psycopg.connect(SERVER) as conn, conn.cursor(name="replay") as cur:
        cur.itersize = 5000
        cur.execute(sql.SQL("SELECT notification_id, topic, state FROM {}.crowdfund_events"
                            " ORDER BY notification_id").format(sql.Identifier(SCHEMA)))
        for _ in cur:
            rows += 1
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": round(seconds, 2), "events_per_s": round(rows / seconds, 1)}


if __name__ == "__main__":
    main()
