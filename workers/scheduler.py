"""The scheduler: runs whatever has fallen due (deadlines, reconfirmation expiry,
settlement, refunds) every `interval` seconds, and at once when woken.

Safe to run twice: every step the domain takes is guarded by optimistic
concurrency, so two schedulers racing over one campaign write each outcome once
(the loser of a race reloads and finds nothing left to do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from application.crowdfund import Crowdfund
from domain.errors import ConcurrencyConflict

log = logging.getLogger(__name__)

__all__ = ["run_scheduler"]


async def run_scheduler(
    app: Crowdfund,
    stop: asyncio.Event,
    interval: float = 1.0,
    *,
    wake: asyncio.Event | None = None,
) -> None:
    """Call `app.due.run()` in a worker thread every `interval` s (or when `wake` is set)
    until `stop` is set. Failures are logged and retried on the next tick."""
    # One dedicated thread: passes never overlap, and a pass never waits for a
    # thread from the pool that serves API requests.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")
    loop = asyncio.get_running_loop()
    failures = 0
    log.info("scheduler running every %.1fs", interval)
    try:
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            try:
                written = await loop.run_in_executor(pool, app.due.run)
                failures = 0
                if written:
                    log.info("scheduler: ran what fell due (log position %d)", written)
            except ConcurrencyConflict:
                log.info("scheduler: lost a race to another writer; retrying next tick")
            except Exception:
                failures += 1
                # Log the first failures in full, then keep quiet until it recovers.
                if failures <= 3:
                    log.exception("scheduler: a pass failed; retrying in %.1fs", interval)
            await _sleep(stop, wake, interval)
    finally:
        # Never block the event loop here: a cancelled pass finishes in its thread.
        pool.shutdown(wait=False)


async def _sleep(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Sleep until `seconds` pass, `stop` is set or `wake` is set, whichever is first."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waiters, return_exceptions=True)
