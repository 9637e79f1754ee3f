"""Per-request context: who is asking, and the request's DataLoaders.

The bearer token only says who the caller claims to be; roles are always read
from the write model's user record (a token outlives a role change), as the store
has it when the request began (`application.sessions.CurrentUsers`: another API
process may have changed it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from api.metrics import Metrics
from api.progress import ProgressHub
from api.security import TokenClaims
from api.services import Services
from application.data_access import DataAccess
from domain.errors import NotFoundError
from domain.user import STAFF, Role
from domain.user import User as UserRecord
from projections.views import CampaignView, DocumentView, OfferingView


@dataclass(frozen=True)
class Viewer:
    """The signed-in caller, as the write model knows them now: `roles` in force, and
    the staff roles they hold but may not use before they enable TOTP (`awaiting`)."""

    id: str
    roles: frozenset[str]
    awaiting: frozenset[str] = frozenset()

    @classmethod
    def of(cls, user: UserRecord) -> Viewer:
        return cls(str(user.id), frozenset(user.roles_in_force()),
                   frozenset(user.roles_awaiting_totp()))

    def has(self, *roles: Role) -> bool:
        return any(r.value in self.roles for r in roles)

    def awaits_totp(self, *roles: Role) -> bool:
        return any(r.value in self.awaiting for r in roles)

    def holds(self, role: Role) -> bool:
        """Holds `role`, in force or not (an auditor is read-only either way)."""
        return self.has(role) or self.awaits_totp(role)

    @property
    def is_staff(self) -> bool:
        return self.has(*STAFF)


def _loader(
    load: Callable[[list[Any]], Awaitable[Sequence[Any]]], *, cache: bool
) -> DataLoader[Any, Any]:
    return DataLoader(load_fn=load, cache=cache)


@dataclass
class Loaders:
    """Batching (and, per HTTP request, caching) of nested reads."""

    services: Services
    cache: bool = True
    users: DataLoader[str, UserRecord | None] = field(init=False)
    campaigns: DataLoader[str, CampaignView | None] = field(init=False)
    backed_founders: DataLoader[str, frozenset[str]] = field(init=False)
    offerings: DataLoader[str, OfferingView | None] = field(init=False)
    documents: DataLoader[str, list[DocumentView]] = field(init=False)

    def __post_init__(self) -> None:
        self.users = _loader(self._load_users, cache=self.cache)
        self.campaigns = _loader(self._load_campaigns, cache=self.cache)
        self.backed_founders = _loader(self._load_backed_founders, cache=self.cache)
        self.offerings = _loader(self._load_offerings, cache=self.cache)
        self.documents = _loader(self._load_documents, cache=self.cache)

    async def _load_offerings(self, ids: list[str]) -> list[OfferingView | None]:
        by_id = await self.services.run(self.services.read_models.offerings_by_ids, ids)
        return [by_id.get(i) for i in ids]

    async def _load_documents(self, ids: list[str]) -> list[list[DocumentView]]:
        by_id = await self.services.run(self.services.read_models.documents_by_campaigns, ids)
        return [by_id.get(i, []) for i in ids]

    async def _load_users(self, ids: list[str]) -> list[UserRecord | None]:
        app = self.services.app

        def load() -> list[UserRecord | None]:
            found: list[UserRecord | None] = []
            for user_id in ids:
                try:
                    found.append(app.user(user_id))
                except NotFoundError:
                    found.append(None)
            return found

        return await self.services.run(load)

    async def _load_campaigns(self, ids: list[str]) -> list[CampaignView | None]:
        by_id = await self.services.run(self.services.read_models.campaigns_by_ids, ids)
        return [by_id.get(i) for i in ids]

    async def _load_backed_founders(self, backer_ids: list[str]) -> list[frozenset[str]]:
        """Per backer: the founders of the campaigns they back (e-mail visibility)."""
        read_models = self.services.read_models

        def load() -> list[frozenset[str]]:
            result = []
            for backer_id in backer_ids:
                campaign_ids = list({
                    p.campaign_id for p in read_models.pledges_for_backer(backer_id)
                    if p.status != "CANCELLED"
                })
                views = read_models.campaigns_by_ids(campaign_ids)
                result.append(frozenset(v.founder_id for v in views.values()))
            return result

        return await self.services.run(load)


@dataclass
class Context:
    services: Services
    request: Any  # starlette Request or WebSocket
    viewer: Viewer | None = None
    # "none": no token sent; "invalid": a token that did not verify; "valid".
    token_state: str = "none"
    claims: TokenClaims | None = None
    client_ip: str | None = None
    loaders: Loaders = field(init=False)
    # Set by Strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, Any] | None = None
    streaming: bool = False
    metrics: Metrics | None = None
    hub: ProgressHub | None = None

    # (subject id, purpose) -> recorded; batched so a list of users is one insert.
    _shown: DataLoader[tuple[str, str], None] = field(init=False)

    def __post_init__(self) -> None:
        # A WebSocket context lives as long as the connection: never cache there.
        self.loaders = Loaders(self.services, cache=not self.streaming)
        self._shown = _loader(self._record_shown, cache=not self.streaming)

    async def shown(self, subject_id: str, purpose: str) -> None:
        """Record that the viewer is about to be shown `subject_id`'s personal data (once
        per request and purpose; nothing when they are the subject). Raises
        `DataAccessUnavailable` when it cannot be recorded: the data must then not be shown."""
        if self.viewer is not None and self.viewer.id != subject_id:
            await self._shown.load((subject_id, purpose))

    async def _record_shown(self, keys: list[tuple[str, str]]) -> list[None]:
        assert self.viewer is not None
        at = self.services.clock.now()
        accesses = [DataAccess(self.viewer.id, subject, at, purpose) for subject, purpose in keys]
        await self.services.run(self.services.data_access.record, accesses)
        return [None] * len(keys)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class Session:
    """Who a request's token names: the viewer, the token's state and claims."""

    viewer: Viewer | None
    state: str  # "none": no token; "invalid": expired, revoked, forged; "valid"
    claims: TokenClaims | None = None


async def authenticate(services: Services, header: str | None) -> Session:
    """The session named by an `Authorization` header value (one trip off the loop:
    the signature, the revocations and the user record)."""
    if not header:
        return Session(None, "none")
    token = bearer_token(header)
    if not token:
        return Session(None, "invalid")

    def load() -> Session:
        claims = services.sessions.verify(token)
        if claims is None:
            return Session(None, "invalid")
        try:
            user = services.users.user(claims.user_id)
        except NotFoundError:
            return Session(None, "invalid")
        return Session(Viewer.of(user), "valid", claims)

    return await services.run(load)
