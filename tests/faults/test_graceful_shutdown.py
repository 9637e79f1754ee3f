"""Graceful shutdown under load: SIGTERM lets `crowdfund api` finish the requests in
flight, and the workers finish their batches, before they exit 0.

- every request that got an answer was applied as answered (acknowledged pledges are
  stored, refused ones are not);
- nothing is half-applied: every stored pledge has its campaign's acceptance and (Reg
  CF) the backer's commitment, and the escrow balances;
- slow requests already running when the signal came get their answer;
- the relay and the projection workers, stopped the same way mid-stream, exit 0.
(That restarted workers carry on and equal a rebuild is tested by
tests/projections/test_resilience.py and tests/faults/test_fault_injection.py.)
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.invariants import (
    acknowledged_exactly_once,
    escrow_balances,
    nothing_unacknowledged_in_escrow,
    scan_log,
)
from tests.faults.load import PLEDGE, Intent, LoadClient
from tests.faults.platform import Platform, running_platform
from tests.faults.world import World, build_world

# Many processes, each with its pools: never beside another such suite on the shared
# PostgreSQL server (`make test` runs `serial` tests alone, after the rest).
pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.serial]

SLOW = "{ caughtUp(position: 1000000000, timeoutMs: 2500) }"
GRACE = 12.0  # the API's graceful timeout is 10 s


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "run") as running:
        yield running


async def _pledge_once(client: httpx.AsyncClient, intent: Intent, answered: list[Any]) -> None:
    """One attempt, no retry: the outcome is exactly what this request did."""
    sent = time.monotonic()
    try:
        response = await client.post("/graphql", json={
            "query": PLEDGE, "variables": intent.variables()},
            headers={"Authorization": f"Bearer {intent.backer.token}"})
    except httpx.TransportError as exc:
        intent.outcome, intent.code = "unresolved", type(exc).__name__
        answered.append((sent, None, intent))
        return
    answer = (response.json().get("data") or {}).get("pledge") if \
        response.status_code == 200 else None
    if answer is None:
        intent.outcome, intent.code = "unresolved", f"HTTP {response.status_code}"
    elif answer["__typename"] == "PledgeSaved":
        intent.outcome = "acked"
    else:
        intent.outcome, intent.code = "refused", answer["code"]
    answered.append((sent, response.status_code, intent))


async def test_sigterm_drains_requests_and_batches(platform: Platform) -> None:
    app = platform.open_app()
    try:
        world: World = await asyncio.to_thread(build_world, app, platform.secret_key,
                                               short_waves=0)
    finally:
        app.close()
    load = LoadClient(platform.base_url, world, seed=7)
    answered: list[tuple[float, int | None, Intent]] = []
    stop = threading.Event()
    rng = random.Random(7)

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client:
            while not stop.is_set():
                await _pledge_once(client, load._new_intent(rng), answered)
                if answered and answered[-1][1] is None:
                    await asyncio.sleep(0.05)  # the API is gone: keep knocking, gently

    async def slow(results: list[Any]) -> None:
        async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client:
            try:
                response = await client.post("/graphql", json={"query": SLOW})
                results.append((response.status_code, response.json()))
            except httpx.TransportError as exc:
                results.append((None, repr(exc)))

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.sleep(4.0)
    slow_results: list[Any] = []
    slow_requests = [asyncio.create_task(slow(slow_results)) for _ in range(3)]
    await asyncio.sleep(0.8)  # the slow requests are in flight
    api = platform.components["api"]
    signalled = time.monotonic()
    assert api.proc is not None
    api.proc.terminate()

    async def api_exit() -> tuple[int, float]:
        assert api.proc is not None
        code = await asyncio.to_thread(api.proc.wait, GRACE + 5)
        return code, time.monotonic() - signalled

    api_exited = asyncio.create_task(api_exit())
    # The workers too, mid-stream: they must finish their batch and exit 0.
    worker_codes = await asyncio.gather(*(
        asyncio.to_thread(platform.components[name].terminate, 15.0)
        for name in ("relay", "projections-1", "projections-2", "scheduler")))
    api_code, took = await api_exited
    stop.set()
    await asyncio.gather(*slow_requests)
    await asyncio.gather(*workers)
    await load.close()

    assert api_code == 0, api.log_tail()
    assert took < GRACE, f"crowdfund api took {took:.1f}s to stop"
    assert worker_codes == [0, 0, 0, 0], worker_codes
    assert slow_results == [(200, {"data": {"caughtUp": False}})] * 3, slow_results
    before = [i for sent, status, i in answered if sent < signalled - 1.0]
    assert before and all(i.outcome != "unresolved" for i in before), [
        (i.key, i.code) for i in before if i.outcome == "unresolved"]
    acked = [i for i in load.ledger.intents if i.outcome == "acked"]
    assert len(acked) > 20, load.ledger.summary()

    # What the answers said is what the store holds; nothing is half-applied. A request
    # that got no answer (sent as the API closed) may or may not be stored, but whole.
    app = platform.open_app()
    try:
        scan = await asyncio.to_thread(scan_log, app)
        assert acknowledged_exactly_once(scan, load.ledger) == []
        in_doubt = {i.pledge_id for i in load.ledger.intents if i.outcome == "unresolved"}
        stray = [p for p in nothing_unacknowledged_in_escrow(scan, load.ledger)
                 if not any(pid in p for pid in in_doubt) and "never got an answer" not in p]
        assert stray == []
        for stored in scan.pledges.values():
            campaign = scan.campaigns[stored.campaign_id]
            assert stored.placed == 1 and campaign.accepted[stored.id] == 1, stored
            if stored.regime == "REG_CF":
                assert scan.commitments[stored.id] == 1, stored
        assert await asyncio.to_thread(escrow_balances, app, scan, world) == []
    finally:
        app.close()
