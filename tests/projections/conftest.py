"""Fixtures for the projection tests: a real embedded broker, settings per test,
the pipeline (relay + projection workers) in-process or as real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from application.clock import SettableClock
from crowdfund.bootstrap import event_log, kafka_topic, read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from projections import tables as t
from projections.consumers import PROJECTIONS, Consumer
from projections.db import make_engine
from projections.queries import ReadModels
from projections.rebuild import rebuild_read_models
from projections.source import StoreLog
from tests.conftest import Store
from workers.projections import ProjectionWorker
from workers.relay import run_relay

ROOT = Path(__file__).resolve().parents[2]
CROWDFUND = str(Path(sys.executable).with_name("crowdfund"))
PARTITIONS = 4
TRACKING = {"consumer_tracking", "consumer_groups", "relay_progress", "relay_partitions"}

pytestmark = pytest.mark.broker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One broker for the session; tests isolate themselves with their own topic."""
    with EmbeddedBroker(start_timeout=30) as running:
        yield running


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker this test may restart (empty) at will."""
    with EmbeddedBroker(start_timeout=30) as running:
        yield running


def make_settings(store: Store, data_dir: Path, bootstrap: str) -> Settings:
    return Settings(
        data_dir=data_dir, database_url=store.url, kafka_bootstrap=bootstrap,
        topic=f"events-{uuid.uuid4().hex[:8]}", topic_partitions=PARTITIONS,
    )


@pytest.fixture
def settings(store: Store, tmp_path: Path, broker: EmbeddedBroker) -> Settings:
    return make_settings(store, tmp_path, broker.bootstrap)


@pytest.fixture
def read_models(settings: Settings) -> Iterator[ReadModels]:
    models = ReadModels(read_model_url(settings), topic=settings.topic)
    yield models
    models.close()


class Pipeline:
    """Relay and projection workers as tasks of the test's event loop, each with its
    own stop switch so a test can stop and start them one by one."""

    def __init__(self, settings: Settings, store: Store, clock: SettableClock,
                 bootstrap: str, cipher_key: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.bootstrap = bootstrap
        self.cipher_key = cipher_key
        self.topic = kafka_topic(settings, bootstrap)
        self.running: dict[asyncio.Task[None], asyncio.Event] = {}
        self.workers: dict[int, ProjectionWorker] = {}
        self.tasks_of: dict[int, asyncio.Task[None]] = {}

    def _start(self, make: Callable[[asyncio.Event], Awaitable[None]]) -> asyncio.Task[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(make(stop))  # type: ignore[arg-type]
        self.running[task] = stop
        return task

    def start_relay(self) -> asyncio.Task[None]:
        app = self.store.open(self.clock, cipher_key=self.cipher_key)
        return self._start(lambda stop: run_relay(
            read_model_url(self.settings), event_log(app), self.topic, stop))

    def start_projections(
        self, group: str | None = None, consumer: Consumer = PROJECTIONS,
        **options: Any,
    ) -> ProjectionWorker:
        app = self.store.open(self.clock, cipher_key=self.cipher_key)
        worker = ProjectionWorker(read_model_url(self.settings), event_log(app), self.topic,
                                  consumer=consumer,
                                  group=group or f"g-{consumer.name}-{self.settings.topic}",
                                  **options)
        self.workers[id(worker)] = worker
        task = self._start(worker.run)
        self.tasks_of[id(worker)] = task
        return worker

    async def stop(self, task: asyncio.Task[None]) -> None:
        self.running[task].set()
        await asyncio.wait_for(task, 30)
        del self.running[task]

    async def stop_worker(self, worker: ProjectionWorker) -> None:
        await self.stop(self.tasks_of.pop(id(worker)))

    async def close(self) -> None:
        for stop in self.running.values():
            stop.set()
        results = await asyncio.wait_for(
            asyncio.gather(*self.running, return_exceptions=True), 30)
        for worker in self.workers.values():
            worker.projector.engine.dispose()
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors


@pytest.fixture
async def pipeline(
    settings: Settings, store: Store, clock: SettableClock, broker: EmbeddedBroker
) -> AsyncIterator[Pipeline]:
    running = Pipeline(settings, store, clock, broker.bootstrap)
    yield running
    await running.close()


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` (run in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def caught_up(models: ReadModels, store: Store, timeout: float = 30) -> int:
    app = store.apps[0]
    head = app.head_position()
    await eventually(lambda: models.applied_through() >= head, timeout,
                     f"the read models to apply position {head}")
    return head


def dump(url: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, table by table, in primary-key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [tuple(r) for r in conn.execute(
                    sa.select(table).order_by(*table.primary_key.columns))]
                for table in t.metadata.sorted_tables if table.name not in TRACKING
            }
    finally:
        engine.dispose()


def reference(store: Store, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The projections rebuilt from scratch from the event store, in a fresh database
    (the other consumers' tables stay empty there, as they do in these tests)."""
    url = f"sqlite:///{tmp_path / f'reference-{uuid.uuid4().hex[:6]}.db'}"
    rebuild_read_models(url, StoreLog(store.apps[0]), PROJECTIONS.name, PARTITIONS)
    return dump(url)


def assert_same(live: dict[str, list[Any]], expected: dict[str, list[Any]]) -> None:
    for name in expected:
        assert live[name] == expected[name], f"{name} differs"


# Real worker processes --------------------------------------------------------------


class Worker:
    """`crowdfund worker <name>` as a child process that can be SIGKILLed."""

    def __init__(self, name: str, settings: Settings, log_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> Worker:
        env = {
            **os.environ,
            "CROWDFUND_DATABASE_URL": self.settings.resolved_database_url,
            "CROWDFUND_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap or "",
            "CROWDFUND_TOPIC": self.settings.topic,
            "CROWDFUND_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            "CROWDFUND_DATA_DIR": str(self.settings.data_dir),
            "CROWDFUND_SECRET_KEY": "a-worker-secret-that-is-long-enough-to-sign",
        }
        env.pop("CROWDFUND_CIPHER_KEY", None)
        if self.settings.smtp_url:  # the notifier mails through it
            env["CROWDFUND_SMTP_URL"] = self.settings.smtp_url
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [CROWDFUND, "worker", self.name, *args], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str, Settings], Worker]]:
    started: list[Worker] = []

    def make(name: str, settings: Settings) -> Worker:
        worker = Worker(name, settings, tmp_path)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        with contextlib.suppress(Exception):
            worker.stop()


Check = Callable[[], Awaitable[None]]
