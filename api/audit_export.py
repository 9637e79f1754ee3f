"""`GET /audit/streams/<id>.jsonl[?asOf=INSTANT]`: one stream's events as JSON Lines, for
auditors (`Authorization: Bearer <token>` of a user with the AUDITOR role, TOTP on).

The body is byte for byte what `crowdfund audit replay <id> [--as-of INSTANT]` prints
(`application.audit.stream_export` makes both). 401 without a valid token, 403 for anyone
but an auditor, 404 for a stream with no events (or a malformed id), 400 for an instant
without a timezone offset. Never cached. A user's stream shows their personal data: the
read is recorded first (`dataAccessLog`, purpose "GET /audit/streams/<id>.jsonl"), and
when it cannot be, the answer is 503 and no data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.audit_types import personal_data_subjects
from api.auth import TOTP_FIRST
from api.context import authenticate
from api.services import Services
from application import audit
from application.data_access import DataAccess, DataAccessUnavailable
from domain.errors import NotFoundError
from domain.user import Role

MEDIA_TYPE = "application/jsonl; charset=utf-8"
PURPOSE = "GET /audit/streams/<id>.jsonl"


def stream_export_endpoint(services: Services) -> Any:
    async def stream_export(request: Request) -> Response:
        session = await authenticate(services, request.headers.get("authorization"))
        who = session.viewer
        if who is None:
            return PlainTextResponse(
                "Sign in as an auditor: send Authorization: Bearer <token>.", status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not who.has(Role.AUDITOR):
            if who.awaits_totp(Role.AUDITOR):
                message = TOTP_FIRST.format(doing="export a stream", roles=Role.AUDITOR.value)
            else:
                message = "Only a user with the AUDITOR role can export a stream."
            return PlainTextResponse(message, status_code=403)
        as_of: datetime | None = None
        raw = request.query_params.get("asOf")
        if raw:
            try:
                as_of = datetime.fromisoformat(raw.strip())
            except ValueError:
                as_of = None
            if as_of is None or as_of.tzinfo is None:
                return PlainTextResponse(
                    "asOf must be an ISO 8601 instant with an offset, e.g. "
                    "2027-03-01T12:00:00+00:00.", status_code=400)
        stream_id = str(request.path_params["stream_id"])
        try:
            export = await services.run(audit.stream_export, services.app, stream_id, as_of)
        except NotFoundError:
            export = None
        if export is None:
            return PlainTextResponse(f"No events for stream {stream_id[:64]}.", status_code=404)
        subjects = [s for s in personal_data_subjects(export.events) if s != who.id]
        if subjects:
            at = services.clock.now()
            try:
                await services.run(services.data_access.record,
                                   [DataAccess(who.id, s, at, PURPOSE) for s in subjects])
            except DataAccessUnavailable:
                return PlainTextResponse(
                    "Personal data cannot be shown right now: its access could not be "
                    "recorded. Try again in a moment.", status_code=503,
                    headers={"Retry-After": "1"})
        return Response(export.text.encode("utf-8"), media_type=MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="stream-{stream_id}.jsonl"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        })

    return stream_export
