"""Alembic's environment for the read-model database.

`projections.schema.upgrade` hands in an open connection (inside its
transaction, under its lock). Run by hand (`alembic -c projections/migrations/alembic.ini
...`, see docs/projections.md) it connects to `-x url=...`, or to a scratch SQLite
file under .crowdfund/.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context

from projections.db import make_engine
from projections.schema import TARGET

SCRATCH = "sqlite:///.crowdfund/migrations.db"
config = context.config


def render_item(kind: str, item: Any, _context: Any) -> str | Literal[False]:
    """Money and Instant are stored as BIGINT: a migration names the column type, not
    our Python class (a migration must not change when the class does)."""
    if kind == "type" and isinstance(item, sa.types.TypeDecorator):
        return f"sa.{type(item.impl_instance).__name__}()"
    return False


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection, target_metadata=list(TARGET), compare_type=True,
        render_as_batch=True,  # SQLite alters a table by copying it
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = make_engine(context.get_x_argument(as_dictionary=True).get("url", SCRATCH),
                         writer=True)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()
