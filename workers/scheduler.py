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
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from domain.application import Crowdfund
from domain.clock import business_time
from domain.errors import ConcurrencyConflict

log = logging.getLogger(__name__)

__all__ = ["main_scheduler", "run_due_once", "run_scheduler"]


def run_due_once(app: Crowdfund) -> int:
    """One pass of `app.run_due()`; the last position written (0: nothing was due)."""
    # `run_due` may build an empty calendar (and its creation event) before the
    # first campaign is ever launched; that needs a business instant, which the
    # domain only sets inside its commands, so provide one around the call.
    with business_time(app.clock.now()):
        return app.run_due()


async def run_scheduler(
    app: Crowdfund,
    stop: asyncio.Event,
    interval: float = 1.0,
    *,
    wake: asyncio.Event | None = None,
) -> None:
    """Call `app.run_due()` in a worker thread every `interval` s (or when `wake` is set)
    until `stop` is set. Failures are logged and retried on the next tick."""
    # One dedicated thread: passes never overlap, and a pass never waits for a
    # thread from the pool that serves API requests.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")
    loop = asyncio.get_running_loop()
    failures = 0
    try:
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            try:
                written = await loop.run_in_executor(pool, run_due_once, app)
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


def main_scheduler(app: Crowdfund, interval: float = 1.0) -> int:
    """`crowdfund worker scheduler`: run until SIGINT/SIGTERM, then exit 0.

    Other processes (the API) launch campaigns meanwhile; `run_due` refreshes a
    cached offering calendar that is stale, so this process sees them.
    """

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        began = time.monotonic()
        log.info("scheduler running every %.1fs", interval)
        await run_scheduler(app, stop, interval)
        log.info("scheduler stopped after %.0fs", time.monotonic() - began)

    asyncio.run(run())
    return 0
