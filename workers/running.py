"""What every long-running worker shares: the trouble that passes (and is retried
with back-off), an interruptible pause, and the Kafka topic it works on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from aiokafka.errors import KafkaError
from eventsourcing import persistence as es
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from adapters.kafka import BrokerUnavailable, TopicError

log = logging.getLogger(__name__)


class TopicMissing(RuntimeError):
    """The broker lost the topic (an embedded broker restarts empty)."""


class Rejoin(RuntimeError):
    """The worker leaves its Kafka consumer group and joins it, or the one its
    consumer's workers moved to, again."""


# Trouble that passes: the broker or a database is away for a while.
RETRYABLE = (
    KafkaError, BrokerUnavailable, TopicError, TopicMissing, Rejoin, OSError, TimeoutError,
    sa.exc.OperationalError, sa.exc.InterfaceError, es.OperationalError, es.InterfaceError,
)


@dataclass(frozen=True)
class KafkaTopic:
    """Where the event log is published: the cluster, the topic and its partition count."""

    bootstrap: str
    name: str
    partitions: int


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def keep_running(
    stop: asyncio.Event, what: str, attempt: Callable[[], Awaitable[None]],
    *, while_down: Callable[[], Awaitable[None]] | None = None,
    backoff: tuple[float, float] = (0.2, 5.0),
) -> None:
    """Run `attempt` until `stop`; after RETRYABLE trouble, run `while_down` (if any) and
    try again with exponential back-off (the pause ends early when `stop` is set)."""

    async def sleep(seconds: float) -> None:
        if while_down is not None:
            await while_down()
        await pause(stop, seconds)

    def report(state: object) -> None:
        outcome = getattr(state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        log.warning("%s: %s: %s; trying again", what, type(error).__name__, error)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RETRYABLE),
        wait=wait_exponential(multiplier=backoff[0], min=backoff[0], max=backoff[1]),
        stop=lambda _state: stop.is_set(),
        sleep=sleep, before_sleep=report, reraise=True,
    )
    with contextlib.suppress(*RETRYABLE):  # the last failure, when stopped meanwhile
        async for trying in retrying:
            with trying:
                while not stop.is_set():
                    await attempt()
