"""Target 1: accepted pledges per second on one hot campaign, against two baselines
measured in the same run.

    python -m bench.write_path [--pledges 120000] [--threads 256] [--tasks 512] [--naive-seconds 10]

1. Naive: `Crowdfund.pledge`, one pledge per transaction, with the library's
   defaults (no aggregate cache, fast-forward on, the library's recorder).
2. Ours: `PledgeDesk` (group commit), once with client threads each blocking on
   its own `desk.pledge`, once with asyncio tasks awaiting `desk.submit` (how the
   ASGI API would call it). Backers ask for more than both their Reg CF caps and
   the max target, so both limits are raced for.
3. Raw PostgreSQL: the very event rows ours wrote, copied into a scratch table
   with the same columns and indexes by binary COPY (and by batched INSERT),
   with no application at all.

Afterwards the invariants are checked from the store: the campaign never holds
more than its max target, no backer is over their cap, every accepted pledge is
stored once and every caller got its own pledge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from application.crowdfund import Crowdfund
from application.pledge_desk import PledgeDesk
from application.pledges import PledgeRequest
from application.unit_of_work import Written
from bench.common import (
    GC_THRESHOLD,
    LIBRARY_DEFAULTS,
    SERVER,
    Scene,
    build_app,
    bulk_backers,
    fresh_schema,
    live_campaign,
    table,
    timed,
    tune_gc,
    write_result,
)
from domain.errors import DomainError, InvestmentLimitExceeded, MaxTargetExceeded
from domain.pledge import pledge_id_for

SCHEMA = "bench_write_path"
MAX_TARGET = Decimal("4000000.00")
# 40,000 income, 50,000 net worth: the greater of 2,500 or 5% of 50,000.
BACKER_CAP = Decimal("2500.00")
AMOUNTS = [Decimal(n) for n in range(10, 100, 10)]


@dataclass
class Outcome:
    request: PledgeRequest
    result: Written[UUID] | DomainError
    seconds: float
    finished: float  # perf_counter when the caller had its answer


def demand(scene: Scene, backers: list[UUID], count: int, seed: int) -> list[PledgeRequest]:
    """Random backers and amounts: on average 2,750 asked per backer (cap 2,500) and
    5.5M in all (max target 4M), so both limits are raced for."""
    rng = random.Random(seed)
    return [
        PledgeRequest(rng.choice(backers), scene.campaign_id, f"{rng.choice(AMOUNTS)}.00",
                      f"bench-{seed}-{n}", True)
        for n in range(count)
    ]


def naive(url: str, backers_count: int, seconds: float) -> dict[str, Any]:
    """One pledge per transaction with the library's defaults, for a bounded time."""
    app = build_app(url, **LIBRARY_DEFAULTS, APPLICATION_RECORDER_TOPIC="")
    scene = live_campaign(app, max_target=str(MAX_TARGET))
    backers = bulk_backers(app, backers_count)
    requests = demand(scene, backers, 1_000_000, seed=1)
    accepted = 0
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        r = requests[done]
        try:
            app.pledges.place(r.backer_id, r.campaign_id, r.amount, r.idempotency_key, True)
            accepted += 1
        except DomainError:
            pass
        done += 1
    elapsed = time.perf_counter() - start
    app.close()
    return {"pledges": done, "accepted": accepted, "seconds": round(elapsed, 3),
            "accepted_per_s": round(accepted / elapsed, 1)}


def ours(
    app: Crowdfund, requests: list[PledgeRequest], clients: str, concurrency: int,
    max_batch: int,
) -> tuple[list[Outcome], float, dict[str, Any]]:
    """All `requests` through one `PledgeDesk`, `concurrency` callers at a time.

    clients="threads": that many threads, each blocking on `desk.pledge`.
    clients="asyncio": that many coroutines on one event loop awaiting
    `desk.submit` (how the ASGI API calls it).
    """
    outcomes: list[Outcome | None] = [None] * len(requests)
    batches: list[int] = []
    original = app.pledges.place_many

    def counting(reqs: Any) -> Any:
        batches.append(len(reqs))
        return original(reqs)

    app.pledges.place_many = counting  # type: ignore[method-assign,assignment]  # batch sizes
    cpu_start, times_start = time.process_time(), os.times()
    started = time.perf_counter()
    with PledgeDesk(app, max_batch=max_batch) as desk, timed() as elapsed:
        if clients == "threads":
            _thread_clients(desk, requests, outcomes, concurrency)
        else:
            asyncio.run(_async_clients(desk, requests, outcomes, concurrency))
    del app.pledges.place_many
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(requests)
    # Sustained rate: accepted pledges until the last one was accepted (the campaign
    # sold out); the refusals that follow are counted in requests_per_s only.
    selling = max(o.finished for o in done if isinstance(o.result, Written)) - started
    stats = {
        "clients": clients, "concurrency": concurrency, "selling_seconds": round(selling, 3),
        "python_cpu_us_per_request": round((time.process_time() - cpu_start) / len(done) * 1e6, 1),
        "of_which_system_us": round((os.times().system - times_start.system) / len(done) * 1e6, 1),
        "batches": len(batches),
        "mean_batch": round(statistics.fmean(batches), 1),
        "max_batch": max(batches),
    }
    return done, elapsed[0], stats


def _thread_clients(
    desk: PledgeDesk, requests: list[PledgeRequest], outcomes: list[Outcome | None], threads: int
) -> None:
    cursor = iter(range(len(requests)))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            r = requests[n]
            t0 = time.perf_counter()
            try:
                result: Written[UUID] | DomainError = desk.pledge(
                    r.backer_id, r.campaign_id, r.amount, r.idempotency_key
                )
            except DomainError as error:
                result = error
            now = time.perf_counter()
            outcomes[n] = Outcome(r, result, now - t0, now)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


async def _async_clients(
    desk: PledgeDesk, requests: list[PledgeRequest], outcomes: list[Outcome | None],
    concurrency: int,
) -> None:
    cursor = iter(range(len(requests)))  # one thread: no lock needed

    async def client() -> None:
        for n in cursor:
            r = requests[n]
            t0 = time.perf_counter()
            try:
                result: Written[UUID] | DomainError = await asyncio.wrap_future(desk.submit(r))
            except DomainError as error:
                result = error
            now = time.perf_counter()
            outcomes[n] = Outcome(r, result, now - t0, now)

    await asyncio.gather(*(client() for _ in range(concurrency)))


def check_invariants(url: str, scene: Scene, outcomes: list[Outcome]) -> dict[str, Any]:
    """From a fresh application (no cache): what the store says, against what callers heard."""
    app = build_app(url)
    campaign = app.campaign(scene.campaign_id)
    accepted = [o for o in outcomes if isinstance(o.result, Written)]
    by_backer: dict[str, Decimal] = defaultdict(Decimal)
    for o in accepted:
        assert isinstance(o.result, Written)
        # Every caller got its own pledge: the id its backer and key name.
        assert o.result.value == pledge_id_for(str(o.request.backer_id), o.request.idempotency_key)
        by_backer[str(o.request.backer_id)] += Decimal(str(o.request.amount))
    held = sum((Decimal(str(o.request.amount)) for o in accepted), Decimal(0))
    assert campaign.held == held, (campaign.held, held)
    assert campaign.held <= campaign.terms.max_target, "oversold"
    assert campaign.open_pledges == len(accepted)
    over_cap = [b for b, total in by_backer.items() if total > BACKER_CAP]
    assert not over_cap, f"{len(over_cap)} backers over their cap"
    for backer_id, total in list(by_backer.items())[:200]:
        used = app.user(backer_id).reg_cf_headroom(app.clock.now()).used
        assert used == total, (backer_id, used, total)
    refused: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if isinstance(o.result, DomainError):
            refused[o.result.code] += 1
    at_cap = sum(1 for total in by_backer.values() if BACKER_CAP - total < AMOUNTS[0])
    app.close()
    return {
        "held": str(campaign.held), "max_target": str(campaign.terms.max_target),
        "room_left": str(campaign.terms.max_target - campaign.held),
        "accepted": len(accepted), "refused": dict(refused),
        "backers_at_cap": at_cap,
        "max_target_refusals": refused.get(MaxTargetExceeded.code, 0),
        "cap_refusals": refused.get(InvestmentLimitExceeded.code, 0),
    }


def raw_postgres(rows: list[tuple[Any, ...]], batch_rows: int) -> dict[str, Any]:
    """The same rows, no application: binary COPY and multi-row INSERT per transaction."""
    results = {}
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(SCHEMA)))
        for method in ("copy", "insert"):
            name = f"raw_{method}"
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL(
                "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))"
            ).format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(
                sql.Identifier(name)))
            chunks = [rows[i:i + batch_rows] for i in range(0, len(rows), batch_rows)]
            with timed() as elapsed:
                for chunk in chunks:
                    with conn.transaction():
                        if method == "copy":
                            _copy(conn, name, chunk)
                        else:
                            _insert(conn, name, chunk)
            results[method] = {"rows": len(rows), "seconds": round(elapsed[0], 3),
                               "rows_per_s": round(len(rows) / elapsed[0])}
    return results


def _copy(conn: psycopg.Connection[Any], name: str, chunk: list[tuple[Any, ...]]) -> None:
    statement = sql.SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
    ).format(sql.Identifier(name))
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["uuid", "int8", "text", "bytea"])
        for row in chunk:
            copy.write_row(row)


def _insert(conn: psycopg.Connection[Any], name: str, chunk: list[tuple[Any, ...]]) -> None:
    statement = sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state) "
        "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
    ).format(sql.Identifier(name))
    conn.execute(statement, [list(col) for col in zip(*chunk, strict=True)])


def stored_rows(first_id: int, limit: int) -> list[tuple[Any, ...]]:
    with psycopg.connect(SERVER) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(SCHEMA)))
        return conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM crowdfund_events "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s", (first_id, limit)
        ).fetchall()


def run_mode(
    url: str, args: argparse.Namespace, clients: str, concurrency: int
) -> tuple[dict[str, Any], int]:
    """A fresh campaign and fresh backers, all requests through a desk; returns figures
    and the log position before the run."""
    app = build_app(url)
    scene = live_campaign(app, max_target=str(MAX_TARGET))
    backers = bulk_backers(app, args.backers)
    for b in backers:  # steady state: the writer's cache knows the backers
        app.user(b)
    requests = demand(scene, backers, args.pledges, seed=2)
    first_id = app.head_position()
    print(f"ours: PledgeDesk, {concurrency} {clients} clients, {args.pledges} pledges")
    outcomes, seconds, batching = ours(app, requests, clients, concurrency, args.max_batch)
    app.close()
    invariants = check_invariants(url, scene, outcomes)
    latencies = sorted(o.seconds for o in outcomes)
    accepted = invariants["accepted"]
    return {
        "requests": len(requests), "accepted": accepted, "seconds": round(seconds, 3),
        "accepted_per_s": round(accepted / batching["selling_seconds"], 1),
        "requests_per_s": round(len(requests) / seconds, 1), **batching,
        "latency_ms": {"p50": round(latencies[len(latencies) // 2] * 1000, 2),
                       "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)},
        "invariants": invariants,
    }, first_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pledges", type=int, default=120_000)
    parser.add_argument("--backers", type=int, default=2_000)
    # Each client has one pledge in flight, so the thread count caps the batch;
    # 256 threads give batches of about 128, enough to spread each commit's fsync.
    parser.add_argument("--threads", type=int, default=256, help="blocking client threads")
    parser.add_argument("--tasks", type=int, default=512, help="asyncio clients in flight")
    parser.add_argument("--clients", default="threads,asyncio")
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    parser.add_argument("--gc-threshold", type=int, default=GC_THRESHOLD,
                        help="gen-0 GC threshold for the whole run (0: Python's default)")
    args = parser.parse_args()
    tune_gc(args.gc_threshold)

    url = fresh_schema(SCHEMA)
    print(f"naive baseline: one pledge per transaction, library defaults, {args.naive_seconds}s")
    base = (
        naive(url, args.backers, args.naive_seconds) if args.naive_seconds > 0
        else {"accepted": 0, "seconds": 0, "accepted_per_s": float("nan")}
    )
    modes: dict[str, dict[str, Any]] = {}
    first_ids: dict[str, int] = {}
    for clients in args.clients.split(","):
        concurrency = args.threads if clients == "threads" else args.tasks
        modes[clients], first_ids[clients] = run_mode(url, args, clients, concurrency)

    # The raw limit for the very rows the first mode wrote (its pledges only).
    first = next(iter(modes))
    rows = stored_rows(first_ids[first], limit=modes[first]["accepted"] * 3)
    events_per_pledge = len(rows) / modes[first]["accepted"]
    print(f"raw PostgreSQL: the same {len(rows)} rows, COPY and INSERT")
    raw = raw_postgres(rows, batch_rows=3000)
    raw_best = max(r["rows_per_s"] for r in raw.values())
    raw_pledges = raw_best / events_per_pledge
    raw_insert_pledges = raw["insert"]["rows_per_s"] / events_per_pledge
    for figures in modes.values():
        rate = figures["accepted_per_s"]
        figures["ratios"] = {"vs_naive": round(rate / base["accepted_per_s"], 2),
                             "vs_raw_postgres": round(rate / raw_pledges, 3),
                             "vs_raw_insert_only": round(rate / raw_insert_pledges, 3)}
        figures["met"] = {"pledges_per_s": rate >= 10_000,
                          "vs_naive": figures["ratios"]["vs_naive"] >= 25,
                          "vs_raw_postgres": figures["ratios"]["vs_raw_postgres"] >= 0.20}
    result = {
        "naive": base, "ours": modes,
        "raw_postgres": {**raw, "events_per_pledge": round(events_per_pledge, 3),
                         "best_rows_per_s": raw_best,
                         "pledge_equivalents_per_s": round(raw_pledges, 1)},
        "targets": {"pledges_per_s": 10_000, "vs_naive": 25, "vs_raw_postgres": 0.20},
    }
    path = write_result("write_path", result)
    report(base, modes, raw_pledges, raw_insert_pledges)
    print(f"-> {path}")


def report(
    base: dict[str, Any], modes: dict[str, dict[str, Any]], raw_pledges: float,
    raw_insert_pledges: float,
) -> None:
    rows = [("path", "accepted", "selling s", "pledges/s", "x naive", "of raw PG", "batch",
             "p50/p99 ms")]
    rows.append(("naive (1 pledge/tx, defaults)", str(base["accepted"]), str(base["seconds"]),
                 f"{base['accepted_per_s']:.0f}", "1.00", "-", "1", "-"))
    for clients, f in modes.items():
        rows.append((f"ours, {f['concurrency']} {clients} clients", str(f["accepted"]),
                     f"{f['selling_seconds']:.2f}", f"{f['accepted_per_s']:.0f}",
                     f"{f['ratios']['vs_naive']:.2f}", f"{f['ratios']['vs_raw_postgres']:.1%}",
                     f"{f['mean_batch']:.0f}",
                     f"{f['latency_ms']['p50']:.0f}/{f['latency_ms']['p99']:.0f}"))
    rows.append(("raw PostgreSQL COPY (same rows)", "-", "-", f"{raw_pledges:.0f}", "-",
                 "100%", "1000", "-"))
    rows.append(("raw PostgreSQL INSERT (same rows)", "-", "-", f"{raw_insert_pledges:.0f}",
                 "-", f"{raw_insert_pledges / raw_pledges:.0%}", "1000", "-"))
    print(table(rows))
    for clients, f in modes.items():
        inv = f["invariants"]
        print(f"{clients}: held {inv['held']} <= max {inv['max_target']}; "
              f"{inv['backers_at_cap']} backers at their cap, none over; refusals "
              f"{inv['refused']}; targets met {f['met']}")


if __name__ == "__main__":
    main()
