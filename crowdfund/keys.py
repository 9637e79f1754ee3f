"""The keyring: token-signing keys and cipher keys added by rotation.

The first keys come from the settings (CROWDFUND_SECRET_KEY, CROWDFUND_CIPHER_KEY;
in `dev`, files in the data dir). `crowdfund keys rotate` adds a newer key to a
JSON file (CROWDFUND_KEYRING, default DIR/keyring.json, mode 0600) and makes it
the one that signs or encrypts; processes read the file at start-up, and an API
process meeting a token of a key it does not know reads it again. Older keys
keep verifying the tokens and decrypting the data they made:

- a signing key stays valid until `crowdfund keys retire KID` (its tokens are then
  refused everywhere, after the processes re-read the ring);
- a cipher key is never retired here: events are immutable, and the data it
  encrypted would become unreadable.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.cipher import AESCipher

from adapters.cipher import keyring_cipher_keys
from api.security import key_id


@dataclass
class Keyring:
    """`signing`: secrets newer than the settings' key, oldest first (the last signs);
    `retired`: kids no longer accepted; `cipher`: version -> key, versions from 2."""

    signing: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    cipher: dict[int, str] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)

    def signing_keys(self, first: str) -> tuple[str, list[str]]:
        """The active secret and the older ones still valid."""
        every = [k for k in (first, *self.signing) if key_id(k) not in self.retired]
        if not every:
            raise ValueError("every token-signing key is retired; rotate to add a new one")
        return every[-1], every[:-1]


def load(path: Path) -> Keyring:
    if not path.exists():
        return Keyring()
    data: dict[str, Any] = json.loads(path.read_text())
    return Keyring(
        signing=list(data.get("signing", [])), retired=list(data.get("retired", [])),
        cipher=keyring_cipher_keys(path), created=dict(data.get("created", {})),
    )


def save(path: Path, ring: Keyring) -> None:
    """Written whole to a temporary file and renamed: a reader never sees half a ring."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"signing": ring.signing, "retired": ring.retired,
            "cipher": {str(v): k for v, k in sorted(ring.cipher.items())},
            "created": ring.created}
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1)
    os.chmod(name, 0o600)
    os.replace(name, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def rotate_signing(ring: Keyring) -> str:
    """A new signing key, active from the next start; its kid."""
    secret = secrets.token_urlsafe(48)
    ring.signing.append(secret)
    ring.created[key_id(secret)] = _now()
    return key_id(secret)


def rotate_cipher(ring: Keyring) -> int:
    """A new cipher key version, encrypting new data from the next start."""
    version = max([1, *ring.cipher]) + 1
    ring.cipher[version] = AESCipher.create_key(num_bytes=32)
    ring.created[f"cipher-{version}"] = _now()
    return version


def retire(ring: Keyring, first: str, kid: str) -> None:
    known = {key_id(k) for k in (first, *ring.signing)}
    if kid not in known:
        raise ValueError(f"no signing key has the id {kid}")
    if kid == key_id(ring.signing_keys(first)[0]):
        raise ValueError("that key signs new tokens; rotate first, then retire it")
    if kid not in ring.retired:
        ring.retired.append(kid)


def describe(ring: Keyring, first: str | None) -> list[dict[str, Any]]:
    """What `crowdfund keys list` prints: ids, states and dates, never a secret."""
    rows: list[dict[str, Any]] = []
    if first is not None:
        active = key_id(ring.signing_keys(first)[0]) if _any_valid(ring, first) else None
        for secret in (first, *ring.signing):
            kid = key_id(secret)
            state = "retired" if kid in ring.retired else "active" if kid == active else "valid"
            rows.append({"kind": "signing", "id": kid, "state": state,
                         "created": ring.created.get(kid)})
    newest = max([1, *ring.cipher])
    for version in [1, *sorted(ring.cipher)]:
        rows.append({"kind": "cipher", "id": version,
                     "state": "active" if version == newest else "valid",
                     "created": ring.created.get(f"cipher-{version}")})
    return rows


def _any_valid(ring: Keyring, first: str) -> bool:
    return any(key_id(k) not in ring.retired for k in (first, *ring.signing))
