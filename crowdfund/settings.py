"""Every setting in one place, read from the environment (runtime.md)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

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
    # Signed tree heads (docs/audit.md): the Ed25519 private key, and where heads go.
    log_signing_key: str | None = None
    log_heads_topic: str = "crowdfund.log-heads"
    log_heads_interval: float = Field(default=2.0, gt=0, le=300)

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
