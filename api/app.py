"""The ASGI application: GraphQL over HTTP and WebSocket, the web page, health, metrics.

`create_app(services)` builds it; the runtime owns `services` (see `api.services`).

- `/graphql`: POST; GET serves GraphiQL only in dev; WebSocket graphql-transport-ws
  with the token in the connection_init payload `{"authorization": "Bearer …"}` (a
  token that does not verify closes the socket with 4403; no token: anonymous).
- `/healthz`: always 200 while the event store answers: `status` is "ok", or
  "degraded" with `problems` naming what lags or is down (read models, broker);
  503 `{"status": "down"}` only when the event store itself cannot be read.
- `/metrics`: Prometheus text (requests, pledge latency, projection lag), only with
  `Authorization: Bearer <CROWDFUND_METRICS_TOKEN>` (without the setting: in dev only;
  404 otherwise).
- `/documents/<sha256>`: documents filed with offerings (see `api.documents`).
- `/campaigns/<id>`: the web page with the campaign's Open Graph tags (`api.share`).
- `/audit/streams/<id>.jsonl`: a stream exported for auditors (`api.audit_export`).
- Every response carries the security headers of `api.headers` (CSP, framing, …).
- Bodies over `MAX_BODY_BYTES` → 413 (a multipart upload to `/graphql`: over
  `MAX_UPLOAD_BODY_BYTES`); malformed JSON → 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from api.audit_export import stream_export_endpoint
from api.context import Context, authenticate, bearer_token
from api.documents import document_endpoint
from api.headers import PageFiles, SecurityHeaders
from api.metrics import CONTENT_TYPE, Metrics
from api.progress import ProgressHub
from api.schema import schema
from api.security import constant_time_equals
from api.services import Services
from api.share import campaign_share_endpoint
from application.sessions import RevocationsUnavailable
from domain.offering import MAX_DOCUMENT_BYTES

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 64 * 1024
# A document upload: the file (at most 10 MiB) plus the operation and the multipart framing.
MAX_UPLOAD_BODY_BYTES = MAX_DOCUMENT_BYTES + MAX_BODY_BYTES
HEALTH_TIMEOUT_SECONDS = 2.0


class GraphQLView(GraphQL):
    def __init__(self, services: Services, metrics: Metrics, hub: ProgressHub) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if services.dev else None,
            allow_queries_via_get=services.dev,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=20,
            # Uploads need no CSRF guard here: every mutation is authorised by a bearer
            # token in a header, which a cross-site form cannot send.
            multipart_uploads_enabled=True,
        )
        self.services = services
        self.metrics = metrics
        self.hub = hub

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = json.loads(data)
        except (ValueError, RecursionError) as e:  # bad UTF-8, absurd nesting
            raise json.JSONDecodeError("malformed JSON", "", 0) from e
        return value

    def parse_json(self, data: str | bytes) -> Any:
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        client = request.client.host if request.client else None
        if isinstance(request, WebSocket):
            return Context(self.services, request, client_ip=client, streaming=True,
                           metrics=self.metrics, hub=self.hub)
        session = await authenticate(self.services, request.headers.get("authorization"))
        return Context(self.services, request, viewer=session.viewer, token_state=session.state,
                       claims=session.claims, client_ip=client, metrics=self.metrics,
                       hub=self.hub)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is not None and not isinstance(header, str):
            raise ConnectionRejectionError()
        session = await authenticate(self.services, header)
        if session.state == "invalid":
            raise ConnectionRejectionError()
        context.viewer, context.token_state = session.viewer, session.state
        context.claims = session.claims
        return UNSET

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        """GraphiQL from the package's own copy (api/static/graphiql/): it works offline."""
        return FileResponse(STATIC / "graphiql" / "index.html", media_type="text/html")

    async def process_result(self, request: Request, result: Any) -> Any:
        outcome = "error" if result.errors else "ok"
        self.metrics.operations.labels("graphql", outcome).inc()
        return await super().process_result(request, result)


# ------------------------------------------------------------------------ middleware


class _TooLarge(Exception):
    pass


class Guard:
    """Counts requests, refuses big bodies (413), never leaks a traceback."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, limit: int = MAX_BODY_BYTES,
        upload_limit: int = MAX_UPLOAD_BODY_BYTES,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.limit = limit
        self.upload_limit = upload_limit

    def body_limit(self, scope: Scope, headers: dict[bytes, bytes]) -> int:
        """Only a multipart POST to /graphql (a document upload) may be large."""
        content_type = headers.get(b"content-type", b"").lower()
        if (scope.get("path") == "/graphql" and scope.get("method") == "POST"
                and content_type.startswith(b"multipart/form-data")):
            return self.upload_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_label(scope.get("path", ""))
        status = {"code": 500, "started": False}

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        headers = dict(scope.get("headers", []))
        limit = self.body_limit(scope, headers)
        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                raise _TooLarge
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge
                return message

            await self.app(scope, limited_receive, tracked_send)
        except RevocationsUnavailable:
            # A token cannot be checked while the database is away: refuse, retry later.
            if not status["started"]:
                await PlainTextResponse(
                    "Service unavailable; try again shortly", status_code=503,
                    headers={"Retry-After": "1"},
                )(scope, receive, tracked_send)
        except _TooLarge:
            if not status["started"]:
                await PlainTextResponse(
                    f"Request body larger than {limit} bytes", status_code=413
                )(scope, receive, tracked_send)
        except Exception:
            log.exception("unhandled error on %s", route)
            if not status["started"]:
                await PlainTextResponse("Internal error", status_code=500)(
                    scope, receive, tracked_send
                )
        finally:
            self.metrics.requests.labels(route, f"{int(status['code']) // 100}xx").inc()


def _route_label(path: str) -> str:
    if path.startswith("/static/"):
        return "/static"
    if path.startswith("/documents/"):
        return "/documents"
    if path.startswith("/campaigns/"):
        return "/campaigns"
    if path.startswith("/audit/"):
        return "/audit"
    return path if path in ("/", "/graphql", "/healthz", "/metrics") else "other"


# ---------------------------------------------------------------------- health, metrics


async def _probe(services: Services, fn: Any) -> Any:
    return await asyncio.wait_for(services.run(fn), HEALTH_TIMEOUT_SECONDS)


async def positions(services: Services) -> tuple[int | None, int | None, list[str]]:
    problems: list[str] = []
    head: int | None = None
    applied: int | None = None
    try:
        head = await _probe(services, services.app.head_position)
    except Exception:
        problems.append("eventStore")
    try:
        applied = await _probe(services, services.read_models.applied_through)
    except Exception:
        problems.append("projections")
    return head, applied, problems


def health_endpoint(services: Services, metrics: Metrics) -> Any:
    async def healthz(request: Request) -> Response:
        head, applied, problems = await positions(services)
        if head is not None and applied is not None:
            metrics.observe_positions(head, applied)
        if services.broker_check is not None:
            try:
                if not await _probe(services, services.broker_check):
                    problems.append("broker")
            except Exception:
                problems.append("broker")
        body: dict[str, Any] = {
            "status": "ok" if not problems else "degraded",
            "headPosition": head,
            "projectionsPosition": applied,
            "broker": services.broker,
        }
        if head is not None and applied is not None:
            body["lag"] = max(0, head - applied)
        if problems:
            body["problems"] = problems
        if head is None:
            body["status"] = "down"
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    return healthz


def metrics_endpoint(services: Services, metrics: Metrics) -> Any:
    """Prometheus text, for whoever holds CROWDFUND_METRICS_TOKEN (open in dev only)."""
    async def metrics_view(request: Request) -> Response:
        if not _may_read_metrics(services, request.headers.get("authorization")):
            return PlainTextResponse("Not found", status_code=404)
        head, applied, _ = await positions(services)
        if head is not None and applied is not None:
            metrics.observe_positions(head, applied)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return metrics_view


def _may_read_metrics(services: Services, header: str | None) -> bool:
    if services.metrics_token is None:
        return services.dev
    presented = bearer_token(header) or ""
    return constant_time_equals(presented, services.metrics_token)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


# --------------------------------------------------------------------------------- app


def create_app(services: Services) -> Starlette:
    metrics = Metrics()
    hub = ProgressHub(services)
    view = GraphQLView(services, metrics, hub)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hub.close()
        if services.desk is not None:  # saves what is queued before the process ends
            await services.run(services.desk.close)

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/", index, methods=["GET", "HEAD"]),
            Mount("/static", PageFiles(directory=STATIC), name="static"),
            Route("/documents/{sha256}", document_endpoint(services), methods=["GET", "HEAD"]),
            Route("/campaigns/{id}", campaign_share_endpoint(services, STATIC / "index.html"),
                  methods=["GET", "HEAD"]),
            Route("/audit/streams/{stream_id}.jsonl", stream_export_endpoint(services),
                  methods=["GET"]),
            Route("/healthz", health_endpoint(services, metrics), methods=["GET", "HEAD"]),
            Route("/metrics", metrics_endpoint(services, metrics), methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.hub = hub
    app.add_middleware(Guard, metrics=metrics)
    https = (services.public_url or "").lower().startswith("https://")
    app.add_middleware(SecurityHeaders, https=https, dev=services.dev)
    return app

