"""What every benchmark shares: a fresh PostgreSQL schema, a live campaign,
backers with verified KYC created in bulk, timing and JSON results."""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from application.crowdfund import Crowdfund
from crowdfund.bootstrap import open_application
from crowdfund.settings import Settings
from domain.clock import business_time
from domain.email_index import EmailIndex, email_index_id
from domain.offering import OFFERING_STATEMENT
from domain.rulebook import Regime
from domain.user import Role, User
from tests.authenticator import enroll

SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results"
# The library's defaults: no aggregate cache, so every `get` replays from the store.
LIBRARY_DEFAULTS = {
    "AGGREGATE_CACHE_MAXSIZE": "",
    "AGGREGATE_CACHE_FASTFORWARD": "y",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
}
SETUP_CHUNK = 500
# Python's gen-0 threshold is 700 allocations: with a 50,000-aggregate cache that
# is a collection every few pledges and 15-20% of the writer's CPU. A server
# would set this once at start-up (gc.set_threshold); the benchmarks do the same.
GC_THRESHOLD = 20_000


def tune_gc(threshold: int) -> None:
    if threshold > 0:
        gc.set_threshold(threshold, 50, 100)


def fresh_schema(name: str) -> str:
    """An empty schema for this run; returns the event store URL that selects it."""
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return f"{SERVER}?schema={name}"


def build_app(url: str, **env: str) -> Crowdfund:
    """The application as production builds it (`crowdfund.bootstrap`), with `env`
    overriding the library's settings (e.g. LIBRARY_DEFAULTS for a baseline)."""
    return open_application(Settings(database_url=url, data_dir=RESULTS / ".data"), env=env)


@dataclass(frozen=True)
class Scene:
    founder_id: UUID
    officer_id: UUID
    campaign_id: UUID


def live_campaign(
    app: Crowdfund, *, max_target: str, min_pledge: str = "10.00",
    price_per_share: str = "1.00", regime: Regime = Regime.REG_CF,
) -> Scene:
    """A founder, a risk officer and a campaign taken through review to LIVE."""
    tag = uuid4().hex[:8]
    founder = app.accounts.register(f"founder-{tag}@bench.test", "Founder", "x").value
    officer = app.accounts.register(
        f"officer-{tag}@bench.test", "Officer", "x", roles=(Role.RISK_OFFICER,)
    ).value
    enroll(app, officer)  # staff act once TOTP is on
    campaign = app.offerings.draft(
        founder, title="Hot campaign", summary="Benchmark", regime=regime,
        min_target=min_pledge, max_target=max_target, min_pledge=min_pledge,
        price_per_share=price_per_share, deadline=app.clock.now() + timedelta(days=30),
    ).value
    app.offerings.upload_document(founder, campaign, OFFERING_STATEMENT[regime], "statement.pdf",
                                  b"%PDF-1.4\n% benchmark offering statement\n%%EOF\n")
    app.offerings.submit(founder, campaign)
    app.offerings.approve(officer, campaign)
    app.offerings.launch(founder, campaign)
    return Scene(founder, officer, campaign)


def bulk_backers(
    app: Crowdfund, count: int, *, annual_income: str = "40000.00",
    net_worth: str = "50000.00", accredited: bool = False,
) -> list[UUID]:
    """Verified backers, saved `SETUP_CHUNK` at a time.

    The same events as register, submit profile and verify, without three
    transactions per backer: setup is not what is measured.
    """
    ids: list[UUID] = []
    officer = str(uuid4())
    tag = uuid4().hex[:8]
    with business_time(app.clock.now()):
        for start in range(0, count, SETUP_CHUNK):
            batch: list[Any] = []
            for n in range(start, min(count, start + SETUP_CHUNK)):
                email = f"backer-{tag}-{n}@bench.test"
                user = User(  # type: ignore[call-arg]
                    email=email, display_name=f"Backer {n}", password_hash="x",
                    roles=["BACKER"], id=uuid4(),
                )
                user.submit_profile(
                    legal_name=f"Backer {n}", date_of_birth="1980-01-01", country="US",
                    annual_income=Decimal(annual_income), net_worth=Decimal(net_worth),
                    accredited=accredited, sophisticated=False,
                    other_reg_cf_investments_12m=Decimal("0.00"), knowledge_test_passed=False,
                )
                for regime in ("REG_CF", "ECSP"):  # as the server grades a passed test
                    user.take_knowledge_test(regime=regime, passed=True, score=6, out_of=6,
                                             taken_at=app.clock.now())
                user.verify(officer)
                index = EmailIndex(user_id=str(user.id), id=email_index_id(email))  # type: ignore[call-arg]
                batch += [user, index]
                ids.append(user.id)
            app.save(*batch)
    return ids


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t:` then `t[0]` is the elapsed wall time in seconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def server_version() -> str:
    with psycopg.connect(SERVER) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def write_result(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "benchmark": name,
        "measured_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "postgres": server_version(), "psycopg": psycopg.__version__,
            "psycopg_impl": psycopg.pq.__impl__,
            # Other work on the machine while measuring (1, 5, 15 minutes).
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "gc_threshold": gc.get_threshold(),
        },
        **figures,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """A plain text table: first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
