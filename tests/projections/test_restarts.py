"""The platform's workers stopped together with SIGTERM under a writer's load and started
again at once, over and over: every process exits 0, and each time the new projection
workers make progress (the read models reach what was written before the restart).

This is how a projection worker used to hang after a full SIGTERM: the embedded
broker kept the member that left as the group's leader, so the new members waited
for its assignment forever (docs/reliability.md). Seen about once in five rounds.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from application.clock import SettableClock
from crowdfund.settings import Settings
from projections.queries import ReadModels
from tests.conftest import Store
from tests.projections.conftest import Worker, eventually
from tests.projections.test_resilience import hot_campaign
from tests.scenario import pledge

# Three rounds in `make test` (each waits out a stuck group); more for a soak.
ROUNDS = int(os.environ.get("CROWDFUND_TEST_RESTARTS", "3"))
# A stuck group is left after 20 s (workers.projections.STALL_AFTER), then rejoined.
PROGRESS_SECONDS = 90


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_workers_restarted_right_after_sigterm_make_progress(
    store: Store, clock: SettableClock, settings: Settings, read_models: ReadModels,
    workers: Callable[[str, Settings], Worker],
) -> None:
    app = store.open(clock)
    campaign, backers = hot_campaign(app)
    group = ("--group", f"g-{settings.topic}")
    relay = workers("relay", settings).start()
    projections = [workers("projections", settings).start(*group) for _ in range(2)]
    everyone = [relay, *projections]
    done = threading.Event()

    def write() -> None:
        n = 0
        while not done.is_set():
            pledge(app, backers[n % len(backers)], campaign, "100.00")
            n += 1

    def logs() -> str:
        return "\n".join(w.log() for w in everyone)

    def up(times: int) -> bool:
        """Every process of this round got going (so its signal handlers are in place)."""
        ready = [(relay, "relay publishing to")] + [(w, "assigned partitions") for w in projections]
        return all(w.log_path.read_text().count(line) >= times for w, line in ready)

    async def within(check: Callable[[], bool], what: str) -> None:
        try:
            await eventually(check, PROGRESS_SECONDS, what)
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n{logs()}") from None

    writing = asyncio.create_task(asyncio.to_thread(write))
    try:
        for attempt in range(ROUNDS):
            head = app.head_position()
            await within(lambda: read_models.applied_through() >= head,  # noqa: B023
                         f"round {attempt} to apply position {head}")
            await within(lambda: up(attempt + 1), f"round {attempt}: every worker up")  # noqa: B023
            for worker in everyone:
                assert worker.proc is not None
                worker.proc.terminate()
            codes = await asyncio.gather(
                *(asyncio.to_thread(w.proc.wait, 30) for w in everyone if w.proc))
            assert codes == [0, 0, 0], logs()
            relay.start()
            for worker in projections:
                worker.start(*group)
    finally:
        done.set()
        await writing
    head = app.head_position()
    await within(lambda: read_models.applied_through() >= head, f"the last round to apply {head}")
