"""Fixtures for the embedded broker tests: a fresh broker per test (it starts in ~30 ms)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from crowdfund.embedded_broker import EmbeddedBroker


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """A running embedded broker on a free port, stopped (and reaped) afterwards."""
    embedded = EmbeddedBroker()
    await embedded.start_async()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"
