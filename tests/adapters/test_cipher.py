"""The versioned cipher and the keyring: new data names its key version, old data
(versioned or from before versions) stays readable, a process holding an older ring
reads data of a newer key by re-reading the keyring file."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from adapters.cipher import VersionedCipher, version_of
from api.security import key_id
from crowdfund import keys

pytestmark = pytest.mark.fast


def cipher(first: str, ring: Path | None = None, **later: str) -> VersionedCipher:
    env = {"CIPHER_KEY": first, "CIPHER_KEYRING": str(ring) if ring else ""}
    if later:
        env["CIPHER_KEYS"] = ";".join(f"{v.removeprefix('v')}:{k}" for v, k in later.items())
    return VersionedCipher(Environment(env=env))


def test_new_data_names_its_key_and_old_data_stays_readable() -> None:
    first, second = AESCipher.create_key(32), AESCipher.create_key(32)
    legacy = AESCipher(Environment(env={"CIPHER_KEY": first})).encrypt(b"before versions")
    one = cipher(first)
    v1 = one.encrypt(b"one")
    two = cipher(first, v2=second)
    v2 = two.encrypt(b"two")
    assert (version_of(legacy), version_of(v1), version_of(v2)) == (1, 1, 2)
    assert [two.decrypt(d) for d in (legacy, v1, v2)] == [b"before versions", b"one", b"two"]
    with pytest.raises(ValueError, match="version 2"):
        one.decrypt(v2)


def test_a_process_with_an_older_ring_reads_newer_data_from_the_keyring(tmp_path: Path) -> None:
    first = AESCipher.create_key(32)
    path = tmp_path / "keyring.json"
    before = cipher(first, path)  # started before the rotation
    ring = keys.load(path)
    version = keys.rotate_cipher(ring)
    keys.save(path, ring)
    after = cipher(first, path, **{f"v{version}": ring.cipher[version]})
    assert before.decrypt(after.encrypt(b"written after")) == b"written after"
    assert path.stat().st_mode & 0o777 == 0o600


def test_signing_keys_rotate_and_retire(tmp_path: Path) -> None:
    first = "the-first-signing-secret-of-32-bytes-or-more"
    ring = keys.Keyring()
    new = keys.rotate_signing(ring)
    active, older = ring.signing_keys(first)
    assert key_id(active) == new and [key_id(k) for k in older] == [key_id(first)]
    with pytest.raises(ValueError, match="rotate first"):
        keys.retire(ring, first, new)
    keys.retire(ring, first, key_id(first))
    assert ring.signing_keys(first)[1] == []
    states = {row["id"]: row["state"] for row in keys.describe(ring, first)
              if row["kind"] == "signing"}
    assert states == {key_id(first): "retired", new: "active"}
    assert not any(first in str(row) for row in keys.describe(ring, first))
