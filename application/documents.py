"""Documents filed with an offering: the port to where their bytes are kept, and what a
file is, decided from its content (never from its name or the client's claim).

The bytes are kept by their SHA-256 (`DocumentStore`, implemented in
`adapters.documents`); the campaign's `DocumentUploaded` event records that hash,
so the audit chain covers the file: `verify_documents` recomputes it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Protocol, cast

from PIL import Image

from domain.errors import ValidationError
from domain.offering import JPEG, PDF, PNG, SHA256_HEX, WEBP, check_document_size

# Pillow's names of the image formats we take, and their content types.
_IMAGE_FORMATS = {"PNG": PNG, "JPEG": JPEG, "WEBP": WEBP}
# An image bigger than this in pixels is refused: a small file can decode to gigabytes
# (a "decompression bomb"); 40 megapixels is beyond any cover photo or slide.
MAX_IMAGE_PIXELS = 40_000_000
# A PDF's trailer ends with %%EOF within its last kilobyte (ISO 32000-1, 7.5.5).
_PDF_TRAILER_WINDOW = 1024


class DocumentStore(Protocol):
    """Where documents' bytes live, addressed by their SHA-256 (hex)."""

    def put(self, content: bytes) -> str:
        """Keep `content` (idempotent) and answer its SHA-256."""
        ...

    def read(self, sha256: str) -> bytes | None:
        """The bytes kept under `sha256`, or None when there are none."""
        ...


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def is_sha256(text: str) -> bool:
    return SHA256_HEX.fullmatch(text) is not None


@dataclass(frozen=True)
class Inspected:
    content_type: str
    size: int
    sha256: str


def inspect_content(content: bytes) -> Inspected:
    """What the file is, from its bytes: a PDF, PNG, JPEG or WebP, or a ValidationError."""
    size = len(content)
    check_document_size(size)
    return Inspected(_content_type(content), size, sha256_of(content))


def _content_type(content: bytes) -> str:
    if content.startswith(b"%PDF-"):
        if b"%%EOF" not in content[-_PDF_TRAILER_WINDOW:]:
            raise _unsupported("it starts like a PDF but has no end-of-file marker (truncated?)")
        return PDF
    image_format = _image_format(content)
    if image_format is None:
        raise _unsupported("it is not a PDF, PNG, JPEG or WebP file")
    return _IMAGE_FORMATS[image_format]


def _image_format(content: bytes) -> str | None:
    """The Pillow format of a well-formed image of a format we take, else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=list(_IMAGE_FORMATS)) as image:
                image_format = cast(Any, image).format
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise _unsupported(
                        f"the image is {width} x {height} pixels; at most "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted"
                    )
                image.verify()  # structure and checksums, without decoding the pixels
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _unsupported("the image would decode to more pixels than accepted") from None
    except Exception:  # Pillow raises many kinds for a file it cannot read as an image
        return None
    return image_format if image_format in _IMAGE_FORMATS else None


def _unsupported(why: str) -> ValidationError:
    return ValidationError(
        f"This file cannot be filed: {why}. Upload a PDF, PNG, JPEG or WebP file.",
        "file", "UNSUPPORTED_FILE_TYPE",
    )
