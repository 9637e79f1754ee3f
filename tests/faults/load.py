"""A steady pledge load over HTTP that keeps an exact ledger of what was acknowledged.

Each pledge has its own idempotency key. A request whose outcome the client cannot
know (connection refused or reset, a timeout, a 5xx, a GraphQL error instead of an
answer, a CONCURRENT_UPDATE refusal) is sent again with the SAME key, with backoff,
for a bounded time; after that the pledge is `unresolved` and `resolve()` retries it
once the platform is whole again, which is what a real client does.

Outcomes:
- `acked`: the answer was PledgeSaved (its pledge id must equal the id the key names);
- `refused`: the answer was a Problem (the code is kept, and on which attempt);
- `unresolved`: no answer in time.

A small share of operations cancels an acknowledged pledge of a long-running
campaign; cancellations are tracked the same way.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from domain.pledge import pledge_id_for
from tests.faults.world import Backer, Offering, World

PLEDGE = """mutation P($input: PledgeInput!) { pledge(input: $input) { __typename
  ... on PledgeSaved { position pledge { id amount status } }
  ... on Problem { code message } } }"""
CANCEL = """mutation C($id: ID!) { cancelPledge(pledgeId: $id) { __typename
  ... on PledgeSaved { position pledge { id status } }
  ... on Problem { code message } } }"""
RETRY_WINDOW = 25.0  # seconds a client keeps retrying one request
REQUEST_TIMEOUT = 15.0
RETRYABLE_CODES = frozenset({"CONCURRENT_UPDATE"})


@dataclass
class Intent:
    key: str
    backer: Backer
    offering: Offering
    amount: Decimal
    outcome: str = "pending"  # acked | refused | unresolved
    code: str | None = None
    attempts: int = 0
    # Cancellation of this (acknowledged) pledge: None, or acked | refused | unresolved.
    cancel: str | None = None
    cancel_attempts: int = 0
    cancel_code: str | None = None
    resolved_late: bool = False  # unresolved during the load, settled by `resolve()`

    @property
    def pledge_id(self) -> str:
        return str(pledge_id_for(self.backer.id, self.key))

    def variables(self) -> dict[str, Any]:
        return {"input": {"campaignId": self.offering.id, "amount": str(self.amount),
                          "idempotencyKey": self.key, "acknowledgeRisk": True}}


@dataclass
class Ledger:
    intents: list[Intent] = field(default_factory=list)
    requests: int = 0
    transport_errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    graphql_errors: int = 0
    mismatched_ids: list[str] = field(default_factory=list)

    def by_outcome(self, outcome: str) -> list[Intent]:
        return [i for i in self.intents if i.outcome == outcome]

    def summary(self) -> dict[str, Any]:
        refused = Counter(i.code for i in self.intents if i.outcome == "refused")
        return {
            "pledges sent": len(self.intents),
            "acknowledged": len(self.by_outcome("acked")),
            "refused": dict(refused),
            "unresolved": len(self.by_outcome("unresolved")),
            "resolved after the load": sum(i.resolved_late for i in self.intents),
            "cancellations acknowledged": sum(i.cancel == "acked" for i in self.intents),
            "requests": self.requests,
            "retried after": dict(self.transport_errors),
            "http statuses": dict(self.statuses),
            "graphql errors": self.graphql_errors,
        }


class LoadClient:
    def __init__(self, base_url: str, world: World, seed: int, *, concurrency: int = 6,
                 cancel_share: float = 0.05) -> None:
        self.base_url = base_url
        self.world = world
        self.seed = seed
        self.concurrency = concurrency
        self.cancel_share = cancel_share
        self.ledger = Ledger()
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=0),
        )
        self.long = [o for o in world.offerings if not o.short]

    async def close(self) -> None:
        await self.client.aclose()

    # --- one request, retried with the same body -----------------------------------

    async def _send(self, document: str, variables: dict[str, Any], token: str, field_: str,
                    window: float) -> tuple[dict[str, Any] | None, int]:
        """(the mutation's answer, attempts); None when no answer came within `window`."""
        began = time.monotonic()
        delay = 0.1
        attempts = 0
        while True:
            attempts += 1
            self.ledger.requests += 1
            answer = None
            try:
                response = await self.client.post(
                    "/graphql", json={"query": document, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                self.ledger.statuses[response.status_code] += 1
                if response.status_code == 200:
                    body = response.json()
                    data = body.get("data") or {}
                    answer = data.get(field_)
                    if answer is None:
                        self.ledger.graphql_errors += 1
            except (httpx.TransportError, ValueError) as exc:
                self.ledger.transport_errors[type(exc).__name__] += 1
            if answer is not None and answer.get("code") not in RETRYABLE_CODES:
                return answer, attempts
            if time.monotonic() - began > window:
                return None, attempts
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.5)

    async def pledge(self, intent: Intent, window: float = RETRY_WINDOW) -> None:
        answer, attempts = await self._send(PLEDGE, intent.variables(), intent.backer.token,
                                            "pledge", window)
        intent.attempts += attempts
        if answer is None:
            intent.outcome = "unresolved"
        elif answer["__typename"] == "PledgeSaved":
            intent.outcome = "acked"
            if answer["pledge"]["id"] != intent.pledge_id:
                self.ledger.mismatched_ids.append(intent.key)
        else:
            intent.outcome, intent.code = "refused", answer["code"]

    async def cancel(self, intent: Intent, window: float = RETRY_WINDOW) -> None:
        answer, attempts = await self._send(CANCEL, {"id": intent.pledge_id},
                                            intent.backer.token, "cancelPledge", window)
        intent.cancel_attempts += attempts
        if answer is None:
            intent.cancel = "unresolved"
        elif answer["__typename"] == "PledgeSaved" and answer["pledge"]["status"] == "CANCELLED":
            intent.cancel = "acked"
        else:
            intent.cancel, intent.cancel_code = "refused", answer.get("code")

    # --- the load ----------------------------------------------------------------------

    def _new_intent(self, rng: random.Random) -> Intent:
        backer = rng.choice(self.world.backers)
        now = time.time()
        open_short = [o for o in self.world.short_offerings
                      if o.deadline.timestamp() > now - 2]  # a little past: refused, fine
        roll = rng.random()
        if open_short and roll < 0.3:
            offering = rng.choice(open_short)
        elif roll < 0.65:
            offering = rng.choice([o for o in self.long if o.regime == "ECSP"])
        else:
            offering = rng.choice([o for o in self.long if o.regime == "REG_CF"])
        if offering.regime == "REG_CF":
            amount = Decimal(rng.randrange(10, 41) * 10)
        else:
            amount = Decimal(rng.randrange(10, 301))
        intent = Intent(f"load-{uuid.UUID(int=rng.getrandbits(128)).hex}", backer, offering,
                        amount.quantize(Decimal("0.01")))
        self.ledger.intents.append(intent)
        return intent

    async def _worker(self, number: int, until: float) -> None:
        rng = random.Random(self.seed * 1000 + number)
        while time.monotonic() < until:
            if rng.random() < self.cancel_share:
                candidates = [i for i in self.ledger.intents if i.outcome == "acked"
                              and i.cancel is None and not i.offering.short]
                if candidates:
                    target = rng.choice(candidates)
                    target.cancel = "pending"
                    await self.cancel(target)
                    continue
            await self.pledge(self._new_intent(rng))

    async def run(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(self._worker(n, until) for n in range(self.concurrency)))

    async def resolve(self, window: float = 60.0) -> None:
        """Send every unresolved request again (same key) until it gets an answer."""
        for intent in self.ledger.intents:
            if intent.outcome in ("unresolved", "pending"):
                intent.resolved_late = True
                await self.pledge(intent, window)
            if intent.cancel in ("unresolved", "pending"):
                intent.resolved_late = True
                await self.cancel(intent, window)
