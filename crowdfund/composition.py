"""The composition root: builds the event store application and finds the
read-model database from the settings, one way for every entry point."""

from __future__ import annotations

import time
from pathlib import Path

from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import PersistenceError

from crowdfund.settings import Settings, eventsourcing_env
from domain.application import Crowdfund
from domain.clock import Clock

TABLE_CREATION_ATTEMPTS = 5


def cipher_key(settings: Settings, *, dev: bool) -> str | None:
    """Personal data is encrypted at rest; `dev` keeps a generated key in its data dir."""
    if settings.cipher_key:
        return settings.cipher_key
    if not dev:
        return None
    path = settings.data_dir / ".cipher_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(AESCipher.create_key(num_bytes=32))
        path.chmod(0o600)
    return path.read_text().strip()


def build_application(
    settings: Settings, clock: Clock | None = None, *, dev: bool = True
) -> Crowdfund:
    env = eventsourcing_env(settings.resolved_database_url, cipher_key(settings, dev=dev))
    env["CREATE_TABLE"] = "y"
    for attempt in range(TABLE_CREATION_ATTEMPTS):
        try:
            return Crowdfund(env=env, clock=clock)
        except PersistenceError:
            # Processes starting together on a new PostgreSQL database race in
            # CREATE TABLE IF NOT EXISTS ("tuple concurrently updated"): the loser
            # tries again, and then finds the tables there.
            if attempt == TABLE_CREATION_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def read_model_url(settings: Settings) -> str:
    """SQLAlchemy URL of the read models: beside the event store, same engine."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        events = Path(url.removeprefix("sqlite:///"))
        return f"sqlite:///{events.with_name('readmodels.db')}"
    return url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1
    )
