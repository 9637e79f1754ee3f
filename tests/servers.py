"""Real `crowdfund` processes for tests: the CLI, and a `crowdfund dev` server.

    from tests.servers import dev_server  # noqa: F401  (re-export the fixture in a module)

    def test_something(dev_server: DevServer) -> None:
        token = dev_server.sign_in(dev_server.admin_email, dev_server.admin_password)
        data = dev_server.graphql("{ me { id } }", token=token)

`dev_server` is module-scoped: one `crowdfund dev --no-demo --test-clock` per test
module, on a free port and a fresh data dir, with an admin from the environment.
Use `start_dev_server` / `running_dev_server` for other flags (e.g. the demo).
Teardown sends SIGTERM, then SIGKILL after `STOP_TIMEOUT` (and cleans up the
embedded broker the server started if it could not).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.authenticator import Authenticator, enroll_over_graphql

CROWDFUND = str(Path(sys.executable).with_name("crowdfund"))
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "correct-horse-battery-staple"


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without CROWDFUND_* settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROWDFUND_")}
    env.update(overrides or {})
    return env


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `crowdfund` console script and capture its output."""
    return subprocess.run(
        [CROWDFUND, *args], env=clean_env(env), cwd=cwd, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GraphQLError(AssertionError):
    """The response carried GraphQL errors (the response body is the message)."""


UPLOAD = """mutation($id: ID!, $kind: DocumentKind!, $file: Upload!) {
  uploadDocument(campaignId: $id, kind: $kind, file: $file) { __typename
    ... on DocumentUploaded { position document { sha256 url } }
    ... on Problem { code message } } }"""
STATEMENT_PDF = b"%PDF-1.4\n% offering statement\ntrailer << >>\n%%EOF\n"


def file_offering_statement(
    base_url: str, token: str, campaign_id: str, regime: str, content: bytes = STATEMENT_PDF
) -> dict[str, Any]:
    """Upload the Form C (REG_CF) or KIIS (ECSP) that `submitCampaign` needs, over the
    GraphQL multipart request specification; the DocumentUploaded payload."""
    kind = "FORM_C" if regime == "REG_CF" else "KIIS"
    operations = {"query": UPLOAD, "variables": {"id": campaign_id, "kind": kind, "file": None}}
    response = httpx.post(
        f"{base_url}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30,
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (f"{kind.lower()}.pdf", content, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["data"]["uploadDocument"]
    assert result["__typename"] == "DocumentUploaded", result
    return result


@dataclass
class DevServer:
    base_url: str
    admin_email: str
    admin_password: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    client: httpx.Client = field(repr=False)
    devices: dict[str, Authenticator] = field(default_factory=dict, repr=False)
    _admin_token: str | None = field(default=None, repr=False)
    _children: list[tuple[int, bytes]] = field(default_factory=list, repr=False)

    # --- talking to it --------------------------------------------------------------

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
        *, allow_errors: bool = False,
    ) -> dict[str, Any]:
        """POST /graphql; returns `data` (or the whole body with `allow_errors`)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        if allow_errors:
            return body
        if response.status_code != 200 or body.get("errors"):
            raise GraphQLError(f"{response.status_code}: {body}")
        data: dict[str, Any] = body["data"]
        return data

    def sign_in(self, email: str, password: str, totp: str | None = None) -> str:
        data = self.graphql(
            """mutation($e: String!, $p: String!, $t: String) {
                 signIn(email: $e, password: $p, totp: $t) {
                 __typename ... on AuthPayload { token } ... on Problem { message } } }""",
            {"e": email, "p": password, "t": totp},
        )
        result = data["signIn"]
        assert result["__typename"] == "AuthPayload", result
        return str(result["token"])

    def staff_token(self, email: str, password: str) -> str:
        """Staff act only with TOTP on: sign in, enroll (first time), and the token
        confirmTotp answers; later calls sign in with a code from the same device."""
        device = self.devices.get(email)
        if device is not None:
            return self.sign_in(email, password, device.code())
        device, token = enroll_over_graphql(
            lambda q, v, t: self.graphql(q, v, token=t), self.sign_in(email, password))
        self.devices[email] = device
        return token

    def admin_token(self) -> str:
        """The admin from the environment, enrolled in TOTP on first use (one token,
        kept: a second sign-in in the same 30 s would need another code)."""
        if self._admin_token is None:
            self._admin_token = self.staff_token(self.admin_email, self.admin_password)
        return self._admin_token

    def health(self) -> dict[str, Any]:
        response = self.client.get("/healthz")
        body: dict[str, Any] = response.json()
        return body

    def log_tail(self, size: int = 6000) -> str:
        with suppress(OSError):
            return self.log_path.read_text(errors="replace")[-size:]
        return ""

    # --- stopping it --------------------------------------------------------------------

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code (negative: signal)."""
        self._children = _descendants(self.process.pid) or self._children
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.close()
        _reap(self._children)
        return int(self.process.returncode)


def _descendants(pid: int) -> list[tuple[int, bytes]]:
    """(pid, cmdline) of a process's descendants (Linux /proc), e.g. the embedded broker."""
    found: list[tuple[int, bytes]] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with suppress(OSError):
            for tid in os.listdir(f"/proc/{parent}/task"):
                children = Path(f"/proc/{parent}/task/{tid}/children").read_text().split()
                for child in map(int, children):
                    with suppress(OSError):
                        found.append((child, Path(f"/proc/{child}/cmdline").read_bytes()))
                        todo.append(child)
    return found


def _reap(children: list[tuple[int, bytes]]) -> None:
    """Kill what the server started and left behind (only if the pid still runs it)."""
    for pid, cmdline in children:
        with suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline:
                os.kill(pid, signal.SIGKILL)


def start_dev_server(
    data_dir: Path, *, port: int | None = None, demo: bool = False, test_clock: bool = True,
    env: Mapping[str, str] | None = None, extra_args: tuple[str, ...] = (),
    timeout: float = START_TIMEOUT,
) -> DevServer:
    """Start `crowdfund dev`; wait (bounded) until /healthz answers 200 with the read
    models caught up with the event log."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-dev.log"
    args = [CROWDFUND, "dev", "--port", str(port), "--data-dir", str(data_dir), *extra_args]
    if not demo:
        args.append("--no-demo")
    if test_clock:
        args.append("--test-clock")
    settings = {"CROWDFUND_ADMIN_EMAIL": ADMIN_EMAIL, "CROWDFUND_ADMIN_PASSWORD": ADMIN_PASSWORD}
    settings.update(env or {})
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=clean_env(settings),
        )
    base_url = f"http://127.0.0.1:{port}"
    server = DevServer(
        base_url=base_url, admin_email=settings["CROWDFUND_ADMIN_EMAIL"],
        admin_password=settings["CROWDFUND_ADMIN_PASSWORD"], data_dir=data_dir,
        process=process, log_path=log_path, client=httpx.Client(base_url=base_url, timeout=30),
    )
    try:
        _wait_until_healthy(server, timeout)
    except BaseException:
        server.stop()
        raise
    server._children = _descendants(process.pid)
    return server


def _wait_until_healthy(server: DevServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"crowdfund dev exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with suppress(httpx.HTTPError, ValueError):
            response = server.client.get("/healthz", timeout=2)
            body = response.json()
            # Ready for tests once the read models have applied everything written so far
            # (the admin, the demo): the projection worker joins its group in a few seconds.
            if response.status_code == 200 and (body.get("projectionsPosition") or 0) >= (
                body.get("headPosition") or 0
            ):
                return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"crowdfund dev not healthy within {timeout:.0f}s:\n{server.log_tail()}"
            )
        time.sleep(0.1)


@contextmanager
def running_dev_server(data_dir: Path, **options: Any) -> Iterator[DevServer]:
    server = start_dev_server(data_dir, **options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A `crowdfund dev --no-demo --test-clock` for the test module (see the module doc)."""
    with running_dev_server(tmp_path_factory.mktemp("dev") / "data") as server:
        yield server
