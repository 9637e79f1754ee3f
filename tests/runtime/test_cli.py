"""The `crowdfund` command line: the contract's commands and flags, and refusals."""

from __future__ import annotations

import argparse
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crowdfund.cli import build_parser
from tests.conftest import CONTRACT_CHECKER
from tests.servers import CROWDFUND, clean_env, free_port, run_cli

CHECK_CONTRACT = CONTRACT_CHECKER
SECRET = {"CROWDFUND_SECRET_KEY": secrets.token_urlsafe(48)}


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        return [parser]
    return [leaf for sub in actions[0].choices.values() for leaf in _leaf_parsers(sub)]


def test_every_command_takes_a_data_dir() -> None:
    leaves = _leaf_parsers(build_parser())
    # dev api worker schema rebuild verify replay head keys-rotate keys-retire keys-list
    # kafka-ensure-topic
    assert len(leaves) == 12
    for leaf in leaves:
        assert "--data-dir" in leaf._option_string_actions, leaf.prog


def test_dev_flags_parse_as_in_the_contract() -> None:
    args = build_parser().parse_args([
        "dev", "--host", "0.0.0.0", "--port", "9000", "--data-dir", "d", "--broker-port", "9092",
        "--test-clock", "--no-demo",
    ])
    assert (args.host, args.port, args.data_dir, args.broker_port) == (
        "0.0.0.0", 9000, Path("d"), 9092
    )
    assert args.test_clock and args.no_demo
    defaults = build_parser().parse_args(["dev"])
    assert (defaults.host, defaults.port, defaults.broker_port) == ("127.0.0.1", 8000, None)
    assert not defaults.test_clock and not defaults.no_demo


def test_schema_honours_the_contract(tmp_path: Path) -> None:
    done = run_cli("schema")
    assert done.returncode == 0, done.stderr
    sdl = tmp_path / "schema.graphql"
    sdl.write_text(done.stdout)
    if not CHECK_CONTRACT.exists():
        pytest.fail(f"{CHECK_CONTRACT} is missing: shared/ must sit beside the checkout")
    check = subprocess.run([sys.executable, str(CHECK_CONTRACT), str(sdl)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 gap(s)" in check.stdout


@pytest.mark.parametrize("command", [["api"], ["worker", "scheduler"], ["worker", "relay"]])
def test_refuses_to_start_without_a_secret(command: list[str], tmp_path: Path) -> None:
    done = run_cli(*command, "--data-dir", str(tmp_path), timeout=30)
    assert done.returncode == 2
    assert "CROWDFUND_SECRET_KEY is not set" in done.stderr


def test_refuses_a_short_secret(tmp_path: Path) -> None:
    done = run_cli("api", "--data-dir", str(tmp_path),
                   env={"CROWDFUND_SECRET_KEY": "too-short"}, timeout=30)
    assert done.returncode == 2 and "at least 32 bytes" in done.stderr


@pytest.mark.parametrize("kind", ["relay", "projections"])
def test_kafka_workers_need_a_bootstrap(kind: str, tmp_path: Path) -> None:
    done = run_cli("worker", kind, "--data-dir", str(tmp_path), env=SECRET, timeout=30)
    assert done.returncode == 2
    assert "CROWDFUND_KAFKA_BOOTSTRAP" in done.stderr


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("audit", "verify", env={"CROWDFUND_DATABASE_URL": "mysql://u:secret@x/y"},
                   timeout=30)
    assert done.returncode == 2
    assert "CROWDFUND_DATABASE_URL must start with" in done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr


def _serve_then_stop(args: list[str], tmp_path: Path, url: str | None) -> int:
    """Start a long-running command, wait until it works, SIGTERM it; its exit code."""
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([CROWDFUND, *args], stdout=out, stderr=subprocess.STDOUT,
                                   env=clean_env(SECRET))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            if url is None:
                if "scheduler running" in log.read_text():
                    break
            else:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        return process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_api_serves_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    code = _serve_then_stop(["api", "--port", str(port), "--data-dir", str(tmp_path / "d")],
                            tmp_path, f"http://127.0.0.1:{port}/healthz")
    assert code == 0


def test_api_workers_share_the_port_and_stop_together_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [CROWDFUND, "api", "--workers", "2", "--port", str(port),
             "--data-dir", str(tmp_path / "d")],
            stdout=out, stderr=subprocess.STDOUT, env=clean_env(SECRET))
    try:
        deadline = time.monotonic() + 60
        while "(2 processes)" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        servers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(servers) == 2, children
        for _ in range(8):  # connections land on either process; every one answers
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
        assert not any(Path(f"/proc/{child}").exists() for child in servers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_refuses_fewer_than_one_api_worker(tmp_path: Path) -> None:
    done = run_cli("api", "--workers", "0", "--data-dir", str(tmp_path), env=SECRET)
    assert done.returncode == 2 and "--workers" in done.stderr


def test_scheduler_worker_runs_without_kafka_and_stops_on_sigterm(tmp_path: Path) -> None:
    code = _serve_then_stop(["worker", "scheduler", "--data-dir", str(tmp_path / "d")],
                            tmp_path, None)
    assert code == 0
