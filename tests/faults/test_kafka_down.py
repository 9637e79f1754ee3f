"""The API answers while Kafka is down: writes go on, /healthz reports degraded (not a
5xx), and once the broker is back (empty) the read models catch up.

The production topology: `crowdfund api`, the relay, two projection workers and the
scheduler as processes, on PostgreSQL and an embedded broker that this test stops.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.load import PLEDGE
from tests.faults.platform import Platform, running_platform
from tests.faults.world import World, build_world

# Many processes, each with its pools: never beside another such suite on the shared
# PostgreSQL server (`make test` runs `serial` tests alone, after the rest).
pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.serial]

MY_PLEDGES = "{ myPledges { id status } }"
CAMPAIGN = "query($id: ID!) { campaign(id: $id) { id status raised } }"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path / "run") as running:
        yield running


def pledge(platform: Platform, world: World, backer: int, amount: str) -> int:
    """Place one pledge on the long ECSP campaign; its log position."""
    offering = next(o for o in world.offerings if o.name == "ecsp-big")
    body = platform.graphql(PLEDGE, {"input": {
        "campaignId": offering.id, "amount": amount, "idempotencyKey": uuid.uuid4().hex,
        "acknowledgeRisk": True}}, world.backers[backer].token)
    answer = body["data"]["pledge"]
    assert answer["__typename"] == "PledgeSaved", answer
    return int(answer["position"])


def caught_up(platform: Platform, position: int, timeout_ms: int) -> bool:
    return platform.wait_caught_up(position, timeout_ms / 1000)


def wait_health(platform: Platform, status: str, timeout: float) -> dict[str, Any]:
    """The first /healthz body with this status; the last one seen if none within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = platform.health()
        assert code == 200, (code, body)  # degraded is still a 200: the API serves
        if body["status"] == status or time.monotonic() > deadline:
            return body
        time.sleep(0.25)


def test_writes_go_on_while_kafka_is_down_and_read_models_catch_up(
    platform: Platform,
) -> None:
    app = platform.open_app()
    try:
        world = build_world(app, platform.secret_key, short_waves=0)
    finally:
        app.close()
    first = pledge(platform, world, 0, "25.00")
    assert caught_up(platform, first, 30_000), "the pipeline never caught up with Kafka up"
    assert wait_health(platform, "ok", 30)["status"] == "ok"

    platform.stop_broker()
    try:
        positions = [pledge(platform, world, n % len(world.backers), f"{20 + n}.00")
                     for n in range(12)]
        # Reads keep working from the read models.
        offering = next(o for o in world.offerings if o.name == "ecsp-big")
        read = platform.graphql(CAMPAIGN, {"id": offering.id})
        assert read["data"]["campaign"]["status"] == "LIVE", read
        during_outage = wait_health(platform, "degraded", 15)
    finally:
        platform.start_broker()  # empty: the relay must re-create the topic

    assert caught_up(platform, max(positions), 60_000), "read models did not catch up"
    mine = platform.graphql(MY_PLEDGES, token=world.backers[0].token)["data"]["myPledges"]
    assert len(mine) == 1 + len([n for n in range(12) if n % len(world.backers) == 0])
    assert wait_health(platform, "ok", 30)["status"] == "ok"
    # More writes after the outage flow through the new topic.
    after = pledge(platform, world, 1, "33.00")
    assert caught_up(platform, after, 30_000)
    codes = platform.stop()
    assert codes == dict.fromkeys(codes, 0), codes
    # Last, so that a failure here does not hide the checks above: while the broker was
    # down, /healthz must have said so.
    assert during_outage["status"] == "degraded", (
        f"/healthz said {during_outage} with the broker down")
    assert "broker" in during_outage.get("problems", []), during_outage
