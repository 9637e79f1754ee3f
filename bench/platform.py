"""The platform as real processes for the end-to-end benchmarks: the embedded
broker, `crowdfund api` and the `crowdfund worker` processes, on one schema."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CROWDFUND = str(Path(sys.executable).with_name("crowdfund"))


def platform_env(
    url: str, bootstrap: str, topic: str, secret: str, data_dir: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDFUND_")}
    env.update({
        "CROWDFUND_DATABASE_URL": url, "CROWDFUND_KAFKA_BOOTSTRAP": bootstrap,
        "CROWDFUND_TOPIC": topic, "CROWDFUND_SECRET_KEY": secret,
        "CROWDFUND_DATA_DIR": str(data_dir),
    })
    return env


@dataclass
class Processes:
    """Child processes started by a benchmark; `stop` ends exactly these."""

    env: dict[str, str]
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115  (kept by the child)
        proc = subprocess.Popen([CROWDFUND, *args], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running[name] = proc
        return proc

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU of a running child so far (Linux /proc)."""
        proc = self.running[name]
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, name: str, size: int = 3000) -> str:
        with suppress(OSError):
            return (self.log_dir / f"{name}.log").read_text(errors="replace")[-size:]
        return ""

    def check(self, names: Iterable[str] | None = None) -> None:
        for name in names or list(self.running):
            code = self.running[name].poll()
            if code is not None:
                raise RuntimeError(f"{name} exited with {code}:\n{self.log_tail(name)}")

    def stop(self, names: Iterable[str] | None = None, timeout: float = 15) -> None:
        chosen = list(names or self.running)
        for name in chosen:
            if self.running[name].poll() is None:
                self.running[name].send_signal(signal.SIGTERM)
        for name in chosen:
            proc = self.running.pop(name)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def wait_http(base_url: str, procs: Processes, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the API did not answer:\n{procs.log_tail('api')}")
