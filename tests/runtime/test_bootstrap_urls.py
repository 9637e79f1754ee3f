"""Where the read models live, from the event store's URL (`crowdfund.bootstrap`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdfund.bootstrap import read_model_url, redacted
from crowdfund.settings import Settings

pytestmark = pytest.mark.fast


def url_for(database_url: str) -> str:
    return read_model_url(Settings(database_url=database_url, data_dir=Path("/tmp")))


def test_sqlite_read_models_sit_beside_the_event_store() -> None:
    assert url_for("sqlite:////srv/cf/events.db") == "sqlite:////srv/cf/readmodels.db"


def test_postgresql_read_models_share_the_database_through_psycopg() -> None:
    assert url_for("postgresql://cf@db:5432/cf?schema=s1") == \
        "postgresql+psycopg://cf@db:5432/cf?schema=s1"
    # The libpq alias, and a password with an escaped '@', survive as they are.
    assert url_for("postgres://cf:p%40ss@db/cf") == "postgresql+psycopg://cf:p%40ss@db/cf"


def test_any_other_database_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL, not mysql"):
        url_for("mysql://cf@db/cf")


def test_a_redacted_url_hides_only_the_password() -> None:
    assert redacted("postgresql://cf:secret@db/cf") == "postgresql://cf:***@db/cf"
    assert redacted("sqlite:////srv/cf/events.db") == "sqlite:////srv/cf/events.db"
