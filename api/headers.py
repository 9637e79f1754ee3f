"""Security headers on every HTTP response, and what the page's static files are.

The page is same-origin ES modules and a stylesheet: its Content-Security-Policy
allows scripts, styles, fonts and connections from the origin only (`connect-src
'self'` covers the same-origin WebSocket), images from the origin and `data:`
URLs (the TOTP QR code is an SVG data URL), and no inline script, no `eval`, no
plugin, no framing (`frame-ancestors 'none'` and `X-Frame-Options: DENY`
against clickjacking). GraphiQL and the dev mail pages (dev only) need inline
script and style: their responses get a looser policy, still unframeable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
))
# GraphiQL's page and the mail sink's (dev only) are inline script and styles.
DEV_TOOLS_POLICY = "; ".join((
    "default-src 'self' https://unpkg.com",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval' https://unpkg.com",
    "style-src 'self' 'unsafe-inline' https://unpkg.com",
    "img-src 'self' data: https://unpkg.com",
    "font-src 'self' data: https://unpkg.com",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
))
HSTS = "max-age=63072000; includeSubDomains"
BASE_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    """Adds the headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, https: bool, dev: bool) -> None:
        self.app = app
        self.headers = [*BASE_HEADERS, *([("Strict-Transport-Security", HSTS)] if https else [])]
        self.dev = dev

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self._for(path, headers.get("content-type", "")):
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)

    def _for(self, path: str, content_type: str) -> Iterable[tuple[str, str]]:
        yield from self.headers
        # Dev tools (GraphiQL, the mail sink's /dev/ pages) are inline script and style.
        tool = self.dev and content_type.startswith("text/html") and (
            path == "/graphql" or path.startswith("/dev/"))
        yield "Content-Security-Policy", DEV_TOOLS_POLICY if tool else PAGE_POLICY
        if path == "/graphql":  # answers carry tokens and personal data
            yield "Cache-Control", "no-store"


# What the page is made of; anything else in the folder (notes such as TESTIDS.md) is
# not served.
PAGE_FILE_TYPES = frozenset({
    ".js", ".mjs", ".css", ".html", ".svg", ".png", ".jpg", ".jpeg", ".webp", ".ico",
    ".woff", ".woff2", ".map", ".json",
})


class PageFiles(StaticFiles):
    """Static files limited to the page's own file types."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if os.path.splitext(path)[1].lower() not in PAGE_FILE_TYPES:
            return "", None
        return super().lookup_path(path)
