"""The production topology as real processes, for fault injection.

    platform = Platform.create(run_dir)        # a fresh PostgreSQL schema, an embedded broker
    platform.start()                            # api, relay, 2 projection workers, scheduler
    platform.kill("relay"); platform.restart("relay")
    platform.restart_broker()                   # comes back EMPTY
    platform.restart_postgres()                 # pg_ctlcluster restart, waits for readiness
    platform.stop()                             # SIGTERM everything; exit codes

Every process is the installed `crowdfund` console script (`crowdfund api --port P`,
`crowdfund worker relay|projections|scheduler|monitor`) with the settings in its environment
only. Each component's stdout and stderr go to `run_dir/<name>.log` (appended across
restarts, one marker line per start), so tests can grep every log line ever written.

PostgreSQL: `CROWDFUND_FAULTS_POSTGRES_URL` (default: the suite's server) and
`CROWDFUND_FAULTS_PG_CLUSTER` (`VERSION/NAME`, default: the only version under
/etc/postgresql, cluster `main`) name the server the suite may restart. A developer
whose colleagues share the main server can point both at a private cluster.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from eventsourcing.cipher import AESCipher

from application.clock import SystemClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import open_application, read_model_url
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.mail_sink import MailSink
from crowdfund.settings import Settings
from projections.queries import ReadModels

CROWDFUND = str(Path(sys.executable).with_name("crowdfund"))
ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "CROWDFUND_FAULTS_POSTGRES_URL",
    os.environ.get("CROWDFUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
ADMIN_EMAIL = "faults-admin@example.test"
ADMIN_PASSWORD = "faults-admin-correct-horse-battery"
PARTITIONS = 4
API_START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PG_READY_TIMEOUT = 60.0
COMPONENTS = ("api", "relay", "scheduler", "projections-1", "projections-2", "monitor",
              "notifier")
# What each kind of process logs once it is up.
READY = {"api": "crowdfund api ready", "relay": "publishing to",
         "projections": "assigned partitions", "scheduler": "scheduler running",
         "monitor": "assigned partitions", "notifier": "assigned partitions"}


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PostgreSQL ---------------------------------------------------------------------


def pg_cluster() -> tuple[str, str] | None:
    """(version, cluster) the suite may restart, or None without pg_ctlcluster."""
    if shutil.which("pg_ctlcluster") is None:
        return None
    named = os.environ.get("CROWDFUND_FAULTS_PG_CLUSTER")
    if named:
        version, _, name = named.partition("/")
        return version, name or "main"
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return None
    return versions[-1], "main"


def postgres_ready(url: str = POSTGRES_URL, timeout: float = 2.0) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def wait_for_postgres(url: str = POSTGRES_URL, timeout: float = PG_READY_TIMEOUT) -> float:
    """Seconds it took until PostgreSQL answered a query; raises after `timeout`."""
    began = time.monotonic()
    while not postgres_ready(url):
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"PostgreSQL at {url} not ready within {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - began


def pg_ctl(action: str, cluster: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    version, name = cluster
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
        capture_output=True, text=True, timeout=120, check=False,
    )


def ensure_postgres_running(cluster: tuple[str, str] | None, url: str = POSTGRES_URL) -> None:
    """Start the cluster if it does not answer (idempotent); wait until it does."""
    if postgres_ready(url):
        return
    if cluster is not None:
        pg_ctl("start", cluster)
    wait_for_postgres(url)


class Schema:
    """A fresh schema on the server, dropped by `drop()`."""

    def __init__(self, prefix: str = "f", server: str = POSTGRES_URL) -> None:
        self.server = server
        self.name = f"{prefix}_{uuid.uuid4().hex}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')  # type: ignore[call-overload]
        self.url = f"{server}?schema={self.name}"

    def drop(self) -> None:
        with contextlib.suppress(psycopg.Error):
            ensure_postgres_running(pg_cluster(), self.server)
            with psycopg.connect(self.server, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')  # type: ignore[call-overload]


# --- processes ----------------------------------------------------------------------


@dataclass
class Component:
    """One `crowdfund` process that can be SIGKILLed and started again."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Exits nobody asked for: (exit code, when).
    crashes: list[tuple[int, float]] = field(default_factory=list)

    def start(self) -> None:
        assert not self.alive, f"{self.name} already runs"
        self.starts += 1
        with open(self.log_path, "ab") as out:
            out.write(f"=== start #{self.starts} at {time.time():.3f} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [CROWDFUND, *self.args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=self.env, cwd=ROOT,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait; SIGKILL after `timeout`. The exit code (None: it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            return None

    def check_crash(self) -> bool:
        """True (and recorded) when the process exited without being told to."""
        if self.proc is not None and self.proc.poll() is not None:
            self.crashes.append((self.proc.returncode, time.time()))
            self.proc = None
            return True
        return False

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, size: int = 4000) -> str:
        return self.log_text()[-size:]


class Platform:
    """api + relay + two projection workers + scheduler on PostgreSQL and an embedded broker."""

    def __init__(self, run_dir: Path, schema: Schema, broker: EmbeddedBroker) -> None:
        self.run_dir = run_dir
        self.schema = schema
        self.broker = broker
        self.secret_key = secrets.token_urlsafe(48)
        self.cipher_key = AESCipher.create_key(num_bytes=32)
        self.topic = f"faults-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.cluster = pg_cluster()
        self.settings = Settings(
            data_dir=run_dir / "data", database_url=schema.url,
            kafka_bootstrap=broker.bootstrap, topic=self.topic, topic_partitions=PARTITIONS,
            secret_key=self.secret_key, cipher_key=self.cipher_key,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDFUND_")}
        env.update({
            "CROWDFUND_DATABASE_URL": schema.url,
            "CROWDFUND_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CROWDFUND_TOPIC": self.topic,
            "CROWDFUND_TOPIC_PARTITIONS": str(PARTITIONS),
            "CROWDFUND_SECRET_KEY": self.secret_key,
            "CROWDFUND_CIPHER_KEY": self.cipher_key,
            "CROWDFUND_DATA_DIR": str(run_dir / "data"),
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env
        self.mail = MailSink(run_dir / "mail").start()
        api_env = {**env, "CROWDFUND_ADMIN_EMAIL": ADMIN_EMAIL,
                   "CROWDFUND_ADMIN_PASSWORD": ADMIN_PASSWORD}
        self.components: dict[str, Component] = {
            "api": Component("api", ["api", "--port", str(self.port)], api_env,
                             run_dir / "api.log"),
            "relay": Component("relay", ["worker", "relay"], env, run_dir / "relay.log"),
            "projections-1": Component("projections-1", ["worker", "projections"], env,
                                       run_dir / "projections-1.log"),
            "projections-2": Component("projections-2", ["worker", "projections"], env,
                                       run_dir / "projections-2.log"),
            "scheduler": Component("scheduler", ["worker", "scheduler", "--interval", "0.5"], env,
                                   run_dir / "scheduler.log"),
            "monitor": Component("monitor", ["worker", "monitor"], env, run_dir / "monitor.log"),
            # Notices, mailed to an SMTP sink of this test process (run_dir/mail).
            "notifier": Component("notifier", ["worker", "notifier"],
                                  {**env, "CROWDFUND_SMTP_URL": self.mail.url},
                                  run_dir / "notifier.log"),
        }
        self.broker_restarts = 0
        self.postgres_restarts: list[float] = []  # seconds each restart took

    # --- life cycle ----------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: Path, *, prepare: bool = True) -> Platform:
        """A schema and a broker. `prepare` creates the event store's and the read
        models' tables first, as a deployment step would: processes started together on
        an empty database race to create them (tests/faults/test_first_start.py)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        ensure_postgres_running(pg_cluster())
        schema = Schema()
        broker = EmbeddedBroker(log_path=run_dir / "broker.log", start_timeout=30)
        try:
            broker.start()
        except BaseException:
            schema.drop()
            raise
        platform = cls(run_dir, schema, broker)
        if prepare:
            try:
                platform.open_app().close()
                ReadModels(platform.read_model_url, topic=platform.topic).close()
            except BaseException:
                platform.close()
                raise
        return platform

    def open_app(self) -> Crowdfund:
        """A fresh application on the event store (its own cache: what a new process sees)."""
        return open_application(self.settings, SystemClock(), dev=False)

    @property
    def read_model_url(self) -> str:
        return read_model_url(self.settings)

    def start(self, names: tuple[str, ...] = COMPONENTS) -> None:
        """Start the components one after the other, each once it is up: processes that
        open the event store at the same moment can kill each other (see
        tests/faults/test_first_start.py), and this suite is about other faults."""
        for number, name in enumerate(names):
            component = self.components[name]
            component.start()
            if name == "api":
                self.wait_for_api()
            elif number < len(names) - 1:
                self.wait_for_line(name, READY[name.split("-")[0]])

    def wait_for_line(self, name: str, line: str, timeout: float = 60.0) -> None:
        """Until the component's current run has logged `line`."""
        component = self.components[name]
        deadline = time.monotonic() + timeout
        while True:
            current = component.log_text().rsplit("=== start #", 1)[-1]
            if line in current:
                return
            if not component.alive:
                raise RuntimeError(f"{name} exited while starting:\n{component.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not log {line!r} within {timeout:.0f}s:\n"
                                   f"{component.log_tail()}")
            time.sleep(0.05)

    def wait_for_api(self, timeout: float = API_START_TIMEOUT) -> None:
        api = self.components["api"]
        deadline = time.monotonic() + timeout
        while True:
            if not api.alive:
                raise RuntimeError(f"crowdfund api exited:\n{api.log_tail()}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"crowdfund api not up within {timeout:.0f}s:\n"
                                   f"{api.log_tail()}")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        self.components[name].kill()

    def restart(self, name: str) -> None:
        component = self.components[name]
        component.kill()
        component.start()

    def check_crashes(self) -> list[str]:
        """Restart every component that exited by itself; the names of those that did."""
        crashed = []
        for component in self.components.values():
            if component.check_crash():
                crashed.append(component.name)
                component.start()
        return crashed

    def restart_broker(self) -> None:
        """Stop the broker and start it again on the same port: it comes back empty."""
        self.broker.restart()
        self.broker_restarts += 1

    def stop_broker(self) -> None:
        self.broker.stop()

    def start_broker(self) -> None:
        self.broker.start(self.broker.port)

    def restart_postgres(self) -> float:
        """`pg_ctlcluster ... restart` and wait until it answers; the seconds it took."""
        if self.cluster is None:
            raise RuntimeError("pg_ctlcluster is not available")
        began = time.monotonic()
        try:
            done = pg_ctl("restart", self.cluster)
            if done.returncode != 0:
                raise RuntimeError(f"pg_ctlcluster restart failed: {done.stderr.strip()}")
        finally:
            ensure_postgres_running(self.cluster, self.schema.server)
        took = time.monotonic() - began
        self.postgres_restarts.append(took)
        return took

    def stop(self, timeout: float = STOP_TIMEOUT) -> dict[str, int | None]:
        """SIGTERM every component (the API first, as a load balancer drains it); exit codes."""
        return {name: c.terminate(timeout) for name, c in self.components.items()}

    def close(self) -> None:
        """Kill whatever still runs, stop the broker, drop the schema. Never raises."""
        for component in self.components.values():
            with contextlib.suppress(Exception):
                component.kill()
        with contextlib.suppress(Exception):
            self.broker.stop()
        with contextlib.suppress(Exception):
            self.mail.stop()
        with contextlib.suppress(Exception):
            ensure_postgres_running(self.cluster, self.schema.server)
        if not os.environ.get("CROWDFUND_FAULTS_KEEP"):
            self.schema.drop()

    def logs(self) -> dict[str, str]:
        """Every log line each component (and the broker) ever wrote."""
        found = {name: c.log_text() for name, c in self.components.items()}
        with contextlib.suppress(OSError):
            found["broker"] = (self.run_dir / "broker.log").read_text(errors="replace")
        return found

    def wait_caught_up(self, position: int | None = None, timeout: float = 60.0) -> bool:
        """Poll `caughtUp` (which waits at most 10 s per request) until the read models
        have applied `position` (default: the event store's head now)."""
        if position is None:
            app = self.open_app()
            try:
                position = app.head_position()
            finally:
                app.close()
        deadline = time.monotonic() + timeout
        while True:
            body = self.graphql("query($p: Long!) { caughtUp(position: $p, timeoutMs: 5000) }",
                                {"p": position})
            if body.get("data", {}).get("caughtUp") is True:
                return True
            if time.monotonic() > deadline:
                return False

    def graphql(self, query: str, variables: dict[str, Any] | None = None,
                token: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        """POST /graphql; the whole body (the HTTP status must be 200)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(f"{self.base_url}/graphql", json={
            "query": query, "variables": variables or {}}, headers=headers, timeout=timeout)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        body: dict[str, Any] = response.json()
        return body

    def health(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.base_url}/healthz", timeout=5)
        return response.status_code, response.json()


@contextlib.contextmanager
def running_platform(run_dir: Path, names: tuple[str, ...] = COMPONENTS) -> Iterator[Platform]:
    """A started platform, torn down (and PostgreSQL made sure to run) whatever happens."""
    platform = Platform.create(run_dir)
    try:
        platform.start(names)
        yield platform
    finally:
        platform.close()


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("CROWDFUND_")}
