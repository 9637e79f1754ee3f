"""Anyone can check the log through GraphQL, with nothing but the contract's formulas:
a real `crowdfund dev` (its log-heads worker runs in-process) serves the heads, the keys
and the proofs, and this module verifies them with its own RFC 9162 verifier (SHA-256
and Ed25519 only, none of the platform's code)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.servers import DevServer, dev_server, run_cli  # noqa: F401

HEAD = "{ logHead { size rootHash at signature keyId } }"


# --- an independent verifier (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = node(r, p)
        fn, sn = fn // 2, sn // 2
    return r if sn == 0 else None


def consistent(m: int, n: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    if m == n:
        return not path and old == new
    if not path:
        return False
    if m & (m - 1) == 0:
        path = [old, *path]
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = node(sr, c)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and fr == old and sr == new


def signed(head: dict[str, Any], keys: dict[str, str]) -> bool:
    message = f"{head['size']}\n{head['rootHash']}\n{head['at']}".encode()
    key: Any = load_pem_public_key(keys[head["keyId"]].encode())
    try:
        key.verify(bytes.fromhex(head["signature"]), message)
    except Exception:
        return False
    return True


# --- the test ---------------------------------------------------------------------------------


def wait_for_head(server: DevServer, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = server.graphql(HEAD, allow_errors=True)
        head = (body.get("data") or {}).get("logHead")
        if head and head["size"] >= at_least:
            return dict(head)
        time.sleep(0.2)
    raise AssertionError(f"no head of size {at_least}\n{server.log_tail()}")


def test_heads_keys_and_proofs_verify_independently(dev_server: DevServer) -> None:  # noqa: F811
    server = dev_server
    first = wait_for_head(server, 1)
    admin = server.admin_token()
    server.graphql(
        """mutation($e: String!) { grantRole(email: $e, role: AUDITOR) { __typename } }""",
        {"e": server.admin_email}, token=admin,
    )
    head_position = server.health()["headPosition"]
    latest = wait_for_head(server, head_position)
    keys = {k["keyId"]: k["publicKeyPem"]
            for k in server.graphql("{ logKeys { keyId publicKeyPem createdAt } }")["logKeys"]}
    assert signed(first, keys) and signed(latest, keys)
    forged = {**latest, "size": latest["size"] + 1}
    assert not signed(forged, keys)

    log = server.graphql("{ eventLog(after: 0, limit: 1000) { events { position hash } } }",
                         token=admin)["eventLog"]["events"]
    hashes = {e["position"]: e["hash"] for e in log}
    size, root = latest["size"], bytes.fromhex(latest["rootHash"])
    for position in range(1, size + 1):
        proof = server.graphql(
            "query($p: Long!) { inclusionProof(position: $p) { position treeSize leafHash path } }",
            {"p": position},
        )["inclusionProof"]
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(hashes[position])).digest()
        assert proof["treeSize"] == size and bytes.fromhex(proof["leafHash"]) == leaf
        path = [bytes.fromhex(h) for h in proof["path"]]
        assert inclusion_root(position - 1, size, leaf, path) == root, position

    proof = server.graphql(
        "query($m: Long!) { consistencyProof(fromSize: $m) { fromSize toSize path } }",
        {"m": first["size"]},
    )["consistencyProof"]
    assert proof["toSize"] == size
    assert consistent(first["size"], size, bytes.fromhex(first["rootHash"]), root,
                      [bytes.fromhex(h) for h in proof["path"]])
    # Bad input is a specific message, not a crash.
    body = server.graphql("{ inclusionProof(position: 0) { path } }", allow_errors=True)
    assert "position must be between 1" in body["errors"][0]["message"]

    # The command line agrees, and a saved head still verifies.
    printed = run_cli("audit", "head", "--data-dir", str(server.data_dir))
    assert printed.returncode == 0, printed.stderr
    assert signed(json.loads(printed.stdout), keys)
    saved = server.data_dir / "head.json"
    saved.write_text(printed.stdout)
    verified = run_cli("audit", "verify", "--head", str(saved), "--data-dir",
                       str(server.data_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "still holds the head of size" in verified.stdout
