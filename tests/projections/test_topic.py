"""What travels on the topic: the runtime.md envelope, and no personal data."""

from __future__ import annotations

import json
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from eventsourcing.cipher import AESCipher

from application.clock import SettableClock
from crowdfund.embedded_broker import EmbeddedBroker
from crowdfund.settings import Settings
from domain.user import User
from projections.envelope import partition_for
from projections.queries import ReadModels
from tests.conftest import Store
from tests.projections.conftest import PARTITIONS, Pipeline, caught_up
from tests.projections.workload import EMAIL_DOMAIN, INCOMES, LEGAL_NAME, NET_WORTHS, realistic
from tests.scenario import PASSWORD_HASH

KEYS = {"schema", "position", "streamId", "streamType", "version", "type", "occurredAt",
        "payload", "hash", "prevHash"}


async def read_topic(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes]]:
    """Every message as (partition, key, value), with a plain aiokafka consumer."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[tuple[int, bytes, bytes]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                found += [(tp.partition, r.key or b"", r.value or b"") for r in records]
        return found
    finally:
        await consumer.stop()


async def test_envelopes_carry_ids_and_amounts_but_no_personal_data(
    store: Store, clock: SettableClock, settings: Settings, read_models: ReadModels,
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    key = AESCipher.create_key(num_bytes=32)  # personal data encrypted at rest, too
    pipeline = Pipeline(settings, store, clock, broker.bootstrap, cipher_key=key)
    pipeline.start_relay()
    pipeline.start_projections()
    try:
        app = store.open(clock, cipher_key=key)
        history = realistic(app, clock)
        head = await caught_up(read_models, store)
    finally:
        await pipeline.close()
    backer: User = app.user(history.backers[0])
    assert backer.profile is not None and backer.profile.legal_name == LEGAL_NAME  # the bait

    messages = await read_topic(broker.bootstrap, settings.topic)
    stored = {n.id: n for n in app.recorder.select_notifications(1, head + 10)}
    seen = {}
    for partition, key_bytes, value in messages:
        envelope = json.loads(value)
        assert set(envelope) >= KEYS and envelope["schema"] == 1
        assert key_bytes.decode() == envelope["streamId"]
        assert partition == partition_for(envelope["streamId"], PARTITIONS)
        event = app.mapper.to_domain_event(stored[envelope["position"]])
        assert (envelope["version"], envelope["hash"]) == (
            event.originator_version, event.hash)  # type: ignore[attr-defined]
        assert envelope["type"] == type(event).__name__
        assert envelope["streamType"] == type(event).__qualname__.split(".")[0]
        seen[envelope["position"]] = envelope
    assert set(seen) == set(stored)  # one message (at least) per stored event

    raw = b"\n".join(value for _, _, value in messages)
    bait = [EMAIL_DOMAIN, LEGAL_NAME, PASSWORD_HASH, "1990-04-30", *INCOMES, *NET_WORTHS]
    for secret in bait:
        assert secret.encode() not in raw, secret
    registered = [e for e in seen.values() if e["type"] == "UserRegistered"]
    assert registered and all("email" not in e["payload"] for e in registered)
    profiles = [e for e in seen.values() if e["type"] == "InvestorProfileSubmitted"]
    assert profiles and set(profiles[0]["payload"]) == {
        "country", "accredited", "sophisticated", "knowledge_test_passed"}
