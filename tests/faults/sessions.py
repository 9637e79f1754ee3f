"""Sessions under fire: beside the pledge load, one client signs in and out over and
over while processes die and PostgreSQL restarts, and probes every token it signed
out. The invariant: once signOut answered `SignedOut`, the token is refused by the
API for good (after an API restart and a PostgreSQL restart too). 5xx answers
(503 while the database restarts) are counted in the report.
A sign-out whose answer was lost is not counted (the client cannot know).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.faults.world import World

SIGN_IN = """mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) {
  __typename ... on AuthPayload { token } ... on Problem { code } } }"""
SIGN_OUT = "mutation { signOut { __typename ... on Problem { code } } }"
ME = "{ me { id } }"
TIMEOUT = 10.0


@dataclass
class SessionLedger:
    sign_ins: int = 0
    sign_outs: int = 0
    server_errors: int = 0
    signed_out: list[str] = field(default_factory=list)
    accepted_after_sign_out: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"sign-ins": self.sign_ins, "sign-outs acknowledged": self.sign_outs,
                "5xx": self.server_errors,
                "signed-out tokens accepted": len(self.accepted_after_sign_out)}


class SessionProbe:
    def __init__(self, base_url: str, world: World) -> None:
        self.world = world
        self.ledger = SessionLedger()
        self.client = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT)

    async def close(self) -> None:
        await self.client.aclose()

    async def _post(self, query: str, variables: dict[str, Any] | None = None,
                    token: str | None = None) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.client.post(
                "/graphql", json={"query": query, "variables": variables or {}},
                headers=headers)
        except httpx.TransportError:
            return None
        if response.status_code >= 500:
            self.ledger.server_errors += 1
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def accepted(self, token: str) -> bool | None:
        """Whether the API takes the token (None: no answer)."""
        body = await self._post(ME, token=token)
        if body is None:
            return None
        data = body.get("data") or {}
        return bool(data.get("me"))

    async def run(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            body = await self._post(SIGN_IN, {"e": self.world.session_email,
                                              "p": self.world.session_password})
            answer = ((body or {}).get("data") or {}).get("signIn") or {}
            if answer.get("__typename") != "AuthPayload":
                await asyncio.sleep(0.3)
                continue
            self.ledger.sign_ins += 1
            token = answer["token"]
            out = await self._post(SIGN_OUT, token=token)
            if ((out or {}).get("data") or {}).get("signOut", {}).get("__typename") \
                    == "SignedOut":
                self.ledger.sign_outs += 1
                self.ledger.signed_out.append(token)
            await self.probe()
            await asyncio.sleep(0.2)

    async def probe(self) -> None:
        """Every token signed out so far must be refused (unanswered probes skipped)."""
        for token in self.ledger.signed_out[-20:]:
            if await self.accepted(token) and token not in self.ledger.accepted_after_sign_out:
                self.ledger.accepted_after_sign_out.append(token)
