"""Running the platform: `crowdfund dev` (everything in one process) and
`crowdfund api` (the API and web page alone, for production).

`dev` runs one asyncio loop: uvicorn serves the API, and the relay, the
projection worker and the scheduler are tasks beside it (their blocking calls go
to threads). The embedded broker is a child process. SIGINT/SIGTERM stop the
server gracefully (in-flight requests finish), then the tasks, then the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn
from eventsourcing.persistence import PersistenceError

from crowdfund.composition import build_application, cipher_key, read_model_url
from crowdfund.settings import Settings
from domain.application import Crowdfund
from domain.clock import Clock, SettableClock, SystemClock
from domain.pledge_desk import PledgeDesk

if TYPE_CHECKING:
    from api.services import Services
    from workers.broker import EmbeddedBroker

log = logging.getLogger("crowdfund")

GRACEFUL_SECONDS = 10.0
TASK_STOP_SECONDS = 10.0
BROKER_LOG = "broker.log"


class ConfigurationError(Exception):
    """The settings cannot work; the CLI prints the message and exits 2."""


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    broker_port: int | None = None
    test_clock: bool = False
    demo: bool = True


# --- building blocks shared by every entry point ----------------------------------------


def open_application(settings: Settings, clock: Clock | None = None, *, dev: bool) -> Crowdfund:
    """The event store application.

    Outside `dev` a data dir that `dev` wrote still holds the key its personal
    data was encrypted with, so `api`, the workers, `audit` and `projections
    rebuild` use that key when CROWDFUND_CIPHER_KEY is not set.
    """
    try:
        return build_application(settings, clock, dev=dev or has_dev_cipher_key(settings))
    except (PersistenceError, OSError) as exc:
        raise ConfigurationError(
            f"cannot open the event store at {redacted(settings.resolved_database_url)}: "
            f"{str(exc).strip() or type(exc).__name__}"
        ) from None


def redacted(url: str) -> str:
    """A database URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def has_dev_cipher_key(settings: Settings) -> bool:
    return (settings.data_dir / ".cipher_key").exists()


def uses_personal_data_encryption(settings: Settings, *, dev: bool) -> bool:
    return cipher_key(settings, dev=dev or has_dev_cipher_key(settings)) is not None


def secret_key(settings: Settings, *, dev: bool) -> str:
    """The token signing key: CROWDFUND_SECRET_KEY, or (dev only) one kept in the data dir."""
    if settings.secret_key:
        key = settings.secret_key
    elif dev:
        key = settings.dev_secret("secret_key")
    else:
        raise ConfigurationError(
            "CROWDFUND_SECRET_KEY is not set. Outside `crowdfund dev` the platform refuses to "
            "start without a secret to sign bearer tokens; set it to at least 32 random bytes, "
            "e.g. CROWDFUND_SECRET_KEY=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    if len(key.encode()) < 32:
        raise ConfigurationError("CROWDFUND_SECRET_KEY must be at least 32 bytes long.")
    return key


def bootstrap_admin(app: Crowdfund, settings: Settings) -> str | None:
    """Create (or promote) the admin named by CROWDFUND_ADMIN_EMAIL/PASSWORD; their e-mail."""
    from api.security import hash_password, normalize_email, validate_email, validate_password

    email, password = settings.admin_email, settings.admin_password
    if not email and not password:
        return None
    if not email or not password:
        log.warning("set both CROWDFUND_ADMIN_EMAIL and CROWDFUND_ADMIN_PASSWORD for an admin")
        return None
    email = normalize_email(email)
    for problem in (validate_email(email), validate_password(password, email)):
        if problem:
            # The operator chose it; say so rather than refuse to start.
            log.warning("admin account: %s", problem)
    # An existing account keeps its password; it is only made an admin if it is not.
    app.bootstrap_admin(email, hash_password(password))
    return email


def load_demo(app: Crowdfund, settings: Settings) -> None:
    from api.security import hash_password
    from crowdfund import demo

    password = settings.dev_secret("demo_password")
    loaded = demo.load_demo(app, hash_password(password))
    if loaded is not None:
        # No e-mail addresses in logs, not even the demo's: the README names the accounts.
        log.info("demo loaded: %d live campaigns (demo password in %s)",
                 len(loaded.campaign_ids), settings.data_dir / ".demo_password")


def build_services(
    settings: Settings, app: Crowdfund, clock: Clock, *, dev: bool,
    test_clock: SettableClock | None = None, broker: str | None = None,
    broker_check: Callable[[], bool] | None = None, extras: dict[str, Any] | None = None,
) -> Services:
    from api.security import SignInThrottle, TokenSigner
    from api.services import Services
    from projections.queries import ReadModels

    # Tokens expire in real time, not business time: moving the test clock a
    # month ahead must not sign everybody out.
    tokens = TokenSigner(secret_key(settings, dev=dev), settings.token_ttl_seconds,
                         SystemClock().now)
    return Services(
        app=app,
        read_models=ReadModels(read_model_url(settings), topic=settings.topic),
        settings=settings,
        clock=clock,
        tokens=tokens,
        throttle=SignInThrottle(),
        test_clock=test_clock,
        broker=broker,
        dev=dev,
        broker_check=broker_check,
        extras=extras or {},
        desk=PledgeDesk(app),
    )


# --- the HTTP server ------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: we install ours on the loop and
    stop the workers after the server, and uvicorn must not re-raise the signal
    afterwards (that would kill the process instead of exiting 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def require_free_port(host: str, port: int) -> None:
    """Fail fast, with a sentence, when the HTTP port is taken."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port"
            ) from None


def http_server(asgi_app: Any, host: str, port: int) -> _Server:
    config = uvicorn.Config(
        asgi_app, host=host, port=port, lifespan="on", log_config=None, access_log=False,
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS), proxy_headers=True,
        server_header=False,
    )
    return _Server(config)


def _install_signal_handlers(server: _Server) -> None:
    """First SIGINT/SIGTERM: graceful shutdown; a second SIGINT: stop waiting."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if server.should_exit and sig == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True
        log.info("%s received: shutting down", sig.name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def _serve_until_stopped(
    server: _Server, workers: list[asyncio.Task[None]], on_ready: Callable[[], None]
) -> int:
    """Serve until a signal (exit 0), or until the server or a worker fails (exit 1)."""
    serving = asyncio.create_task(_serve(server), name="http")
    while not server.started:
        if any(t.done() for t in (serving, *workers)):
            break
        await asyncio.sleep(0.02)
    else:
        on_ready()
    pending: list[asyncio.Task[Any]] = [serving, *workers]
    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if serving not in done:  # a worker ended while the server was up: a failure
        for task in done:
            _report_failure(task)
        code = 1
        server.should_exit = True
    exit_code = await serving
    return max(code, exit_code)


async def _serve(server: _Server) -> int:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind or the lifespan fails
        log.error("the HTTP server could not start (exit %s)", exc.code)
        return 1
    return 0 if server.started else 1


def _report_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        log.error("%s was cancelled", task.get_name())
    elif task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
    else:
        log.error("%s stopped unexpectedly", task.get_name())


async def _stop_tasks(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=TASK_STOP_SECONDS)
    for task in late:
        log.warning("%s did not stop within %.0fs; cancelling it", task.get_name(),
                    TASK_STOP_SECONDS)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- crowdfund dev -------------------------------------------------------------------------------


def tune_gc() -> None:
    """Fewer young-generation collections: the default thresholds cost the pledge
    writer 15-20% of its CPU (bench/README.md), and our objects are short-lived."""
    gc.set_threshold(20000, 50, 100)


def run_dev(settings: Settings, options: DevOptions) -> int:
    tune_gc()
    return asyncio.run(_dev(settings, options))


async def _dev(settings: Settings, options: DevOptions) -> int:
    began = time.monotonic()
    require_free_port(options.host, options.port)  # before the store and broker start
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    test_clock = SettableClock() if options.test_clock else None
    clock: Clock = test_clock or SystemClock()
    app = await asyncio.to_thread(open_application, settings, clock, dev=True)
    secret_key(settings, dev=True)  # fail before starting anything
    await asyncio.to_thread(bootstrap_admin, app, settings)
    if options.demo:
        await asyncio.to_thread(load_demo, app, settings)

    broker, bootstrap = await _start_broker(settings, options.broker_port)
    try:
        return await _run_platform(settings, options, app, clock, test_clock, broker, bootstrap,
                                   began)
    finally:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        app.close()


async def _start_broker(
    settings: Settings, port: int | None
) -> tuple[EmbeddedBroker | None, str]:
    from workers.broker import EmbeddedBroker, ensure_topic

    broker: EmbeddedBroker | None = None
    if settings.kafka_bootstrap:
        bootstrap = settings.kafka_bootstrap
    else:
        broker = EmbeddedBroker(log_path=settings.data_dir / BROKER_LOG)
        bootstrap = await broker.start_async(port)
    try:
        await ensure_topic(bootstrap, settings.topic, settings.topic_partitions)
    except BaseException:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        raise
    return broker, bootstrap


async def _run_platform(
    settings: Settings, options: DevOptions, app: Crowdfund, clock: Clock,
    test_clock: SettableClock | None, broker: EmbeddedBroker | None, bootstrap: str,
    began: float,
) -> int:
    from api.app import create_app
    from workers.projections import run_projections
    from workers.relay import run_relay
    from workers.scheduler import run_scheduler

    stop = asyncio.Event()
    wake = asyncio.Event()
    services = build_services(
        settings, app, clock, dev=True, test_clock=test_clock, broker=bootstrap,
        broker_check=(lambda: broker.running) if broker is not None else None,
        extras={"scheduler_wake": wake},
    )
    server = http_server(create_app(services), options.host, options.port)
    _install_signal_handlers(server)
    workers = [
        _task(run_relay(settings, app, bootstrap, stop), "relay"),
        _task(run_projections(settings, app, bootstrap, stop), "projections"),
        _task(run_scheduler(app, stop, wake=wake), "scheduler"),
    ]

    def ready() -> None:
        url = f"http://{_url_host(options.host)}:{options.port}/"
        where = settings.data_dir.resolve()
        kind = "embedded broker" if broker is not None else "Kafka"
        print(
            f"crowdfund dev ready at {url} (data dir {where}, {kind} {bootstrap}, "
            f"started in {time.monotonic() - began:.1f}s; Ctrl-C stops)",
            flush=True,
        )

    try:
        code = await _serve_until_stopped(server, workers, ready)
    finally:
        await _stop_tasks(stop, workers)
        with contextlib.suppress(Exception):
            services.read_models.close()
    log.info("crowdfund dev stopped")
    return code


def _task(coro: Awaitable[None], name: str) -> asyncio.Task[None]:
    async def run() -> None:
        await coro

    return asyncio.create_task(run(), name=name)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


# --- crowdfund api -------------------------------------------------------------------------------


def run_api(settings: Settings, host: str, port: int) -> int:
    """The API and the web page alone; the workers run as their own processes."""
    secret_key(settings, dev=False)
    require_free_port(host, port)
    if not uses_personal_data_encryption(settings, dev=False):
        log.warning("CROWDFUND_CIPHER_KEY is not set: personal data is stored unencrypted")
    tune_gc()
    return asyncio.run(_api(settings, host, port))


async def _api(settings: Settings, host: str, port: int) -> int:
    from api.app import create_app
    from workers.broker import kafka_reachable

    clock = SystemClock()
    app = await asyncio.to_thread(open_application, settings, clock, dev=False)
    try:
        await asyncio.to_thread(bootstrap_admin, app, settings)
        bootstrap = settings.kafka_bootstrap
        services = build_services(
            settings, app, clock, dev=False, broker=bootstrap,
            broker_check=(lambda: kafka_reachable(bootstrap)) if bootstrap else None,
        )
        server = http_server(create_app(services), host, port)
        _install_signal_handlers(server)

        def ready() -> None:
            print(f"crowdfund api ready at http://{_url_host(host)}:{port}/", flush=True)

        try:
            return await _serve_until_stopped(server, [], ready)
        finally:
            services.read_models.close()
    finally:
        app.close()


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Kafka client logs every reconnection at INFO; keep the dev console readable.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

