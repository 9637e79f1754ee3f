"""Documents' bytes in a directory, one file per SHA-256 (the `DocumentStore` port).

`<root>/<first two hex digits>/<sha256>`: a write goes to a temporary file in the
same directory, is flushed to disk, then renamed into place, so a reader never sees
half a file and a crash never leaves one under its hash. Identical content is kept
once. In production the same port can be a bucket or PostgreSQL large objects.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from application.documents import is_sha256, sha256_of


class FileDocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a SHA-256 in lowercase hex")
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        sha256 = sha256_of(content)
        path = self.path_of(sha256)
        if path.is_file() and path.stat().st_size == len(content):
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return sha256

    def read(self, sha256: str) -> bytes | None:
        if not is_sha256(sha256):
            return None
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            return None


class MemoryDocumentStore:
    """Bytes in a dict: for an in-memory event store (`memory://`)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, content: bytes) -> str:
        sha256 = sha256_of(content)
        self.files.setdefault(sha256, bytes(content))
        return sha256

    def read(self, sha256: str) -> bytes | None:
        return self.files.get(sha256)
