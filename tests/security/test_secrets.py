"""Secrets come only from the environment, and nothing starts outside `dev` without the
signing key (tests/runtime/test_cli.py covers `api`, `worker scheduler` and `worker
relay` with no key at all, and a short key; this adds the rest)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.servers import run_cli

NOT_SET = "CROWDFUND_SECRET_KEY is not set"


def test_the_projection_worker_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    done = run_cli("worker", "projections", "--data-dir", str(tmp_path / "d"),
                   env={"CROWDFUND_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, timeout=30)
    assert done.returncode == 2, done.stderr
    assert NOT_SET in done.stderr


@pytest.mark.parametrize("command", [["api"], ["worker", "relay"], ["worker", "projections"],
                                     ["worker", "scheduler"]])
def test_a_key_dev_left_in_the_data_dir_is_not_used_outside_dev(
    command: list[str], tmp_path: Path
) -> None:
    """`dev` keeps its generated key in the data dir; `api` and the workers must not pick
    it up (in production a data dir is not a secret store)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / ".secret_key").write_text(secrets.token_urlsafe(48))
    done = run_cli(*command, "--data-dir", str(data),
                   env={"CROWDFUND_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert NOT_SET in done.stderr


def test_a_dotenv_file_is_not_read(tmp_path: Path) -> None:
    """Settings come from the process environment only: a `.env` in the working
    directory (or the data dir) is ignored."""
    key = secrets.token_urlsafe(48)
    for where in (tmp_path, tmp_path / "d"):
        where.mkdir(exist_ok=True)
        (where / ".env").write_text(f"CROWDFUND_SECRET_KEY={key}\n")
    done = run_cli("api", "--data-dir", str(tmp_path / "d"), cwd=tmp_path, timeout=30)
    assert done.returncode == 2 and NOT_SET in done.stderr, done.stderr


@pytest.mark.parametrize("value", ["", "   ", "x" * 31, "\u00e9" * 15])
def test_empty_blank_and_short_secrets_are_refused(value: str, tmp_path: Path) -> None:
    done = run_cli("api", "--data-dir", str(tmp_path), env={"CROWDFUND_SECRET_KEY": value},
                   timeout=30)
    assert done.returncode == 2, (value, done.stderr)
    assert "CROWDFUND_SECRET_KEY" in done.stderr
    assert value.strip() == "" or value not in done.stderr  # the refusal does not echo it


def test_the_secret_is_not_a_command_line_option() -> None:
    """A secret on the command line ends up in `ps` and shell history."""
    for command in (["api"], ["worker", "relay"], ["dev"]):
        done = run_cli(*command, "--help", timeout=30)
        assert done.returncode == 0
        assert "secret" not in done.stdout.lower() and "cipher" not in done.stdout.lower()
