"""Dev tooling: an SMTP server that keeps every message as a file, and a page listing them.

`crowdfund dev` without CROWDFUND_SMTP_URL starts a `MailSink` (aiosmtpd) on a free
local port and mails notices to it: each message is written to
`DIR/mail/<Message-ID>.eml` (RFC 5322, written whole then renamed), so a message sent
twice is one file; `DIR/mail/received.log` gets one line per message received,
which shows a resend. `/dev/mail` lists the messages (dev only).
"""

from __future__ import annotations

import html
import os
import re
import socket
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

RECEIVED_LOG = "received.log"
_SAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def file_name(message_id: str) -> str:
    """`<abc@host>` -> `abc@host.eml` (anything unsafe in a file name replaced)."""
    return _SAFE.sub("_", message_id.strip().strip("<>")) + ".eml"


def read_message(path: Path) -> EmailMessage:
    with open(path, "rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    return message


class _Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(data)
        message_id = str(message.get("Message-ID") or f"<no-id-{os.urandom(8).hex()}>")
        name = file_name(message_id)
        with self.lock:
            temporary = self.directory / f".{name}.tmp"
            temporary.write_bytes(data)
            temporary.replace(self.directory / name)
            with open(self.directory / RECEIVED_LOG, "a") as log:
                log.write(f"{message_id}\n")
        return "250 Message accepted for delivery"


class MailSink:
    """An embedded SMTP server writing messages into `directory`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self.port = port or _free_port(host)
        self.controller = Controller(_Keeper(directory), hostname=host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> MailSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def received(directory: Path) -> list[str]:
    """The Message-ID of every message received, in order, resends included."""
    path = directory / RECEIVED_LOG
    return path.read_text().split() if path.exists() else []


# The dev inbox page -----------------------------------------------------------------------


def inbox_routes(directory: Path) -> list[Route]:
    """`/dev/mail` (the list) and `/dev/mail/{name}` (one message), for `crowdfund dev`."""

    async def inbox(request: Request) -> Response:
        files = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
        rows = []
        for path in files[:500]:
            message = read_message(path)
            rows.append(
                f"<tr><td>{html.escape(str(message.get('Date', '')))}</td>"
                f"<td>{html.escape(str(message.get('To', '')))}</td>"
                f"<td><a href=\"/dev/mail/{html.escape(path.name)}\">"
                f"{html.escape(str(message.get('Subject', '')))}</a></td></tr>")
        body = "".join(rows) or "<tr><td colspan=3>No mail yet.</td></tr>"
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Dev mail</title>"
            "<style>body{font-family:sans-serif}td{padding:.2em .6em;border-bottom:1px solid #ddd}"
            "</style><h1>Dev mail</h1>"
            f"<p>{len(files)} message(s) in {html.escape(str(directory))} (crowdfund dev only)."
            f"</p><table data-testid=dev-mail><tr><th>Date</th><th>To</th><th>Subject</th></tr>"
            f"{body}</table>")

    async def one(request: Request) -> Response:
        name = str(request.path_params["name"])
        path = directory / name
        if not name.endswith(".eml") or "/" in name or name.startswith(".") or \
                not path.is_file():
            return PlainTextResponse("No such message.", status_code=404)
        message = read_message(path)
        text = message.get_body(preferencelist=("plain",))
        content = text.get_content() if text is not None else ""
        headers = "".join(
            f"<dt>{h}</dt><dd>{html.escape(str(message.get(h, '')))}</dd>"
            for h in ("From", "To", "Subject", "Date", "Message-ID"))
        return HTMLResponse(
            f"<!doctype html><meta charset=utf-8><title>{html.escape(name)}</title>"
            f"<p><a href=\"/dev/mail\">All mail</a></p><dl>{headers}</dl>"
            f"<pre style=\"white-space:pre-wrap\">{html.escape(content)}</pre>")

    return [Route("/dev/mail", inbox, methods=["GET"]),
            Route("/dev/mail/{name}", one, methods=["GET"])]
