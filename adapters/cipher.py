"""The event store's cipher with key versions: AES-256-GCM (the library's
`AESCipher`), each ciphertext prefixed with the version of the key that made it.

New data names its key, so the key can change (`crowdfund keys rotate`) while
everything written before stays readable with the older keys. Data written
before versions existed has no prefix and is read with version 1 (the first
key, CROWDFUND_CIPHER_KEY), which therefore stays in the ring.

Environment (set by `adapters.event_store.eventsourcing_env`): CIPHER_KEY (version
1), CIPHER_KEYS ("2:key;3:key", base64 keys of later versions), CIPHER_ACTIVE_VERSION,
and CIPHER_KEYRING, the keyring file (`crowdfund keys`) to read again when data
names a version this process does not hold (another process rotated and wrote
first): a rolling restart never leaves a replica unable to read.
"""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

MAGIC = b"CFk"
_HEADER = struct.Struct(">3sH")  # magic, key version


def encode_keys(keys: dict[int, str]) -> str:
    return ";".join(f"{version}:{key}" for version, key in sorted(keys.items()))


def decode_keys(text: str) -> dict[int, str]:
    keys: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        version, _, key = item.partition(":")
        keys[int(version)] = key
    return keys


class VersionedCipher(Cipher):
    def __init__(self, environment: Environment) -> None:
        first = environment.get("CIPHER_KEY")
        if not first:
            raise OSError("'CIPHER_KEY' not in env")
        keys = {1: first, **decode_keys(environment.get("CIPHER_KEYS") or "")}
        self.active = int(environment.get("CIPHER_ACTIVE_VERSION") or max(keys))
        if self.active not in keys:
            raise ValueError(f"no cipher key of version {self.active}")
        self._ciphers = {v: _aes(k) for v, k in keys.items()}
        self._keyring = environment.get("CIPHER_KEYRING") or None
        self._lock = threading.Lock()

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._ciphers))

    def encrypt(self, plaintext: bytes) -> bytes:
        return _HEADER.pack(MAGIC, self.active) + self._ciphers[self.active].encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if ciphertext[:3] != MAGIC or len(ciphertext) <= _HEADER.size:
            return self._ciphers[1].decrypt(ciphertext)
        version = version_of(ciphertext)
        cipher = self._ciphers.get(version) or self._reloaded(version)
        try:
            if cipher is not None:
                return cipher.decrypt(ciphertext[_HEADER.size:])
        except ValueError:
            pass
        try:  # unversioned data whose random nonce began with the magic (2^-24)
            return self._ciphers[1].decrypt(ciphertext)
        except ValueError:
            if cipher is None:
                raise ValueError(f"no cipher key of version {version} in the keyring") from None
            raise


    def _reloaded(self, version: int) -> AESCipher | None:
        """Keys added to the keyring since this process started (never the active one:
        it changes at a restart)."""
        if self._keyring is None:
            return None
        with self._lock:
            for found, key in keyring_cipher_keys(Path(self._keyring)).items():
                self._ciphers.setdefault(found, _aes(key))
        return self._ciphers.get(version)


def _aes(key: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key}))


def keyring_cipher_keys(path: Path) -> dict[int, str]:
    """The cipher keys of a keyring file (`crowdfund keys`): {"cipher": {"2": key}}."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {int(v): str(k) for v, k in dict(data.get("cipher", {})).items()}


def version_of(ciphertext: bytes) -> int:
    """The key version that encrypted `ciphertext` (1 for data from before versions)."""
    if ciphertext[:3] == MAGIC and len(ciphertext) > _HEADER.size:
        return int(_HEADER.unpack_from(ciphertext)[1])
    return 1
