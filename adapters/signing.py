"""Ed25519 keys for signed tree heads (`cryptography`): the signer the log-heads worker
uses and the check auditors run. Only public keys are ever stored or published.

CROWDFUND_LOG_SIGNING_KEY holds the private key as the base64url (or hex) text of
its 32 raw bytes, or as a PKCS#8 PEM. A key's id is the first 16 hex digits of the
SHA-256 of its public key in DER (SubjectPublicKeyInfo), as Certificate Transparency
names logs by the hash of their key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

RAW_KEY_BYTES = 32


class SigningKeyError(ValueError):
    """The configured signing key is not an Ed25519 private key."""


class Ed25519HeadSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        public = private_key.public_key()
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self._key_id = hashlib.sha256(der).hexdigest()[:16]
        self._pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key_pem(self) -> str:
        return self._pem

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:  # never the key itself, in logs or tracebacks
        return f"Ed25519HeadSigner(key_id={self._key_id})"


def new_signing_key() -> str:
    """A fresh private key in the setting's text form (base64url of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(RAW_KEY_BYTES)).decode().rstrip("=")


def load_signer(text: str) -> Ed25519HeadSigner:
    """The signer for CROWDFUND_LOG_SIGNING_KEY's value; SigningKeyError when it is none."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise SigningKeyError("CROWDFUND_LOG_SIGNING_KEY is not a readable PEM key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("CROWDFUND_LOG_SIGNING_KEY must be an Ed25519 key")
        return Ed25519HeadSigner(key)
    return Ed25519HeadSigner(Ed25519PrivateKey.from_private_bytes(_raw_bytes(text)))


def _raw_bytes(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text) if len(text) == 2 * RAW_KEY_BYTES else (
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != RAW_KEY_BYTES:
        raise SigningKeyError(
            "CROWDFUND_LOG_SIGNING_KEY must be 32 random bytes in base64url or hex, or an "
            "Ed25519 private key in PEM; e.g. CROWDFUND_LOG_SIGNING_KEY=$(python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def verify_signature(public_key_pem: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` by that public key."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
    except (ValueError, TypeError):
        return False
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
