"""`crowdfund audit verify|replay` as a real process on a data dir like `dev` writes one
(SQLite under the dir, personal data encrypted with the dev key kept there)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from application.audit import audit_trail
from application.clock import SettableClock
from crowdfund.bootstrap import open_application
from crowdfund.settings import Settings
from tests.conftest import START
from tests.scenario import live_campaign, pledge, staff, verified_backer
from tests.servers import run_cli


@pytest.fixture
def data_dir(tmp_path: Path) -> dict[str, Any]:
    """A data dir with a small history; returns what the tests need to know about it."""
    directory = tmp_path / "data"
    clock = SettableClock(START)
    app = open_application(Settings(data_dir=directory), clock, dev=True)
    try:
        team = staff(app)
        backer = verified_backer(app, team)
        campaign = live_campaign(app, team)
        clock.advance(hours=1)
        pledge(app, backer, campaign, "500.00")
        cut = clock.now()
        clock.advance(hours=1)
        pledge(app, backer, campaign, "200.00")
        trail = [e.to_json() for e in audit_trail(app, campaign)]
        user_trail = audit_trail(app, backer)
    finally:
        app.close()
    return {"dir": directory, "campaign": str(campaign), "trail": trail, "cut": cut,
            "user": backer, "user_position": user_trail[0].position}


def test_verify_passes_on_an_untouched_store(data_dir: dict[str, Any]) -> None:
    done = run_cli("audit", "verify", "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")


def test_verify_reports_the_tampered_position(data_dir: dict[str, Any]) -> None:
    db = data_dir["dir"] / "events.db"
    with sqlite3.connect(db) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=1",
            [data_dir["user"].hex],
        ).fetchone()
        tampered = bytes(state[:-3]) + bytes([state[-3] ^ 0x20]) + bytes(state[-2:])
        conn.execute(
            "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=1",
            [tampered, data_dir["user"].hex],
        )
    conn.close()
    done = run_cli("audit", "verify", "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"first bad position {data_dir['user_position']} " in done.stdout


def test_verify_names_a_tampered_document(data_dir: dict[str, Any]) -> None:
    """The Form C's SHA-256 is in its DocumentUploaded event: changing one byte of the kept
    file (the chain itself untouched) fails the audit and names the document."""
    kept = list((data_dir["dir"] / "documents").rglob("*"))
    (path,) = [p for p in kept if p.is_file()]
    content = bytearray(path.read_bytes())
    content[12] ^= 0x01
    path.write_bytes(bytes(content))
    done = run_cli("audit", "verify", "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"document 'form_c.pdf' of campaign {data_dir['campaign']}" in done.stdout
    assert path.name in done.stdout and "was changed" in done.stdout
    path.unlink()
    done = run_cli("audit", "verify", "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 1 and "is missing" in done.stdout


def test_replay_prints_the_stream_as_json_lines(data_dir: dict[str, Any]) -> None:
    done = run_cli("audit", "replay", data_dir["campaign"], "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == data_dir["trail"]
    assert [line["version"] for line in lines] == list(range(1, len(lines) + 1))
    assert set(lines[0]) == {
        "position", "streamId", "streamType", "version", "type", "occurredAt", "payload",
        "hash", "prevHash",
    }


def test_replay_as_of_cuts_at_the_instant(data_dir: dict[str, Any]) -> None:
    cut = data_dir["cut"]
    done = run_cli("audit", "replay", data_dir["campaign"], "--as-of", cut.isoformat(),
                   "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    expected = [e for e in data_dir["trail"] if e["occurredAt"] <= cut.isoformat()]
    assert lines == expected
    assert [e["type"] for e in lines].count("PledgeAccepted") == 1
    # "Z" is accepted as UTC; an instant before the campaign gives no lines.
    early = (START - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = run_cli("audit", "replay", data_dir["campaign"], "--as-of", early,
                   "--data-dir", str(data_dir["dir"]))
    assert done.returncode == 0 and done.stdout == ""


def test_replay_refuses_bad_input(data_dir: dict[str, Any], tmp_path: Path) -> None:
    where = ["--data-dir", str(data_dir["dir"])]
    naive = run_cli("audit", "replay", data_dir["campaign"], "--as-of", "2027-03-01T12:00", *where)
    assert naive.returncode == 2 and "timezone offset" in naive.stderr
    unknown = run_cli("audit", "replay", "00000000-0000-0000-0000-000000000000", *where)
    assert unknown.returncode == 1 and "no events" in unknown.stderr
    malformed = run_cli("audit", "replay", "nope", *where)
    assert malformed.returncode == 2
    missing = run_cli("audit", "verify", "--data-dir", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "no event store" in missing.stderr
    assert not (tmp_path / "nothing-here").exists()
