"""Documents filed with an offering: `uploadDocument` over the GraphQL multipart request
specification (the file arrives as a Starlette `UploadFile`)."""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from api import auth
from api.context import Viewer
from api.enums import DocumentKind
from api.offering_types import document_from_view, document_view_of
from api.payloads import DocumentResult, DocumentUploaded
from api.resolvers.common import Outcome, mutate
from api.scalars import Long
from application.crowdfund import Crowdfund
from application.unit_of_work import Written
from domain.errors import ValidationError
from domain.offering import Document as DocumentRecord

NOT_A_FILE = (
    "Send the file as a multipart request (the GraphQL multipart request specification): "
    "the `file` variable must map to a file part."
)


async def _document_uploaded(
    info: Info[Any, Any], done: tuple[str, Written[DocumentRecord]]
) -> DocumentUploaded:
    campaign_id, written = done
    view = document_view_of(campaign_id, written.value, written.position)
    return DocumentUploaded(document=document_from_view(view), position=Long(written.position))


DOCUMENT_UPLOADED = Outcome(DocumentResult, _document_uploaded)


async def upload_document(
    info: Info[Any, Any], campaign_id: strawberry.ID, kind: DocumentKind, file: Upload
) -> DocumentResult:
    async def upload(app: Crowdfund, who: Viewer) -> tuple[str, Written[DocumentRecord]]:
        if not isinstance(file, UploadFile):
            raise ValidationError(NOT_A_FILE, "file", "NOT_A_FILE")
        # Read on the event loop (the request body is bounded by api.app.Guard, so the
        # whole file fits in memory); the command runs in the thread pool.
        content = await file.read()
        written = await auth.context(info).services.run(
            app.offerings.upload_document, who.id, str(campaign_id), kind.value,
            file.filename, content,
        )
        return str(campaign_id), written

    return await mutate(info, DOCUMENT_UPLOADED, upload)  # type: ignore[no-any-return]
