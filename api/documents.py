"""`GET /documents/<sha256>`: a document filed with an offering, by its SHA-256.

Content-addressed, so the answer never changes: a year's immutable cache lifetime and
the hash as ETag. The content type is the one decided from the bytes at upload,
`nosniff` keeps browsers from second-guessing it, and the file name (sanitised at
upload) travels in `Content-Disposition` in both its ASCII and its UTF-8 form.
Only documents an offering recorded are served: an unknown hash is a 404.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.services import Services
from application.documents import is_sha256

log = logging.getLogger(__name__)

CACHE_FOREVER = "public, max-age=31536000, immutable"


def content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    ascii_name = ascii_name.replace("\\", "_").replace('"', "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def document_endpoint(services: Services) -> Any:
    async def document(request: Request) -> Response:
        sha256 = str(request.path_params["sha256"])
        if not is_sha256(sha256):
            return PlainTextResponse("No such document.", status_code=404)
        view = await services.run(services.read_models.document, sha256)
        store = services.app.documents
        if view is None or store is None:
            return PlainTextResponse("No such document.", status_code=404)
        headers = {
            "Content-Disposition": content_disposition(view.name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": CACHE_FOREVER,
            "ETag": f'"{sha256}"',
        }
        if request.headers.get("if-none-match", "").strip() == f'"{sha256}"':
            return Response(status_code=304, headers=headers)
        content = await services.run(store.read, sha256)
        if content is None:
            log.error("document %s is recorded but its file is missing", sha256)
            return PlainTextResponse("No such document.", status_code=404)
        return Response(content, media_type=view.content_type, headers=headers)

    return document
