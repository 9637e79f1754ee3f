"""Campaign progress for subscriptions: one poller per API instance, shared by every
subscriber, that reads all watched campaigns in one query per tick and wakes the
subscribers of those whose read model moved (`last_position` changed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from api.services import Services
from projections.views import CampaignView

log = logging.getLogger(__name__)


class ProgressHub:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._queues: dict[str, set[asyncio.Queue[CampaignView]]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def watch(self, campaign_id: str, first: CampaignView) -> AsyncIterator[CampaignView]:
        """`first`, then the campaign's view after each change, until the consumer stops."""
        # Latest state only: a slow consumer skips intermediate states, never lags.
        queue: asyncio.Queue[CampaignView] = asyncio.Queue(maxsize=1)
        self._queues.setdefault(campaign_id, set()).add(queue)
        self._ensure_polling()
        try:
            last = first.last_position
            yield first
            while True:
                view = await queue.get()
                if view.last_position != last:
                    last = view.last_position
                    yield view
        finally:
            watchers = self._queues.get(campaign_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._queues[campaign_id]

    def _ensure_polling(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        services = self._services
        while self._queues:
            await asyncio.sleep(services.subscription_poll_seconds)
            ids = list(self._queues)
            if not ids:
                break
            try:
                views = await services.run(services.read_models.campaigns_by_ids, ids)
            except Exception:  # a database hiccup must not end every subscription
                log.warning("campaign progress poll failed", exc_info=True)
                continue
            for campaign_id, view in views.items():
                for queue in list(self._queues.get(campaign_id, ())):
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                    queue.put_nowait(view)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
