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
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from adapters.kafka import ensure_topic, kafka_reachable
from api.app import create_app
from application.clock import SettableClock, SystemClock
from application.crowdfund import Crowdfund
from crowdfund import bootstrap
from crowdfund.bootstrap import ApiOptions, ConfigurationError
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.mail_sink import MailSink, inbox_routes
from crowdfund.settings import Settings
from domain.clock import Clock
from projections import consumers
from workers.log_heads import run_log_heads
from workers.monitor import run_monitor
from workers.notifier import run_notifier
from workers.projections import run_projections
from workers.relay import run_relay
from workers.running import KafkaTopic
from workers.scheduler import run_scheduler

log = logging.getLogger("crowdfund")

MONITOR = "monitor"  # `crowdfund worker monitor`: the AML transaction monitor
GRACEFUL_SECONDS = 10.0
TASK_STOP_SECONDS = 10.0
BROKER_LOG = "broker.log"


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    broker_port: int | None = None
    test_clock: bool = False
    demo: bool = True


# --- the HTTP server ------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: we install ours on the loop and
    stop the workers after the server, and uvicorn must not re-raise the signal
    afterwards (that would kill the process instead of exiting 0)."""

    # A listening socket made by the caller (`crowdfund api --workers N`); None: bind.
    sockets_to_serve: list[socket.socket] | None = None

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


def http_server(asgi_app: Any, host: str, port: int, forwarded_allow_ips: str = "") -> _Server:
    """uvicorn believes X-Forwarded-For/-Proto only from `forwarded_allow_ips`
    (CROWDFUND_FORWARDED_ALLOW_IPS, the load balancers); by default from nobody, so
    a client cannot pick the address the sign-in back-off counts against."""
    trusted = forwarded_allow_ips.strip()
    config = uvicorn.Config(
        asgi_app, host=host, port=port, lifespan="on", log_config=None, access_log=False,
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS), proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None, server_header=False,
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
        await server.serve(sockets=server.sockets_to_serve)
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
    return _run_on_uvloop(_dev(settings, options))


async def _dev(settings: Settings, options: DevOptions) -> int:
    began = time.monotonic()
    require_free_port(options.host, options.port)  # before the store and broker start
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    test_clock = SettableClock() if options.test_clock else None
    clock: Clock = test_clock or SystemClock()
    app = await asyncio.to_thread(bootstrap.open_application, settings, clock, dev=True)
    bootstrap.secret_key(settings, dev=True)  # fail before starting anything
    await asyncio.to_thread(bootstrap.bootstrap_admin, app, settings)
    if options.demo:
        await asyncio.to_thread(bootstrap.load_demo, app, settings)

    broker, kafka = await _start_broker(settings, options.broker_port)
    # Without an SMTP server, notices are mailed to files (DIR/mail, /dev/mail).
    sink = None if settings.smtp_url else MailSink(settings.data_dir / "mail").start()
    try:
        return await _run_platform(settings, options, app, clock, test_clock, broker, kafka,
                                   began, sink)
    finally:
        if sink is not None:
            await asyncio.to_thread(sink.stop)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        app.close()


async def _start_broker(
    settings: Settings, port: int | None
) -> tuple[EmbeddedBroker | None, str]:
    """CROWDFUND_KAFKA_BOOTSTRAP if set, else an embedded broker; the topic made ready."""
    broker: EmbeddedBroker | None = None
    if settings.kafka_bootstrap:
        kafka = settings.kafka_bootstrap
    else:
        broker = EmbeddedBroker(log_path=settings.data_dir / BROKER_LOG)
        kafka = await broker.start_async(port)
    try:
        await ensure_topic(kafka, settings.topic, settings.topic_partitions)
        await ensure_topic(kafka, settings.log_heads_topic, 1)
    except BaseException:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        raise
    return broker, kafka


def pipeline_tasks(
    settings: Settings, app: Crowdfund, kafka: str, stop: asyncio.Event,
    wake: asyncio.Event | None = None, *, smtp_url: str | None = None,
) -> list[asyncio.Task[None]]:
    """The workers `crowdfund dev` runs beside the API, as tasks of this loop."""
    topic = bootstrap.kafka_topic(settings, kafka)
    url = bootstrap.read_model_url(settings)
    log_ = bootstrap.event_log(app)
    mail = bootstrap.mail_sender(settings, app, smtp_url)
    return [
        _task(run_relay(url, log_, topic, stop), "relay"),
        *(_task(run_projections(url, log_, topic, stop, consumer=consumer), consumer.name)
          for consumer in consumers.CONSUMERS),
        _task(_monitor(settings, app, url, log_, topic, stop), "monitor"),
        _task(run_scheduler(app, stop, wake=wake), "scheduler"),
        _task(_log_heads(settings, app, kafka, stop, dev=True), "log-heads"),
        *([_task(mail.run(stop), "mail")] if mail is not None else []),
    ]


async def _log_heads(
    settings: Settings, app: Crowdfund, kafka: str | None, stop: asyncio.Event, *, dev: bool
) -> None:
    signer = bootstrap.log_signer(settings, dev=dev)
    store = await asyncio.to_thread(bootstrap.log_tree, settings, writer=True)
    try:
        await run_log_heads(app, store, signer, kafka, settings.log_heads_topic, stop,
                            interval=settings.log_heads_interval)
    finally:
        store.close()
def _monitor(
    settings: Settings, app: Crowdfund, url: str, log_: Any, topic: KafkaTopic,
    stop: asyncio.Event, group: str | None = None,
) -> Coroutine[Any, Any, None]:
    """The AML monitor: its consumer reads investors through `app`, and raises alerts."""
    return run_monitor(url, log_, topic, stop, consumer=bootstrap.aml_monitor(settings, app),
                       raise_alert=app.aml.raise_alert, group=group)


async def _run_platform(
    settings: Settings, options: DevOptions, app: Crowdfund, clock: Clock,
    test_clock: SettableClock | None, broker: EmbeddedBroker | None, kafka: str,
    began: float, sink: MailSink | None = None,
) -> int:
    stop = asyncio.Event()
    wake = asyncio.Event()
    services = bootstrap.build_services(
        settings, app, clock,
        ApiOptions(dev=True, test_clock=test_clock, broker=kafka,
                   broker_check=(lambda: broker.running) if broker is not None else None,
                   smtp_url=sink.url if sink is not None else None,
                   public_url=f"http://{_url_host(options.host)}:{options.port}"),
        extras={"scheduler_wake": wake},
    )
    asgi = create_app(services)
    if sink is not None:
        asgi.router.routes[:0] = inbox_routes(sink.directory)
    server = http_server(asgi, options.host, options.port, settings.forwarded_allow_ips)
    _install_signal_handlers(server)
    workers = pipeline_tasks(settings, app, kafka, stop, wake,
                             smtp_url=sink.url if sink is not None else settings.smtp_url)

    def ready() -> None:
        url = f"http://{_url_host(options.host)}:{options.port}/"
        where = settings.data_dir.resolve()
        kind = "embedded broker" if broker is not None else "Kafka"
        print(
            f"crowdfund dev ready at {url} (data dir {where}, {kind} {kafka}, "
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


def run_api(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    """The API and the web page alone; the workers run as their own processes.

    With `workers` > 1, that many processes serve the same port (SO_REUSEPORT: the
    kernel spreads connections between them). Each has its own pledge desk and
    group-commits its own pledges; the store's version check on save keeps any two of
    them from both deciding on the same campaign state (the loser decides again from
    the store), so no process can oversell."""
    bootstrap.secret_key(settings, dev=False)
    require_free_port(host, port)
    if bootstrap.cipher_key(settings, dev=False) is None:
        log.warning("CROWDFUND_CIPHER_KEY is not set: personal data is stored unencrypted")
    if workers > 1:
        return _run_api_processes(settings, host, port, workers)
    tune_gc()
    return _run_on_uvloop(_api(settings, host, port))


def _run_on_uvloop(main: Coroutine[Any, Any, int]) -> int:
    """uvicorn's own runner would pick uvloop; we run the server ourselves, so we do."""
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; without it, asyncio's loop
        return asyncio.run(main)
    return uvloop.run(main)


async def _api(
    settings: Settings, host: str, port: int, *, sock: socket.socket | None = None,
    admin: bool = True, on_ready: Callable[[], None] | None = None,
) -> int:
    clock = SystemClock()
    app = await asyncio.to_thread(bootstrap.open_application, settings, clock)
    try:
        if admin:
            await asyncio.to_thread(bootstrap.bootstrap_admin, app, settings)
        kafka = settings.kafka_bootstrap
        services = bootstrap.build_services(
            settings, app, clock,
            ApiOptions(broker=kafka,
                       broker_check=(lambda: kafka_reachable(kafka)) if kafka else None),
        )
        server = http_server(create_app(services), host, port, settings.forwarded_allow_ips)
        if sock is not None:
            server.sockets_to_serve = [sock]
        _install_signal_handlers(server)

        def ready() -> None:
            if on_ready is not None:
                on_ready()
            else:
                print(f"crowdfund api ready at http://{_url_host(host)}:{port}/", flush=True)

        try:
            return await _serve_until_stopped(server, [], ready)
        finally:
            services.read_models.close()
    finally:
        app.close()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes may bind too (SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _api_process(settings: Settings, host: str, port: int, ready: Any) -> None:
    """One of `crowdfund api --workers N`'s processes (spawned: a fresh interpreter)."""
    configure_logging()
    tune_gc()
    sock = reuse_port_socket(host, port)
    code = _run_on_uvloop(_api(settings, host, port, sock=sock, admin=False,
                               on_ready=ready.set))
    sys.exit(code)


def _run_api_processes(settings: Settings, host: str, port: int, workers: int) -> int:
    """`workers` API processes on one port; SIGINT/SIGTERM are passed on to them.

    The parent prepares the store and the admin first, and starts the processes
    one after another (each once the one before is serving): processes that open a
    fresh store at the same moment race creating its tables."""
    import multiprocessing

    app = bootstrap.open_application(settings, SystemClock())
    try:
        bootstrap.bootstrap_admin(app, settings)
    finally:
        app.close()
    context = multiprocessing.get_context("spawn")
    children: list[Any] = []
    stopping = False

    def on_signal(sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    for index in range(workers):
        ready = context.Event()
        child = context.Process(target=_api_process, args=(settings, host, port, ready),
                                name=f"crowdfund-api-{index}")
        child.start()
        children.append(child)
        while not ready.wait(0.1):
            if stopping or not child.is_alive():
                break
        if stopping or not child.is_alive():
            break
    else:
        print(f"crowdfund api ready at http://{_url_host(host)}:{port}/ "
              f"({workers} processes)", flush=True)
    # Serve until a signal, or until any process ends (then stop the others: exit 1).
    while all(child.is_alive() for child in children) and not stopping:
        time.sleep(0.2)
    signalled = stopping
    if not stopping:
        on_signal(signal.SIGTERM, None)
    # A process still starting when the signal came ends by it: a clean stop too.
    clean = {0, -signal.SIGTERM, -signal.SIGINT} if signalled else {0}
    code = 0 if signalled else 1
    for child in children:
        child.join(GRACEFUL_SECONDS + TASK_STOP_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()
        if child.exitcode not in clean:
            code = 1
    return code


# --- crowdfund worker ---------------------------------------------------------------------------


def run_worker(
    settings: Settings, kind: str, *, interval: float = 1.0, group: str | None = None
) -> int:
    """One long-running worker (`crowdfund worker KIND`) until SIGINT/SIGTERM, then exit 0."""
    bootstrap.secret_key(settings, dev=False)  # runtime.md: workers refuse to start without it
    if kind == "log-heads":
        bootstrap.log_signer(settings, dev=False)  # refuse to start without its key
    kafka = None if kind == "scheduler" else bootstrap.require_kafka(settings)
    app = bootstrap.open_application(settings, SystemClock())
    try:
        return asyncio.run(_until_signalled(
            lambda stop: _worker(settings, app, kind, kafka, stop, interval, group)
        ))
    finally:
        app.close()


def _worker(
    settings: Settings, app: Crowdfund, kind: str, kafka: str | None, stop: asyncio.Event,
    interval: float, group: str | None,
) -> Coroutine[Any, Any, None]:
    if kind == "scheduler":
        return run_scheduler(app, stop, interval)
    assert kafka is not None
    if kind == "log-heads":
        return _log_heads(settings, app, kafka, stop, dev=False)
    topic: KafkaTopic = bootstrap.kafka_topic(settings, kafka)
    url, log_ = bootstrap.read_model_url(settings), bootstrap.event_log(app)
    if kind == "relay":
        return run_relay(url, log_, topic, stop)
    if kind == MONITOR:
        return _monitor(settings, app, url, log_, topic, stop, group)
    if kind == consumers.NOTIFIER.name:
        mail = bootstrap.mail_sender(settings, app, settings.smtp_url)
        return run_notifier(url, log_, topic, stop, mail=mail, group=group)
    if kind in consumers.BY_NAME:
        return run_projections(url, log_, topic, stop, consumer=consumers.BY_NAME[kind],
                               group=group)
    raise ConfigurationError(f"no worker {kind!r}")


async def _until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run until the first SIGINT/SIGTERM sets `stop`; the worker then drains and returns."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    began = time.monotonic()
    await run(stop)
    log.info("stopped after %.0fs", time.monotonic() - began)
    return 0


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Kafka client logs every reconnection at INFO; keep the dev console readable.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

