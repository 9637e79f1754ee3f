"""Every setting in one place, read from the environment (runtime.md)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROWDFUND_", extra="ignore")

    data_dir: Path = Path(".crowdfund")
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    topic: str = "crowdfund.events"
    topic_partitions: int = Field(default=4, ge=1, le=64)
    secret_key: str | None = None
    cipher_key: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    token_ttl_seconds: int = 12 * 3600

    @cached_property
    def resolved_database_url(self) -> str:
        """The event store's URL; SQLite under the data dir by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'events.db').resolve()}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith(("postgresql://", "postgres://"))

    def dev_secret(self, name: str) -> str:
        """A random secret kept in the data dir, so `dev` restarts keep tokens valid."""
        path = self.data_dir / f".{name}"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value


def eventsourcing_env(database_url: str, cipher_key: str | None = None) -> dict[str, str]:
    """Translate a database URL into the eventsourcing library's environment."""
    url = urlparse(database_url)
    env: dict[str, str] = {}
    if url.scheme == "sqlite":
        path = unquote(url.path)
        if database_url.startswith("sqlite:///:memory:") or path in ("", "/:memory:"):
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=":memory:")
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=path)
    elif url.scheme in ("postgresql", "postgres"):
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.path.lstrip("/") or "postgres",
            POSTGRES_HOST=url.hostname or "127.0.0.1",
            POSTGRES_PORT=str(url.port or 5432),
            POSTGRES_USER=unquote(url.username or "postgres"),
            POSTGRES_PASSWORD=unquote(url.password or ""),
            # Same table and locking as the library, faster batch inserts.
            APPLICATION_RECORDER_TOPIC="crowdfund.event_store:CopyRecorder",
        )
        schema = _query_value(url.query, "schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema
    else:
        raise ValueError(
            "CROWDFUND_DATABASE_URL must start with sqlite:/// or postgresql://, "
            f"got {url.scheme!r}"
        )
    if cipher_key:
        env.update(CIPHER_TOPIC="eventsourcing.cipher:AESCipher", CIPHER_KEY=cipher_key)
    return env


def _query_value(query: str, name: str) -> str | None:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name and value:
            return unquote(value)
    return None
