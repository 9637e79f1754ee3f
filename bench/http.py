"""Target 3: pledges end to end over GraphQL/HTTP, against the same server's
throughput on a trivial query measured in the same run.

    python -m bench.http [--seconds 12] [--concurrency 128] [--rates 100,1000] [--backers 1000]

Real processes on a fresh PostgreSQL schema: the embedded broker, `crowdfund api`,
`crowdfund worker relay|projections|scheduler`. Backers (verified) and one live
campaign are written straight through the application on the same schema, and
their bearer tokens are minted with `api.security.TokenSigner` and the server's
secret. The load generator is this Python process (a minimal keep-alive
HTTP/1.1 client on uvloop, over loopback): it competes with the server for the
same 2 cores, and its CPU is reported.

1. baseline: `{ __typename }`, closed loop, `--concurrency` requests in flight;
2. pledges: `pledge` mutations, unique idempotency keys, closed loop, same concurrency;
3. latency: pledges offered open-loop at each of `--rates`/s for `--seconds`; latency is
   measured from when each request was due (not sent), so a client that falls
   behind shows up as latency, not as a lower rate. At most `--concurrency`
   requests are in flight (more wait for a connection, their wait counted).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import uvloop

from api.security import TokenSigner
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
from bench.platform import Processes, new_secret, platform_env, wait_http
from crowdfund.embedded_broker import EmbeddedBroker, free_port

SCHEMA = "bench_http"
TRIVIAL = {"query": "{ __typename }"}
DRAIN_SECONDS = 20.0
PLEDGE = (
    "mutation($i: PledgeInput!) { pledge(input: $i) { __typename"
    " ... on PledgeSaved { position } } }"
)


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response.

    httpx.AsyncClient was tried first: over loopback it spent 0.75 of a core to
    drive 114 trivial requests/s with 128 connections, so it measured itself.
    This client costs a few tens of µs per request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, headers: str = "") -> tuple[int, bytes]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.opened = 0
        self.stale = 0  # reused connections found closed (request retried)

    async def post(self, path: str, body: bytes, headers: str = "") -> tuple[int, bytes]:
        while self.idle:  # a kept-alive connection the server may have closed meanwhile
            conn = self.idle.pop()
            try:
                result = await conn.post(path, body, headers)
            except (OSError, asyncio.IncompleteReadError):
                conn.close()
                self.stale += 1
                continue
            self.idle.append(conn)
            return result
        conn = await Connection.open(self.host, self.port)
        self.opened += 1
        try:
            result = await conn.post(path, body, headers)
        except BaseException:
            conn.close()
            raise
        self.idle.append(conn)
        return result

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


class Load:
    """Pledge requests by many backers to one campaign, each with a fresh key."""

    def __init__(self, campaign: UUID, tokens: list[str]) -> None:
        self.campaign = str(campaign)
        self.headers = itertools.cycle([f"Authorization: Bearer {t}\r\n" for t in tokens])
        self.outcomes: Counter[str] = Counter()

    async def pledge(self, pool: Pool) -> None:
        body = json.dumps({"query": PLEDGE, "variables": {"i": {
            "campaignId": self.campaign, "amount": "10.00", "idempotencyKey": uuid4().hex,
            "acknowledgeRisk": True}}})
        try:
            status, answer = await pool.post("/graphql", body.encode(), next(self.headers))
        except (OSError, asyncio.IncompleteReadError) as error:
            self.outcomes[type(error).__name__] += 1
            return
        if status != 200:
            self.outcomes[f"http {status}"] += 1
            return
        data = json.loads(answer)
        if data.get("errors"):
            self.outcomes["graphql error"] += 1
        else:
            self.outcomes[data["data"]["pledge"]["__typename"]] += 1


TRIVIAL_BODY = json.dumps(TRIVIAL).encode()


async def trivial(pool: Pool) -> None:
    status, answer = await pool.post("/graphql", TRIVIAL_BODY)
    assert status == 200 and json.loads(answer)["data"]["__typename"] == "Query", answer


def _cpu(procs: Processes) -> dict[str, float]:
    return {name: procs.cpu_seconds(name) for name in procs.running}


def _cpu_delta(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, Any]:
    return {f"{k}_cpu_cores": round((after[k] - before[k]) / seconds, 2) for k in before}


async def closed_loop(
    client: Pool, call: Callable[[Pool], Awaitable[None]],
    concurrency: int, seconds: float, procs: Processes,
) -> dict[str, Any]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await call(client)
            latencies.append(time.perf_counter() - t0)

    servers, cpu, began = _cpu(procs), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies), "seconds": round(elapsed, 2),
        "per_s": round(len(latencies) / elapsed, 1),
        "client_cpu_cores": round((time.process_time() - cpu) / elapsed, 2),
        **_cpu_delta(servers, _cpu(procs), elapsed), **_percentiles(latencies),
    }


async def open_loop(
    client: Pool, load: Load, rate: float, seconds: float, procs: Processes,
    connections: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []

    slots = asyncio.Semaphore(connections)

    async def one(due: float) -> None:
        async with slots:  # at most `connections` in flight, as wrk2 does
            await load.pledge(client)
        latencies.append(time.perf_counter() - due)

    servers, cpu, began = _cpu(procs), time.process_time(), time.perf_counter()
    late = 0
    for n in range(total):
        due = began + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1
        tasks.append(asyncio.create_task(one(due)))
    sent = time.perf_counter() - began
    # Bounded: when the server cannot keep up, what is still queued after DRAIN
    # seconds is cancelled and counted as unfinished (its latency is > DRAIN).
    _, unfinished = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    elapsed = time.perf_counter() - began
    return {
        "offered_per_s": rate, "requests": total, "sending_seconds": round(sent, 2),
        "sent_more_than_5ms_late": late, "unfinished_after_drain": len(unfinished),
        "completed_per_s": round(len(latencies) / elapsed, 1), "seconds": round(elapsed, 2),
        "client_cpu_cores": round((time.process_time() - cpu) / elapsed, 2),
        **_cpu_delta(servers, _cpu(procs), elapsed), **_percentiles(latencies),
    }


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(latencies) * 1000, 1)}


async def measure(args: argparse.Namespace, port: int, load: Load, procs: Processes,
                  ) -> dict[str, Any]:
    client = Pool("127.0.0.1", port)
    try:
        await closed_loop(client, trivial, args.concurrency, 2, procs)  # warm up
        baseline = await closed_loop(client, trivial, args.concurrency, args.seconds, procs)
        procs.check()
        await closed_loop(client, load.pledge, args.concurrency, 2, procs)  # warm up
        load.outcomes.clear()
        pledges = await closed_loop(client, load.pledge, args.concurrency, args.seconds, procs)
        pledges["outcomes"] = dict(load.outcomes)
        procs.check()
        fixed = []
        for rate in args.rates:
            load.outcomes.clear()
            opened = client.opened
            latency = await open_loop(client, load, rate, args.seconds, procs, args.concurrency)
            latency["outcomes"] = dict(load.outcomes)
            latency["connections_opened"] = client.opened - opened
            latency["stale_connections_retried"] = client.stale
            fixed.append(latency)
            procs.check()
    finally:
        client.close()
    return {"trivial_query": baseline, "pledges_max": pledges, "pledges_fixed_rate": fixed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--rates", type=lambda v: [float(r) for r in v.split(",")],
                        default=[100.0, 1000.0], help="offered pledges/s, open loop, in turn")
    parser.add_argument("--backers", type=int, default=1000)
    args = parser.parse_args()
    tune_gc(GC_THRESHOLD)
    uvloop.install()

    url = fresh_schema(SCHEMA)
    app = build_app(url)
    began = time.perf_counter()
    # Reg CF: 4,000,000 max target; each backer may pledge 250 x 10.00 (cap 2,500).
    scene = live_campaign(app, max_target="4000000.00")
    backers = bulk_backers(app, args.backers)
    app.close()
    secret = new_secret()
    signer = TokenSigner(secret, 3600)
    tokens = [signer.issue(str(b), ["BACKER"]) for b in backers]
    print(f"setup: {args.backers} verified backers, 1 live campaign "
          f"in {time.perf_counter() - began:.1f}s")

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with EmbeddedBroker() as broker:
        log_dir = Path(tempfile.mkdtemp(prefix="bench-http-"))
        procs = Processes(platform_env(url, broker.bootstrap, f"bench-http-{uuid4().hex[:6]}",
                                       secret, log_dir), log_dir)
        try:
            # One at a time: started together on a fresh schema they race creating
            # the read-model tables ("tuple concurrently updated"; see README).
            procs.start("api", "api", "--port", str(port))
            wait_http(base_url, procs)
            for kind in ("relay", "projections", "scheduler"):
                procs.start(kind, "worker", kind)
                time.sleep(2)
            procs.check()
            figures = asyncio.run(measure(args, port, Load(scene.campaign_id, tokens), procs))
        finally:
            procs.stop()

    base, peak, fixed = (figures["trivial_query"], figures["pledges_max"],
                         figures["pledges_fixed_rate"])
    accepted = peak["outcomes"].get("PledgeSaved", 0) / peak["seconds"]
    figures["ratios"] = {
        "pledges_of_trivial": round(peak["per_s"] / base["per_s"], 3),
        "accepted_pledges_per_s": round(accepted, 1),
    }
    figures["settings"] = vars(args)
    rows = [("phase", "req/s", "p50 ms", "p95 ms", "p99 ms", "client CPU", "api CPU", "outcomes")]
    phases = [("{ __typename } (baseline)", base), ("pledge, closed loop", peak)]
    phases += [(f"pledge, open loop {f['offered_per_s']:.0f}/s offered", f) for f in fixed]
    for name, f in phases:
        rate = f.get("per_s", f.get("completed_per_s"))
        rows.append((name, f"{rate:,.0f}", str(f.get("p50_ms")), str(f.get("p95_ms")),
                     str(f.get("p99_ms")), f"{f['client_cpu_cores']:.2f}",
                     f"{f.get('api_cpu_cores', 0):.2f}", str(f.get("outcomes", ""))))
    print(table(rows))
    print(f"pledges / trivial query: {figures['ratios']['pledges_of_trivial']:.1%} (target ≥ 60%)")
    print(f"wrote {write_result('http', figures)}")


if __name__ == "__main__":
    main()
