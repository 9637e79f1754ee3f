"""Target 2: a pledge costs the same on a campaign's 100,000th pledge as on its 1,000th.

    python -m bench.flat_cost [--pledges 100000] [--window 1000] [--batch 100]

Two campaigns on one PostgreSQL event store: "early" filled to 1,000 pledges and
"late" to 100,000 (with the batched path, to keep the run short). Then the next
pledges are measured on both, alternating a batch on one and a batch on the
other so that both see the same machine (other load, caches, GC) and only the
campaign's size differs:

- batched: `pledge_many` batches of `--batch` pledges (the hot path);
- single: `Crowdfund.pledge`, one pledge per transaction;
- cold load: the campaign loaded by an application with an empty cache
  (snapshot plus the events after it).

Every measured pledge is by a backer who has not pledged before, so the only
thing that grows is the campaign. The ratio late/early must stay within 1.2.
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal
from typing import Any
from uuid import UUID

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
    timed,
    tune_gc,
    write_result,
)

SCHEMA = "bench_flat_cost"
TARGET_RATIO = 1.2
AMOUNT = "10.00"
FILL_BATCH = 1000


def fill(app: Crowdfund, campaign: UUID, backers: list[UUID], count: int, tag: str) -> float:
    """`count` pledges by `backers` in turn, in batches; returns the seconds it took."""
    with timed() as elapsed:
        for start in range(0, count, FILL_BATCH):
            requests = [
                PledgeRequest(backers[n % len(backers)], campaign, AMOUNT, f"{tag}-{n}", True)
                for n in range(start, min(count, start + FILL_BATCH))
            ]
            results = app.pledges.place_many(requests)
            assert all(isinstance(r, Written) for r in results), "a fill pledge was refused"
    return elapsed[0]


def alternate(
    measures: dict[str, Any], rounds: int, *, early: Any, late: Any
) -> dict[str, list[float]]:
    """Run `early(i)` and `late(i)` in turn, each returning seconds per pledge."""
    times: dict[str, list[float]] = {"early": [], "late": []}
    for i in range(rounds):
        order = (("early", early), ("late", late)) if i % 2 == 0 else (("late", late),
                                                                         ("early", early))
        for name, run in order:
            times[name].append(run(i))
    return times


def summary(times: dict[str, list[float]]) -> dict[str, Any]:
    early = statistics.median(times["early"])
    late = statistics.median(times["late"])
    return {
        "early_us_per_pledge": round(early * 1e6, 1),
        "late_us_per_pledge": round(late * 1e6, 1),
        "ratio": round(late / early, 3),
        "samples": len(times["early"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pledges", type=int, default=100_000, help="size of the late campaign")
    parser.add_argument("--early", type=int, default=1_000, help="size of the early campaign")
    parser.add_argument("--window", type=int, default=1_000, help="pledges measured per campaign")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--single", type=int, default=200, help="one-at-a-time pledges measured")
    parser.add_argument("--fillers", type=int, default=5_000)
    parser.add_argument("--gc-threshold", type=int, default=GC_THRESHOLD,
                        help="gen-0 GC threshold for the whole run (0: Python's default)")
    args = parser.parse_args()
    tune_gc(args.gc_threshold)

    url = fresh_schema(SCHEMA)
    app = build_app(url)
    max_target = str(Decimal(AMOUNT) * (args.pledges + args.window + args.single + 10))
    early = live_campaign(app, max_target=max_target).campaign_id
    late = live_campaign(app, max_target=max_target).campaign_id
    fillers = bulk_backers(app, args.fillers, accredited=True)
    probes = bulk_backers(app, 2 * (args.window + args.single), accredited=True)
    for b in probes:  # measured backers are in the cache, as in a steady state
        app.user(b)
    print(f"filling: early campaign to {args.early}, late campaign to {args.pledges} pledges")
    fill_seconds = fill(app, early, fillers, args.early, "early")
    fill_seconds += fill(app, late, fillers, args.pledges, "late")

    fresh = iter(probes)
    rounds = args.window // args.batch

    def batch_on(campaign: UUID, tag: str) -> Any:
        def run(i: int) -> float:
            requests = [PledgeRequest(next(fresh), campaign, AMOUNT, f"{tag}-b{i}-{n}", True)
                        for n in range(args.batch)]
            t0 = time.perf_counter()
            results = app.pledges.place_many(requests)
            seconds = time.perf_counter() - t0
            assert all(isinstance(r, Written) for r in results)
            return seconds / args.batch
        return run

    def single_on(campaign: UUID, tag: str) -> Any:
        def run(i: int) -> float:
            backer = next(fresh)
            t0 = time.perf_counter()
            app.pledges.place(backer, campaign, AMOUNT, f"{tag}-s{i}", True)
            return time.perf_counter() - t0
        return run

    def cold_load(campaign: UUID) -> Any:
        def run(i: int) -> float:
            reader = build_app(url)  # an empty cache: snapshot + the events after it
            t0 = time.perf_counter()
            reader.campaign(campaign)
            seconds = time.perf_counter() - t0
            reader.close()
            return seconds
        return run

    print(f"measuring: {args.window} batched and {args.single} single pledges on each")
    batched = summary(alternate({}, rounds, early=batch_on(early, "e"), late=batch_on(late, "l")))
    single = summary(alternate({}, args.single, early=single_on(early, "e"),
                               late=single_on(late, "l")))
    cold = summary(alternate({}, 20, early=cold_load(early), late=cold_load(late)))
    sizes = {"early": app.campaign(early).open_pledges, "late": app.campaign(late).open_pledges}
    app.close()

    figures = {
        "campaign_pledges_at_measurement": {"early": args.early, "late": args.pledges},
        "fill_seconds": round(fill_seconds, 1),
        "batched": {**batched, "batch": args.batch},
        "single": single,
        "cold_load": cold,
        "target_ratio": TARGET_RATIO,
        "met": batched["ratio"] <= TARGET_RATIO,
        "final_open_pledges": sizes,
    }
    path = write_result("flat_cost", figures)
    n_early, n_late = f"#{args.early:,}", f"#{args.pledges:,}"
    print(table([
        ("path", f"around {n_early} (us)", f"around {n_late} (us)", "ratio", "target"),
        (f"batched ({args.batch}/tx)", str(batched["early_us_per_pledge"]),
         str(batched["late_us_per_pledge"]), f"{batched['ratio']:.2f}", f"<= {TARGET_RATIO}"),
        ("single (1/tx)", str(single["early_us_per_pledge"]), str(single["late_us_per_pledge"]),
         f"{single['ratio']:.2f}", "-"),
        ("cold load of the campaign", str(cold["early_us_per_pledge"]),
         str(cold["late_us_per_pledge"]), f"{cold['ratio']:.2f}", "-"),
    ]))
    print(f"target met: {figures['met']}  -> {path}")


if __name__ == "__main__":
    main()
