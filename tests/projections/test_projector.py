"""The projector without Kafka: dedupe, gaps, partition-count changes, queries."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from application.clock import SettableClock
from crowdfund.bootstrap import kafka_topic, read_model_url
from crowdfund.settings import Settings
from domain.rulebook import Regime
from projections.envelope import (
    MAX_MESSAGE_BYTES,
    Message,
    decode,
    encode_bounded,
    partition_for,
    to_message,
)
from projections.projector import Projector
from projections.queries import InvalidCursor, ReadModels, applied_through
from projections.source import StoreLog
from tests.conftest import START, Store
from tests.projections.conftest import assert_same, dump, reference
from tests.projections.workload import realistic
from tests.scenario import live_campaign, pledge, staff, verified_backer
from workers.projections import ProjectionWorker


def messages(log: StoreLog, partitions: int) -> dict[int, list[Message]]:
    """What the relay would publish, partition by partition."""
    out: dict[int, list[Message]] = {p: [] for p in range(partitions)}
    last: dict[int, int] = {}
    for note in log.read(0, 1_000_000, None):
        record = log.record(note)
        partition = partition_for(record.stream_id, partitions)
        out[partition].append(Message(record, partitions, last.get(partition, 0)))
        last[partition] = record.position
    return out


def feed(projector: Projector, log: StoreLog, batch: dict[int, list[Message]], count: int) -> None:
    """The worker's loop: apply, catch up each gap from the store, retry the rest."""
    while batch:
        result = projector.apply_messages(batch, count)
        batch = {}
        for gap in result.gaps:
            projector.catch_up(log, {gap.partition}, count, gap.upto)
            batch[gap.partition] = gap.rest


@pytest.fixture
def history_log(store: Store, clock: SettableClock) -> StoreLog:
    app = store.open(clock)
    realistic(app, clock)
    return StoreLog(app)


def test_redelivered_lost_and_reordered_messages_converge(
    store: Store, history_log: StoreLog, settings: Settings, tmp_path: Path
) -> None:
    projector = Projector(read_model_url(settings))
    assert projector.init_tracking(4) == 4
    published = messages(history_log, 4)
    rng = random.Random(7)
    for partition, stream in published.items():
        half = len(stream) // 2
        feed(projector, history_log, {partition: stream[:half]}, 4)
        # A redelivery of everything, with a third of the messages lost and some reordered.
        rest = [m for m in stream if rng.random() > 0.33]
        early = rest[: len(rest) // 3]
        rng.shuffle(early)
        rest = early + rest[len(early):]
        feed(projector, history_log, {partition: stream[:half] + rest}, 4)
    head = history_log.head()
    projector.catch_up(history_log, range(4), 4, head)  # the idle check's catch-up
    assert min(projector.tracking().values()) >= head
    assert_same(dump(projector.engine), reference(store, tmp_path))
    projector.engine.dispose()


def test_a_partition_count_change_keeps_exactly_once(
    store: Store, history_log: StoreLog, settings: Settings, tmp_path: Path
) -> None:
    projector = Projector(read_model_url(settings))
    projector.init_tracking(4)
    old = messages(history_log, 4)
    feed(projector, history_log, {0: old[0], 2: old[2][:5]}, 4)
    projector.normalise(history_log, 3)
    assert set(projector.tracking().values()) == {history_log.head()}
    new = messages(history_log, 3)
    feed(projector, history_log, new, 3)  # all duplicates now
    assert_same(dump(projector.engine), reference(store, tmp_path))
    projector.engine.dispose()


def test_applied_through_needs_every_partition() -> None:
    # (partition, count, watermark); relay: (count, published, partition, last there)
    tracking = [(0, 3, 10), (1, 3, 7), (2, 3, 2)]
    assert applied_through(tracking, []) == 2
    relay = [(3, 12, 0, 10), (3, 12, 1, 11), (3, 12, 2, 2)]
    assert applied_through(tracking, relay) == 7  # partition 1 still misses 11
    relay = [(3, 12, 0, 10), (3, 12, 1, 7), (3, 12, 2, 2)]
    assert applied_through(tracking, relay) == 12  # each has all it was sent
    assert applied_through(tracking, [(4, 12, 0, 10)]) == 2  # another count: ignore the relay
    assert applied_through([], relay) == 0
    assert applied_through([(0, 2, 5)], []) == 0  # a half-written tracking promises nothing


def test_queries_page_and_derive(
    store: Store, clock: SettableClock, settings: Settings
) -> None:
    app = store.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    campaigns = [live_campaign(app, team, title=f"C{n}") for n in range(5)]
    ecsp = live_campaign(app, team, regime=Regime.ECSP, title="EU")
    reg_cf_pledge = pledge(app, backer, campaigns[0], "100.00")
    ecsp_pledge = pledge(app, backer, ecsp, "100.00")
    projector = Projector(read_model_url(settings))
    projector.init_tracking(2)
    log = StoreLog(app)
    projector.catch_up(log, range(2), 2, log.head())
    models = ReadModels(read_model_url(settings), topic=settings.topic)

    first = models.campaigns("LIVE", first=4)
    assert (first.total_count, first.has_next_page) == (6, True)
    assert [c.title for c in first.items] == ["C0", "C1", "C2", "C3"]
    second = models.campaigns("LIVE", first=4, after=first.end_cursor)
    assert [c.title for c in second.items] == ["C4", "EU"] and not second.has_next_page
    assert models.campaigns("DRAFT").total_count == 0
    with pytest.raises(InvalidCursor):
        models.campaigns(after="bogus")
    assert set(models.campaigns_by_ids([str(c) for c in campaigns[:2]] + ["x"])) == {
        str(c) for c in campaigns[:2]}

    reg_cf = models.pledge(str(reg_cf_pledge))
    eu = models.pledge(str(ecsp_pledge))
    assert reg_cf is not None and eu is not None
    assert reg_cf.campaign_deadline == START + timedelta(days=30)  # the window follows it
    assert eu.reflection_ends == START + timedelta(days=4)  # the reflection period
    page = models.pledges_for_campaign(str(campaigns[0]), first=10)
    assert page.total_count == 1 and page.items[0].id == str(reg_cf_pledge)
    assert [p.id for p in models.pledges_for_backer(str(backer))] == [
        str(reg_cf_pledge), str(ecsp_pledge)]
    assert models.investor_usage(str(backer), "REG_CF", START - timedelta(days=365)) == (
        Decimal("100.00"))
    assert models.investor_usage(str(backer), "ECSP", START - timedelta(days=1)) == (
        Decimal("100.00"))
    escrow = models.escrow(str(ecsp))
    assert escrow is not None and (escrow.currency, escrow.held) == ("EUR", Decimal("100.00"))
    assert models.escrow("no-such-campaign") is None and models.campaign("nope") is None
    assert models.holdings(str(ecsp)) == [] and models.distributions(str(ecsp)) == []
    user = models.user(str(backer))
    assert user is not None and user.kyc_status == "VERIFIED" and user.country == "US"
    assert models.applied_through() == log.head()
    models.close()
    projector.engine.dispose()


def test_an_oversized_event_travels_without_its_payload(
    history_log: StoreLog, settings: Settings
) -> None:
    record = history_log.record(history_log.read(0, 1, None)[0])
    huge = replace(record, payload={**record.payload, "filler": "x" * 1_000_000})
    value = encode_bounded(to_message(huge, 4, 0))
    assert len(value) < MAX_MESSAGE_BYTES and b"filler" not in value
    message = decode(value)
    assert not message.complete and message.record.position == record.position
    worker = ProjectionWorker(
        read_model_url(settings), history_log, kafka_topic(settings, "127.0.0.1:9")
    )
    (completed,) = worker._completed([message])
    assert completed.complete and completed.record == record  # read from the store
    worker.projector.engine.dispose()
