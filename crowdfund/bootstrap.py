"""The composition root: every object the platform runs on, built from `Settings`,
one way for the command line, every worker, `crowdfund dev`, the tests and the
benchmarks. Nothing below this package builds its own collaborators.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from argon2 import PasswordHasher
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import PersistenceError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_incrementing

from adapters.business_calendars import business_calendars
from adapters.documents import FileDocumentStore, MemoryDocumentStore
from adapters.event_store import eventsourcing_env
from adapters.kafka import BrokerUnavailable
from adapters.sanctions import SanctionsList
from adapters.signing import Ed25519HeadSigner, SigningKeyError, load_signer, new_signing_key
from adapters.smtp import SmtpTransport, parse_smtp_url
from api.security import (
    DEFAULT_HASHER,
    FAILURE_WINDOW_SECONDS,
    SignInThrottle,
    TokenSigner,
    hash_password,
    normalize_email,
    validate_email,
    validate_password,
)
from api.services import Services
from api.sessions import SessionGuard
from application import two_factor
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.documents import DocumentStore
from application.mail import receipt_text, recipient_of
from application.pledge_desk import PledgeDesk
from application.reset_mail import ResetMailer
from application.sessions import RESET_TOKEN_LIFETIME, RevocationCache
from crowdfund import demo, keys
from crowdfund.settings import AmlMonitoring, Settings
from domain.aml_rules import MonitoringThresholds
from domain.clock import Clock
from projections.consumers import Consumer
from projections.data_access_store import SqlDataAccessLog
from projections.log_tree import SqlLogTree
from projections.monitor import monitor_consumer
from projections.notices import Notices, Outbox
from projections.queries import ReadModels
from projections.session_store import SqlResetTokens, SqlRevocationLog, SqlSignInAttempts
from projections.source import StoreLog
from workers.notifier import MailSender
from workers.running import KafkaTopic

log = logging.getLogger("crowdfund")


class ConfigurationError(Exception):
    """The settings cannot work; the command line prints the message and exits 2."""


# --- secrets ---------------------------------------------------------------------------------


def has_dev_cipher_key(settings: Settings) -> bool:
    return (settings.data_dir / ".cipher_key").exists()


def cipher_key(settings: Settings, *, dev: bool) -> str | None:
    """Personal data is encrypted at rest; `dev` keeps a generated key in its data dir,
    and every other command on that data dir uses it when CROWDFUND_CIPHER_KEY is unset."""
    if settings.cipher_key:
        return settings.cipher_key
    if not (dev or has_dev_cipher_key(settings)):
        return None
    path = settings.data_dir / ".cipher_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(AESCipher.create_key(num_bytes=32))
        path.chmod(0o600)
    return path.read_text().strip()


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


def first_signing_key(settings: Settings) -> str:
    """The settings' signing key (the keyring's first): CROWDFUND_SECRET_KEY, or the
    one `crowdfund dev` keeps in its data dir."""
    return secret_key(settings, dev=(settings.data_dir / ".secret_key").exists())


def log_signer(settings: Settings, *, dev: bool) -> Ed25519HeadSigner:
    """The key that signs tree heads: CROWDFUND_LOG_SIGNING_KEY, or (dev only) one kept
    in the data dir. Rotating it is setting a new one: the old stays listed in logKeys."""
    text = settings.log_signing_key
    if not text and dev:
        path = settings.data_dir / ".log_signing_key"
        if not path.exists():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(new_signing_key())
            path.chmod(0o600)
        text = path.read_text().strip()
    if not text:
        raise ConfigurationError(
            "CROWDFUND_LOG_SIGNING_KEY is not set. The log-heads worker signs tree heads with "
            "it (Ed25519: 32 random bytes in base64url, or a PEM private key), e.g. "
            "CROWDFUND_LOG_SIGNING_KEY=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    try:
        return load_signer(text)
    except SigningKeyError as exc:
        raise ConfigurationError(str(exc)) from None


def redacted(url: str) -> str:
    """A database URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --- the event store and the read models -------------------------------------------------


# Processes starting together on a new PostgreSQL database race in CREATE TABLE IF
# NOT EXISTS ("tuple concurrently updated"): the loser tries again and finds the tables.
_creating_tables = retry(
    retry=retry_if_exception_type(PersistenceError), stop=stop_after_attempt(5),
    wait=wait_incrementing(start=0.2, increment=0.2), reraise=True,
)


# --- anti-money-laundering -------------------------------------------------------------


def screening_list(settings: Settings) -> SanctionsList:
    """CROWDFUND_SCREENING_LIST (OFAC's sdn.csv), or the sample shipped with the package;
    read at start-up (a new file means a new version: verified investors are re-screened)."""
    path = settings.screening_list
    if path is None:
        return _sample_list()
    try:
        stat = path.stat()
        return _list_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read CROWDFUND_SCREENING_LIST {path}: {exc}") from None


@lru_cache(maxsize=1)
def _sample_list() -> SanctionsList:
    return SanctionsList.sample()


@lru_cache(maxsize=4)
def _list_file(path: str, mtime_ns: int, size: int) -> SanctionsList:
    sanctions = SanctionsList.from_file(Path(path))
    log.info("screening list %s: %d entries, version %s", path, len(sanctions.entries),
             sanctions.version[:12])
    return sanctions


def identity_key(settings: Settings, *, dev: bool) -> str:
    """The key of the identity hashes the AML monitor compares: CROWDFUND_IDENTITY_KEY,
    else derived from the token secret or the cipher key."""
    if settings.identity_key:
        return settings.identity_key
    # Without any secret (tests only: workers refuse to start so), the store's URL.
    base = settings.secret_key or cipher_key(settings, dev=dev) or settings.resolved_database_url
    return hmac.new(base.encode(), b"crowdfund identity key", hashlib.sha256).hexdigest()


def monitoring_thresholds(block: AmlMonitoring) -> MonitoringThresholds:
    return MonitoringThresholds(
        cancel_cycles=block.cancel_cycles,
        cancel_window=timedelta(hours=block.cancel_window_hours),
        structuring_window=timedelta(hours=block.structuring_window_hours),
        structuring_margin=block.structuring_margin,
        reporting_amounts={"USD": block.reporting_amount_usd, "EUR": block.reporting_amount_eur},
        velocity_window=timedelta(hours=block.velocity_window_hours),
        velocity_share=block.velocity_share,
        velocity_floor=block.velocity_floor,
    )


def aml_monitor(settings: Settings, app: Crowdfund) -> Consumer:
    """The monitor consumer group (`crowdfund worker monitor`), reading investors'
    identities and means through `app`."""
    return monitor_consumer(app.investor_facts, monitoring_thresholds(settings.aml_monitoring))


def application_env(settings: Settings, *, dev: bool) -> dict[str, str]:
    ring = keys.load(settings.keyring_path)
    env = eventsourcing_env(settings.resolved_database_url, cipher_key(settings, dev=dev),
                            ring.cipher, str(settings.keyring_path))
    env["CREATE_TABLE"] = "y"
    return env


def document_store(settings: Settings) -> DocumentStore:
    """CROWDFUND_DOCUMENTS_DIR (default DIR/documents/); in memory beside an in-memory store."""
    if settings.resolved_database_url.startswith("memory:"):
        return MemoryDocumentStore()
    return FileDocumentStore(settings.resolved_documents_dir.resolve())


def open_application(
    settings: Settings, clock: Clock | None = None, *, dev: bool = False,
    env: dict[str, str] | None = None,
) -> Crowdfund:
    """The event store application (`env` adds to or overrides the library's settings)."""
    options = {**application_env(settings, dev=dev), **(env or {})}
    sanctions = screening_list(settings)
    key = identity_key(settings, dev=dev)
    try:
        return _creating_tables(Crowdfund)(
            env=options, clock=clock, business_calendars=business_calendars(),
            screening_list=sanctions, identity_key=key,
            documents=document_store(settings),
        )
    except (PersistenceError, OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot open the event store at {redacted(settings.resolved_database_url)}: "
            f"{str(exc).strip() or type(exc).__name__}"
        ) from None


def read_model_url(settings: Settings) -> str:
    """SQLAlchemy URL of the read models: beside the event store, same engine."""
    url = sa.make_url(settings.resolved_database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() == "sqlite":
        events = Path(url.database or "")
        return str(url.set(database=str(events.with_name("readmodels.db"))))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"read models need SQLite or PostgreSQL, not {url.drivername}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def open_read_models(settings: Settings) -> ReadModels:
    return ReadModels(read_model_url(settings), topic=settings.topic)


def event_log(app: Crowdfund) -> StoreLog:
    return StoreLog(app)


def log_tree(settings: Settings, *, writer: bool = False) -> SqlLogTree:
    """The Merkle tree of the log, its heads and keys, beside the read models."""
    return SqlLogTree(read_model_url(settings), writer=writer)


# --- Kafka -----------------------------------------------------------------------------------


def require_kafka(settings: Settings) -> str:
    """CROWDFUND_KAFKA_BOOTSTRAP; only `crowdfund dev` may fall back to an embedded broker."""
    if not settings.kafka_bootstrap:
        raise BrokerUnavailable(
            "no Kafka configured: set CROWDFUND_KAFKA_BOOTSTRAP=host:port "
            "(the embedded broker is started by `crowdfund dev` only)"
        )
    return settings.kafka_bootstrap


def kafka_topic(settings: Settings, bootstrap: str) -> KafkaTopic:
    return KafkaTopic(bootstrap, settings.topic, settings.topic_partitions)


# --- mail -------------------------------------------------------------------------------------


def mail_sender(settings: Settings, app: Crowdfund, smtp_url: str | None) -> MailSender | None:
    """The notifier's mail sender, or None without an SMTP server (notices stay in-app)."""
    if not smtp_url:
        return None
    try:
        parse_smtp_url(smtp_url)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    outbox = Outbox(read_model_url(settings))
    tree = SqlLogTree(outbox.engine)  # one engine: the sender uses one connection at a time
    return MailSender(
        outbox, lambda user_id: recipient_of(app, user_id),
        SmtpTransport(smtp_url), sender=settings.mail_from,
        receipts=lambda position: receipt_text(tree, position),
    )


def reset_mailer(settings: Settings, options: ApiOptions) -> ResetMailer | None:
    """Password-reset mail straight to the SMTP server (application.reset_mail), or None
    without one (tokens are made, no mail leaves)."""
    smtp_url = options.smtp_url or settings.smtp_url
    if not smtp_url:
        return None
    public_url = options.public_url or settings.public_url
    if not public_url:
        raise ConfigurationError(
            "CROWDFUND_PUBLIC_URL is not set: password-reset mail needs the address users "
            "open the platform at, e.g. CROWDFUND_PUBLIC_URL=https://invest.example.com")
    minutes = int(RESET_TOKEN_LIFETIME.total_seconds() // 60)
    return ResetMailer(SmtpTransport(smtp_url), public_url, minutes, settings.mail_from)


# --- the API ------------------------------------------------------------------------------------


def token_signer(settings: Settings, *, dev: bool) -> TokenSigner:
    """The keyring's active signing key signs; the older valid ones still verify.
    Tokens expire in real time, not business time (TokenSigner reads the real clock)."""
    try:
        active, older = keys.load(settings.keyring_path).signing_keys(
            secret_key(settings, dev=dev))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return TokenSigner(active, settings.token_ttl_seconds, older=older)


def session_guard(settings: Settings, engine: sa.Engine, *, dev: bool) -> SessionGuard:
    """Tokens, their revocation, sign-in back-off and reset tokens; the tables are in
    the read-model database (`engine`, migrated when the read models were opened)."""
    log = SqlRevocationLog(engine)
    pepper = hashlib.sha256(b"sign-in-throttle:" + secret_key(settings, dev=dev).encode())
    return SessionGuard(
        tokens=token_signer(settings, dev=dev),
        reload_tokens=lambda: token_signer(settings, dev=dev),
        revocations=log, cache=RevocationCache(log), reset_tokens=SqlResetTokens(engine),
        throttle=SignInThrottle(
            SqlSignInAttempts(engine, window_seconds=FAILURE_WINDOW_SECONDS), pepper.digest()
        ),
    )


@dataclass(frozen=True)
class ApiOptions:
    """How an API process differs from another: `dev` (GraphiQL, introspection), a
    test clock (setClock), the broker it reports, and tuning for tests."""

    dev: bool = False
    test_clock: SettableClock | None = None
    broker: str | None = None
    broker_check: Any = None
    hasher: PasswordHasher = DEFAULT_HASHER
    executor: Executor | None = None
    subscription_poll_seconds: float = 0.25
    caught_up_poll_seconds: float = 0.02
    # Where password-reset mail goes (`dev`: its sink) and the site its links open
    # (CROWDFUND_SMTP_URL and CROWDFUND_PUBLIC_URL when unset).
    smtp_url: str | None = None
    public_url: str | None = None


def build_services(
    settings: Settings, app: Crowdfund, clock: Clock, options: ApiOptions = ApiOptions(),
    *, read_models: ReadModels | None = None, extras: dict[str, Any] | None = None,
) -> Services:
    models = read_models or open_read_models(settings)
    guard = session_guard(settings, models.engine, dev=options.dev)
    return Services(
        app=app,
        read_models=models,
        # The tree's reads share the read models' engine (same database).
        log_tree=SqlLogTree(models.engine),
        clock=clock,
        tokens=guard.tokens,
        throttle=guard.throttle,
        sessions=guard,
        data_access=SqlDataAccessLog(models.engine),
        public_url=settings.public_url,
        reset_mail=reset_mailer(settings, options),
        metrics_token=settings.metrics_token,
        test_clock=options.test_clock,
        broker=options.broker,
        dev=options.dev,
        executor=options.executor,
        hasher=options.hasher,
        broker_check=options.broker_check,
        subscription_poll_seconds=options.subscription_poll_seconds,
        caught_up_poll_seconds=options.caught_up_poll_seconds,
        extras=extras or {},
        desk=PledgeDesk(app),
        notices=Notices(models.engine),
    )


# --- start-up content -----------------------------------------------------------------------


def bootstrap_admin(app: Crowdfund, settings: Settings) -> str | None:
    """Create (or promote) the admin named by CROWDFUND_ADMIN_EMAIL/PASSWORD; their e-mail."""
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
    app.accounts.bootstrap_admin(email, hash_password(password))
    return email


def demo_totp_secret(settings: Settings) -> str:
    """The demo risk officer's TOTP secret, kept in the data dir beside its otpauth://
    URI (`.demo_totp_uri`: paste it in an authenticator app, or draw it as a QR code)."""
    path = settings.data_dir / ".demo_totp_secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = two_factor.new_secret()
        for name, text in ((".demo_totp_secret", secret), (".demo_totp_uri",
                           two_factor.provisioning_uri(secret, demo.DEMO_RISK_OFFICER_EMAIL))):
            (settings.data_dir / name).write_text(text)
            (settings.data_dir / name).chmod(0o600)
    return path.read_text().strip()


def load_demo(app: Crowdfund, settings: Settings) -> None:
    password = settings.dev_secret("demo_password")
    loaded = demo.load_demo(app, hash_password(password), demo_totp_secret(settings))
    if loaded is not None:
        # No e-mail addresses in logs, not even the demo's: the README names the accounts.
        log.info("demo loaded: %d live campaigns (demo password in %s, the risk officer's "
                 "authenticator URI in %s)", len(loaded.campaign_ids),
                 settings.data_dir / ".demo_password", settings.data_dir / ".demo_totp_uri")
