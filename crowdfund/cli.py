"""The `crowdfund` command line (runtime.md): dev, api, worker, schema,
projections rebuild, audit verify / replay / head, keys rotate / retire / list, kafka
ensure-topic. The platform's
only command line: each command builds what it needs through `crowdfund.bootstrap`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError as SettingsError

from adapters.kafka import BrokerUnavailable, TopicError, ensure_topic
from adapters.signing import verify_signature
from api.schema import sdl
from application import audit, head_check, transparency
from application.crowdfund import Crowdfund
from crowdfund import bootstrap, keys, runtime
from crowdfund.bootstrap import ConfigurationError
from crowdfund.settings import Settings
from domain.errors import DomainError, NotFoundError
from projections import consumers
from projections.rebuild import rebuild_read_models

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

Command = Callable[[argparse.Namespace, Settings], int]


class UsageError(Exception):
    """Bad input or configuration: printed as `error: ...`, exit code 2."""


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="where the embedded defaults keep their files (default: .crowdfund/)",
    )
    parser = argparse.ArgumentParser(
        prog="crowdfund", description="An event-sourced equity crowdfunding platform."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev", parents=[common], help="the whole platform in one process (embedded defaults)"
    )
    dev.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    dev.add_argument("--broker-port", type=int, default=None, metavar="B",
                     help="embedded broker port (default: a free port)")
    dev.add_argument("--test-clock", action="store_true",
                     help="make the clock settable through the setClock mutation (admins)")
    dev.add_argument("--no-demo", action="store_true", help="do not load the demo campaigns")
    dev.set_defaults(run=_dev)

    api = commands.add_parser(
        "api", parents=[common], help="the GraphQL API and the web page alone (production)"
    )
    api.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    api.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="API processes sharing the port (SO_REUSEPORT; default 1); their pledge "
        "writers race on a hot campaign (docs/production.md)",
    )
    api.set_defaults(run=_api)

    worker = commands.add_parser("worker", parents=[common], help="one long-running worker")
    worker.add_argument("kind", choices=["relay", "scheduler", *consumers.BY_NAME,
                                         runtime.MONITOR, "log-heads"])
    worker.add_argument("--interval", type=float, default=1.0,
                        help="scheduler: seconds between passes (default 1); log-heads: see "
                        "CROWDFUND_LOG_HEADS_INTERVAL")
    worker.add_argument("--group", default=None,
                        help="projections (and other consumers): the Kafka consumer "
                        "group (default: the consumer's, e.g. crowdfund-projections)")
    worker.set_defaults(run=_worker)

    schema = commands.add_parser("schema", parents=[common], help="print the GraphQL SDL")
    schema.set_defaults(run=_schema)

    projections = commands.add_parser("projections", help="read-model maintenance")
    projection_commands = projections.add_subparsers(dest="action", required=True,
                                                     metavar="ACTION")
    rebuild = projection_commands.add_parser(
        "rebuild", parents=[common], help="drop and rebuild read models from the event store"
    )
    rebuild.add_argument("name", nargs="?", default=None, help="one read model (default: all)")
    rebuild.set_defaults(run=_rebuild)

    audit = commands.add_parser("audit", help="check and read the event store")
    audit_commands = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", parents=[common],
        help="recompute every stream's hash chain (and, with --head, the log's Merkle tree)",
    )
    verify.add_argument("--head", type=Path, default=None, metavar="FILE",
                        help="a signed tree head saved earlier (`crowdfund audit head`): "
                        "check that the log still holds every event it covered")
    verify.set_defaults(run=_verify)
    head = audit_commands.add_parser(
        "head", parents=[common], help="print the latest signed tree head (JSON)"
    )
    head.set_defaults(run=_head)
    replay = audit_commands.add_parser(
        "replay", parents=[common], help="print a stream's events in order (JSON lines)"
    )
    replay.add_argument("stream_id", metavar="STREAM_ID")
    replay.add_argument("--as-of", type=_instant, default=None, metavar="INSTANT",
                        help="only events that occurred up to this ISO 8601 instant")
    replay.set_defaults(run=_replay)

    keys_parser = commands.add_parser(
        "keys", help="token-signing and cipher keys (docs/security.md)")
    key_commands = keys_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = key_commands.add_parser(
        "rotate", parents=[common],
        help="add a new key to the keyring (CROWDFUND_KEYRING): it signs tokens / encrypts "
        "new data from the next start; older keys keep verifying and decrypting",
    )
    rotate.add_argument("--signing", action="store_true", help="the token-signing key only")
    rotate.add_argument("--cipher", action="store_true", help="the cipher key only")
    rotate.set_defaults(run=_rotate_keys)
    retire = key_commands.add_parser(
        "retire", parents=[common], help="refuse the tokens a signing key signed (by its kid)")
    retire.add_argument("kid", metavar="KID")
    retire.set_defaults(run=_retire_key)
    listing = key_commands.add_parser(
        "list", parents=[common], help="every key's id, state and date (never a secret)")
    listing.set_defaults(run=_list_keys)

    kafka = commands.add_parser("kafka", help="Kafka administration")
    kafka_commands = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    topic = kafka_commands.add_parser(
        "ensure-topic", parents=[common],
        help="create CROWDFUND_TOPIC and the log-heads topic on CROWDFUND_KAFKA_BOOTSTRAP "
        "and wait for their leaders",
    )
    topic.add_argument("--timeout", type=float, default=120.0,
                       help="seconds to wait for Kafka (default 120)")
    topic.set_defaults(run=_ensure_topic)
    return parser


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 instant such as 2027-03-01T12:00:00+00:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone offset, e.g. +00:00 or Z")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args.data_dir)
        command: Command = args.run
        return command(args, settings)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _settings(data_dir: Path | None) -> Settings:
    try:
        settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except SettingsError as exc:
        raise UsageError(f"invalid CROWDFUND_* settings:\n{exc}") from None
    url = settings.resolved_database_url
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        scheme = url.partition(":")[0]
        raise UsageError(
            f"CROWDFUND_DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme}:"
        )
    return settings


# --- commands ---------------------------------------------------------------------------------


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging()
    options = runtime.DevOptions(
        host=args.host, port=args.port, broker_port=args.broker_port,
        test_clock=args.test_clock, demo=not args.no_demo,
    )
    with _configuration_errors():
        return runtime.run_dev(settings, options)


def _api(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging()
    with _configuration_errors():
        if args.workers < 1:
            raise ConfigurationError("--workers must be at least 1")
        return runtime.run_api(settings, args.host, args.port, args.workers)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging()
    with _configuration_errors():
        return runtime.run_worker(settings, args.kind, interval=args.interval, group=args.group)


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(sdl().rstrip("\n") + "\n")
    return EXIT_OK


def _ensure_topic(args: argparse.Namespace, settings: Settings) -> int:
    runtime.configure_logging()
    with _configuration_errors():
        kafka = bootstrap.require_kafka(settings)
        asyncio.run(ensure_topic(kafka, settings.topic, settings.topic_partitions,
                                 timeout=args.timeout))
        asyncio.run(ensure_topic(kafka, settings.log_heads_topic, 1, timeout=args.timeout))
    print(f"topic {settings.topic} ready on {kafka}")
    print(f"topic {settings.log_heads_topic} ready on {kafka}")
    return EXIT_OK


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    with _event_store(settings) as app:
        try:
            report = rebuild_read_models(
                bootstrap.read_model_url(settings), bootstrap.event_log(app), args.name,
                settings.topic_partitions, extra=(bootstrap.aml_monitor(settings, app),),
            )
        except KeyError as exc:  # an unknown read model name
            raise UsageError(str(exc.args[0]) if exc.args else "unknown read model") from None
    print(
        f"rebuilt {', '.join(report.models)} from {report.events} events "
        f"through position {report.through}"
    )
    return EXIT_OK


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    saved = _read_head(args.head) if args.head is not None else None
    with _event_store(settings) as app:
        result = audit.verify_chains(app)
        documents = audit.verify_documents(app, bootstrap.document_store(settings))
        checked = _check_head(app, settings, saved) if saved is not None else None
    for mismatch in documents:
        print(f"FAILED: {mismatch.describe()}")
    if result.ok:
        print(f"ok: {result.checked_events} events verified")
    else:
        print(
            f"FAILED: first bad position {result.first_bad_position} "
            f"({result.checked_events} events checked)"
        )
    if checked is not None:
        if checked.ok:
            print(f"ok: {checked.describe()}")
        else:
            print(f"FAILED: {checked.describe()}")
    good = result.ok and not documents and (checked is None or checked.ok)
    return EXIT_OK if good else EXIT_FAILED


def _read_head(path: Path) -> transparency.TreeHead:
    try:
        return transparency.TreeHead.from_json(json.loads(path.read_text()))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:  # not JSON
        raise UsageError(f"{path} is not JSON: {exc}") from None
    except DomainError as exc:
        raise UsageError(f"{path}: {exc.message}") from None


def _check_head(
    app: Crowdfund, settings: Settings, saved: transparency.TreeHead
) -> head_check.HeadCheck:
    store = bootstrap.log_tree(settings)
    try:
        return head_check.check_head(app, store, saved, verify_signature)
    finally:
        store.close()


def _head(args: argparse.Namespace, settings: Settings) -> int:
    _require_event_store(settings)
    store = bootstrap.log_tree(settings)
    try:
        head = store.latest_head()
    finally:
        store.close()
    if head is None:
        print("no signed tree head yet: is `crowdfund worker log-heads` (or `crowdfund dev`) "
              "running?", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(head.to_json()))
    return EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    with _event_store(settings) as app:
        try:
            export = audit.stream_export(app, args.stream_id, args.as_of)
        except NotFoundError as exc:
            raise UsageError(exc.message) from None
    if export is None:
        print(f"no events for stream {args.stream_id}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.flush()
    sys.stdout.buffer.write(export.text.encode("utf-8"))  # UTF-8 whatever the locale says
    sys.stdout.flush()
    return EXIT_OK


def _rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    both = not (args.signing or args.cipher)
    with _configuration_errors():
        bootstrap.first_signing_key(settings)  # a ring starts from the settings' key
        first_cipher = bootstrap.cipher_key(settings, dev=False)
    ring = keys.load(settings.keyring_path)
    if args.cipher or both:
        if first_cipher is None:
            raise UsageError("no CROWDFUND_CIPHER_KEY: the data is not encrypted, so there is "
                             "no cipher key to rotate; set one first")
        print(f"cipher key version {keys.rotate_cipher(ring)} encrypts new data from the "
              "next start")
    if args.signing or both:
        print(f"signing key {keys.rotate_signing(ring)} signs tokens from the next start")
    keys.save(settings.keyring_path, ring)
    print(f"keyring: {settings.keyring_path}")
    return EXIT_OK


def _retire_key(args: argparse.Namespace, settings: Settings) -> int:
    with _configuration_errors():
        first_secret = bootstrap.first_signing_key(settings)
    ring = keys.load(settings.keyring_path)
    try:
        keys.retire(ring, first_secret, args.kid)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    keys.save(settings.keyring_path, ring)
    print(f"signing key {args.kid} retired: its tokens are refused once the API processes "
          "re-read the keyring (at their next start)")
    return EXIT_OK


def _list_keys(args: argparse.Namespace, settings: Settings) -> int:
    with _configuration_errors():
        first_secret = bootstrap.first_signing_key(settings)
    for row in keys.describe(keys.load(settings.keyring_path), first_secret):
        print(json.dumps(row))
    return EXIT_OK


# --- helpers -----------------------------------------------------------------------------------


@contextmanager
def _configuration_errors() -> Iterator[None]:
    """Settings that cannot work, and no Kafka to talk to, become exit code 2."""
    try:
        yield
    except (ConfigurationError, BrokerUnavailable, TopicError) as exc:
        raise UsageError(str(exc)) from None


def _require_event_store(settings: Settings) -> None:
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise UsageError(
            f"no event store at {url}: pass the --data-dir that `crowdfund dev` used, "
            "or set CROWDFUND_DATABASE_URL"
        )


@contextmanager
def _event_store(settings: Settings) -> Iterator[Crowdfund]:
    """The event store as the tools see it (with the dev cipher key if the data dir has one)."""
    _require_event_store(settings)
    with _configuration_errors():
        app = bootstrap.open_application(settings)
    try:
        yield app
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
