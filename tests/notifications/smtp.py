"""An SMTP server for tests whose behaviour can be switched while it runs: it accepts
(writing files as the dev sink does), refuses every recipient, or hangs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from crowdfund.mail_sink import MailSink, _Keeper


class _Switchable(_Keeper):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.mode = "accept"
        self.refused = 0
        self.hung = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.mode == "refuse":
            self.refused += 1
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.mode == "hang":
            self.hung += 1
            while self.mode == "hang":
                await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


class SwitchableSink(MailSink):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.handler = _Switchable(directory)
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)

    def set(self, mode: str) -> None:
        assert mode in ("accept", "refuse", "hang")
        self.handler.mode = mode
