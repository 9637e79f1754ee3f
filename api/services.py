"""Everything the API needs, built once by the composition root (`crowdfund.bootstrap`).

The API never builds its own collaborators: `crowdfund.bootstrap.build_services`
constructs a `Services` and hands it to `api.app.create_app(services)`, for
`crowdfund dev`, `crowdfund api`, the tests and the benchmarks alike.

Fields (keyword arguments; the first seven are required)::

    Services(
        app=crowdfund,                 # application.crowdfund.Crowdfund (the write side)
        read_models=read_models,       # projections.queries.ReadModels (the read side)
        clock=clock,                   # domain.clock.Clock (the platform's business clock)
        tokens=TokenSigner(...),       # bearer tokens, on the real clock
        throttle=SignInThrottle(...),  # back-off per (e-mail, address) and per address
        sessions=SessionGuard(...),    # token verification, revocation, reset tokens
        data_access=SqlDataAccessLog(...),  # records staff reads of personal data
        test_clock=None,               # a SettableClock when `--test-clock`: enables setClock
        broker=None,                   # Kafka bootstrap "host:port" reported by /healthz
        dev=False,                     # GraphiQL on GET /graphql and introspection
        executor=None,                 # a ThreadPoolExecutor for blocking calls; None: Starlette's
        hasher=DEFAULT_HASHER,         # argon2 parameters (tests pass a cheap one)
        broker_check=None,             # optional zero-argument callable -> bool: broker reachable?
        subscription_poll_seconds=0.25,
        caught_up_poll_seconds=0.02,
        log_tree=None,                 # application.transparency.LogTreeStore (proofs, heads)
        public_url=None,               # CROWDFUND_PUBLIC_URL (https: HSTS; links in mail)
        metrics_token=None,            # /metrics needs it as a bearer token (None: dev only)
    )
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from argon2 import PasswordHasher
from starlette.concurrency import run_in_threadpool

from api.security import DEFAULT_HASHER, SignInThrottle, TokenSigner
from api.sessions import SessionGuard
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.data_access import DataAccessLog
from application.pledge_desk import PledgeDesk
from application.pledges import PledgeRequest
from application.sessions import CurrentUsers, ResetMail
from application.transparency import LogTreeStore
from application.unit_of_work import Written
from domain.clock import Clock
from projections.notices import Notices
from projections.queries import ReadModels

T = TypeVar("T")


@dataclass
class Services:
    app: Crowdfund
    read_models: ReadModels
    clock: Clock
    tokens: TokenSigner
    throttle: SignInThrottle
    sessions: SessionGuard
    # Who was shown whose personal data (application.data_access); written before answering.
    data_access: DataAccessLog
    test_clock: SettableClock | None = None
    broker: str | None = None
    dev: bool = False
    executor: Executor | None = None
    hasher: PasswordHasher = DEFAULT_HASHER
    broker_check: Callable[[], bool] | None = None
    subscription_poll_seconds: float = 0.25
    caught_up_poll_seconds: float = 0.02
    # The Merkle tree of the log, its signed heads and keys (logHead, proofs, logKeys).
    log_tree: LogTreeStore | None = None
    # Group commit for pledges: one writer per campaign, many pledges per transaction.
    desk: PledgeDesk | None = None
    # The notifier's notices (read marks are written there); None: no notices.
    notices: Notices | None = None
    public_url: str | None = None
    # Sends password-reset links (None: tokens are made, no mail leaves).
    reset_mail: ResetMail | None = None
    metrics_token: str | None = None
    # Anything else the runtime wants to pass to resolvers (never read by the API itself).
    extras: dict[str, Any] = field(default_factory=dict)
    # Who a request is authenticated as, checked against the store per request.
    users: CurrentUsers = field(init=False)

    def __post_init__(self) -> None:
        self.users = CurrentUsers(self.app)

    async def place_pledge(self, request: PledgeRequest) -> Written[UUID]:
        """Through the desk when there is one; its answer is this pledge's own."""
        if self.desk is None:
            return await self.run(
                self.app.pledges.place, request.backer_id, request.campaign_id, request.amount,
                request.idempotency_key, request.acknowledge_risk,
            )
        return await asyncio.wrap_future(self.desk.submit(request))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (event store, read-model database, argon2) off the event loop."""
        if self.executor is None:
            return await run_in_threadpool(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
