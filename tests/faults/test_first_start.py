"""Every process started at once on an empty database comes up.

A fresh deployment (docker-compose.yml, or a new environment) starts several APIs,
the relay, the projection workers and the scheduler together; each creates the event
store's and the read models' tables if they are missing. None may die of the others
doing the same at the same moment.

The race is a matter of timing, so a few rounds are run, each on a new schema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from application.clock import SystemClock
from crowdfund.bootstrap import bootstrap_admin
from crowdfund.settings import Settings
from domain.user import Role
from tests.conftest import Store
from tests.faults.platform import READY, Component, Platform, free_port

# Many processes, each with its pools: never beside another such suite on the shared
# PostgreSQL server (`make test` runs `serial` tests alone, after the rest).
pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.serial]

ROUNDS = 3


def _ready_line(name: str) -> str:
    return READY[name.split("-")[0]]


def _one_round(run_dir: Path) -> list[str]:
    """Start everything at once on an empty schema; the processes that died."""
    platform = Platform.create(run_dir, prepare=False)
    try:
        # Production runs several APIs; more schedulers make the race likelier.
        platform.components["api-2"] = Component(
            "api-2", ["api", "--port", str(free_port())], platform.components["api"].env,
            run_dir / "api-2.log")
        for n in (2, 3):
            platform.components[f"scheduler-{n}"] = Component(
                f"scheduler-{n}", ["worker", "scheduler"], platform.env,
                run_dir / f"scheduler-{n}.log")
        for component in platform.components.values():
            component.start()
        deadline = time.monotonic() + 45
        waiting = dict(platform.components)
        dead: list[str] = []
        while waiting and time.monotonic() < deadline:
            for name, component in list(waiting.items()):
                if not component.alive:
                    lines = [ln for ln in component.log_text().splitlines()
                             if "rror" in ln and not ln.startswith(" ")]
                    dead.append(f"{name} exited {component.proc and component.proc.returncode}"
                                f": {lines[-1] if lines else component.log_tail(300)}")
                    del waiting[name]
                elif _ready_line(name) in component.log_text():
                    del waiting[name]
            time.sleep(0.1)
        assert not waiting, f"not ready within 45 s: {sorted(waiting)}"
        return dead
    finally:
        platform.close()


def test_processes_started_together_on_an_empty_database_all_come_up(tmp_path: Path) -> None:
    deaths = []
    for number in range(ROUNDS):
        deaths.extend(f"round {number}: {d}" for d in _one_round(tmp_path / f"round-{number}"))
    assert not deaths, "\n".join(deaths)


def test_apis_bootstrapping_the_same_admin_at_once_all_start(postgres_store: Store) -> None:
    """Several APIs with CROWDFUND_ADMIN_EMAIL start on a new store: each looks the
    e-mail up, finds nobody, and registers the admin. The one that loses must carry on
    (the account exists: make sure it is an admin), not die of EMAIL_TAKEN.

    The window is milliseconds wide between processes (test above); here it is held
    open: the second API's look-up answers "nobody" once, after the first registered."""
    settings = Settings(admin_email="first-admin@example.test",
                        admin_password="correct-horse-battery-staple")
    first, second = postgres_store.open(SystemClock()), postgres_store.open(SystemClock())
    looked_up = second.user_by_email
    calls: list[str] = []

    def before_the_first_registered(email: str) -> Any:
        if not calls:
            calls.append(email)
            bootstrap_admin(first, settings)  # the other API wins the race meanwhile
            return None
        return looked_up(email)

    second.user_by_email = before_the_first_registered  # type: ignore[method-assign]
    bootstrap_admin(second, settings)  # must not raise
    admin = postgres_store.open(SystemClock()).user_by_email("first-admin@example.test")
    assert admin is not None and admin.has_role(Role.ADMIN)
