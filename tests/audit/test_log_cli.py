"""`crowdfund audit head` and `crowdfund audit verify --head FILE` as real processes on a
data dir like `dev` writes one: a saved head catches a deleted stream by position."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from application.audit import audit_trail
from application.clock import SettableClock
from application.transparency import grow_fully, register_key, sign_head
from crowdfund import bootstrap
from crowdfund.settings import Settings
from tests.conftest import START
from tests.scenario import live_campaign, pledge, staff, verified_backer
from tests.servers import run_cli


@pytest.fixture
def data_dir(tmp_path: Path) -> dict[str, Any]:
    """A data dir with a small history and a signed head of all of it."""
    directory = tmp_path / "data"
    settings = Settings(data_dir=directory)
    app = bootstrap.open_application(settings, SettableClock(START), dev=True)
    tree = bootstrap.log_tree(settings, writer=True)
    try:
        team = staff(app)
        backer = verified_backer(app, team)
        campaign = live_campaign(app, team)
        pledged = pledge(app, backer, campaign, "500.00")
        pledge(app, backer, campaign, "200.00")
        grow_fully(app, tree)
        signer = bootstrap.log_signer(settings, dev=True)
        register_key(tree, signer, START)
        assert sign_head(tree, signer, START) is not None
        first = audit_trail(app, pledged)[0].position
    finally:
        tree.close()
        app.close()
    return {"dir": directory, "pledge": pledged, "first": first}


def test_a_saved_head_names_the_first_deleted_position(
    data_dir: dict[str, Any], tmp_path: Path
) -> None:
    where = str(data_dir["dir"])
    printed = run_cli("audit", "head", "--data-dir", where)
    assert printed.returncode == 0, printed.stderr
    head = json.loads(printed.stdout)
    assert set(head) == {"size", "rootHash", "at", "signature", "keyId"}
    saved = tmp_path / "head.json"
    saved.write_text(printed.stdout)
    assert run_cli("audit", "verify", "--head", str(saved), "--data-dir", where).returncode == 0

    with sqlite3.connect(data_dir["dir"] / "events.db") as conn:
        conn.execute("DELETE FROM stored_events WHERE originator_id = ?",
                     [data_dir["pledge"].hex])
    done = run_cli("audit", "verify", "--head", str(saved), "--data-dir", where)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("ok:")  # every stream's own chain is intact
    assert f"FAILED: position {data_dir['first']} is missing since the head of size " \
        f"{head['size']}" in done.stdout


def test_a_head_file_that_is_not_one(data_dir: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"size": 3, "rootHash": "zz"}))
    done = run_cli("audit", "verify", "--head", str(bad), "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 2 and "lacks" in done.stderr


def test_the_worker_refuses_to_start_without_its_key(tmp_path: Path) -> None:
    done = run_cli("worker", "log-heads", "--data-dir", str(tmp_path), env={
        "CROWDFUND_SECRET_KEY": "a-worker-secret-that-is-long-enough-to-sign",
        "CROWDFUND_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    })
    assert done.returncode == 2 and "CROWDFUND_LOG_SIGNING_KEY" in done.stderr
