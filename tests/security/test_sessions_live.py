"""Sessions across real API replicas: two `crowdfund api` processes on one
PostgreSQL schema, as behind a load balancer.

- A token signed out on one replica is refused by the other at once, and still
  after a restart (the revocation log is a table, not a process's memory).
- A password changed on one replica ends the other sessions on both.
- Key rotation (`crowdfund keys rotate`): tokens and data made with the old keys
  stay valid on every replica, tokens and data made with the new ones are
  accepted by a replica not yet restarted; a retired signing key's tokens are
  refused.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from eventsourcing.cipher import AESCipher

from adapters.cipher import version_of
from tests.faults.platform import POSTGRES_URL, Component, Schema, free_port, scrub_env
from tests.servers import run_cli

pytestmark = pytest.mark.postgres

PASSWORD = "Correct-horse-battery-9"
START_TIMEOUT = 60.0
ME = "{ me { id } }"
SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename
  ... on AuthPayload { token user { id } } ... on Problem { code message } } }"""
SIGN_IN = """mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) {
  __typename ... on AuthPayload { token } ... on Problem { code message } } }"""
SIGN_OUT = "mutation { signOut { __typename ... on Problem { code } } }"
CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c,
  newPassword: $n) { __typename ... on AuthPayload { token } ... on Problem { code } } }"""


@dataclass
class Replica:
    component: Component
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None,
                token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(f"{self.url}/graphql", json={
            "query": query, "variables": variables or {}}, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def signed_in(self, token: str) -> bool:
        body = self.graphql(ME, token=token)
        if body.get("errors"):
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
            return False
        return body["data"]["me"] is not None

    def restart(self) -> None:
        self.component.terminate()
        self.component.start()
        wait_until_up(self)


def wait_until_up(replica: Replica) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not replica.component.alive:
            raise RuntimeError(replica.component.log_tail())
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(replica.component.log_tail())


@dataclass
class Cluster:
    a: Replica
    b: Replica
    env: dict[str, str]
    schema: Schema

    def cli(self, *args: str) -> str:
        done = run_cli(*args, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run_dir = tmp_path_factory.mktemp("replicas")
    schema = Schema("sess")
    env = {**scrub_env(os.environ),
           "CROWDFUND_DATABASE_URL": schema.url,
           "CROWDFUND_SECRET_KEY": "replica-signing-secret-" + uuid.uuid4().hex,
           "CROWDFUND_CIPHER_KEY": AESCipher.create_key(num_bytes=32),
           "CROWDFUND_DATA_DIR": str(run_dir / "data"),
           "CROWDFUND_KEYRING": str(run_dir / "keyring.json")}
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        component = Component(name, ["api", "--port", str(port)], env,
                              run_dir / f"api-{name}.log")
        component.start()
        replicas.append(Replica(component, port))
    try:
        for replica in replicas:
            wait_until_up(replica)
        yield Cluster(replicas[0], replicas[1], env, schema)
    finally:
        for replica in replicas:
            replica.component.terminate()
        schema.drop()


def sign_up(replica: Replica) -> tuple[str, str]:
    email = f"replica-{uuid.uuid4().hex[:10]}@example.test"
    answer = replica.graphql(SIGN_UP, {"i": {"email": email, "password": PASSWORD,
                                             "displayName": "Replica User"}})["data"]["signUp"]
    assert answer["__typename"] == "AuthPayload", answer
    return email, str(answer["token"])


def sign_in(replica: Replica, email: str, password: str = PASSWORD) -> str:
    answer = replica.graphql(SIGN_IN, {"e": email, "p": password})["data"]["signIn"]
    assert answer["__typename"] == "AuthPayload", answer
    return str(answer["token"])


def test_sign_out_on_one_replica_kills_the_token_on_every_replica(cluster: Cluster) -> None:
    _, token = sign_up(cluster.a)
    assert cluster.b.signed_in(token)
    answer = cluster.a.graphql(SIGN_OUT, token=token)["data"]["signOut"]
    assert answer["__typename"] == "SignedOut", answer
    assert not cluster.b.signed_in(token)  # at once: no waiting, no polling
    assert not cluster.a.signed_in(token)
    cluster.b.restart()
    assert not cluster.b.signed_in(token)  # the revocation outlives the process


def test_a_password_changed_on_one_replica_ends_sessions_on_both(cluster: Cluster) -> None:
    email, first = sign_up(cluster.a)
    second = sign_in(cluster.b, email)
    changed = cluster.b.graphql(CHANGE, {"c": PASSWORD, "n": "Another-good-passphrase-7"},
                                second)["data"]["changePassword"]
    assert changed["__typename"] == "AuthPayload", changed
    for replica in (cluster.a, cluster.b):
        assert not replica.signed_in(first)
        assert not replica.signed_in(second)
        assert replica.signed_in(changed["token"])


def _latest_event_state(cluster: Cluster) -> bytes:
    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute(  # type: ignore[call-overload]
            f'SELECT state FROM "{cluster.schema.name}".crowdfund_events '
            "ORDER BY notification_id DESC LIMIT 1").fetchone()
    return bytes(row[0])


def test_key_rotation_keeps_old_tokens_and_data_until_retired(cluster: Cluster) -> None:
    old_email, old_token = sign_up(cluster.a)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert version_of(_latest_event_state(cluster)) == 1

    out = cluster.cli("keys", "rotate")
    assert "signing key" in out and "cipher key version 2" in out
    ring = Path(cluster.env["CROWDFUND_KEYRING"])
    assert ring.stat().st_mode & 0o777 == 0o600  # the ring holds secrets...
    assert not any(secret in out for secret in json.loads(ring.read_text())["signing"])  # ...ids
    # only are printed
    cluster.a.restart()  # a rolling restart: b still runs with the old ring

    new_email, new_token = sign_up(cluster.a)
    assert jwt.get_unverified_header(new_token)["kid"] != old_kid
    assert version_of(_latest_event_state(cluster)) == 2  # new data names its key
    for replica in (cluster.a, cluster.b):
        assert replica.signed_in(old_token)  # old key: still valid
        assert replica.signed_in(new_token)  # b re-reads the ring for the new kid
        sign_in(replica, old_email)  # old data (v1) and new (v2) decrypt everywhere
        sign_in(replica, new_email)

    cluster.cli("keys", "retire", old_kid)
    listed = cluster.cli("keys", "list")
    assert f'"id": "{old_kid}", "state": "retired"' in listed
    cluster.a.restart()
    cluster.b.restart()
    for replica in (cluster.a, cluster.b):
        assert not replica.signed_in(old_token)
        assert replica.signed_in(new_token)
        sign_in(replica, old_email)  # cipher keys are never retired: old data stays readable
