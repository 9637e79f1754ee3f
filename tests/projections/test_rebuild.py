"""Rebuilding read models from the event store gives the live read models back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from application.clock import SettableClock
from crowdfund.bootstrap import read_model_url
from crowdfund.settings import Settings
from projections.consumers import PROJECTIONS
from projections.queries import ReadModels
from projections.rebuild import rebuild_read_models
from projections.source import StoreLog
from tests.conftest import Store
from tests.projections.conftest import Pipeline, assert_same, caught_up, dump, reference
from tests.projections.workload import realistic
from tests.scenario import pledge


async def test_rebuild_equals_live_row_for_row(
    store: Store, clock: SettableClock, settings: Settings, pipeline: Pipeline,
    read_models: ReadModels, tmp_path: Path,
) -> None:
    pipeline.start_relay()
    pipeline.start_projections()
    app = store.open(clock)
    history = await asyncio.to_thread(realistic, app, clock)
    await caught_up(read_models, store)
    live = dump(read_models.engine)
    assert live["rm_pledges"] and live["rm_distributions"] and live["rm_holdings"]
    assert live["rm_offerings"] and live["rm_documents"]

    report = await asyncio.to_thread(  # a fresh app, as the CLI does
        rebuild_read_models, read_model_url(settings), StoreLog(store.open()), PROJECTIONS.name,
        settings.topic_partitions,
    )
    assert report.through == app.head_position()
    assert len(report.models) == len(PROJECTIONS.models)
    assert dump(read_models.engine) == live
    await asyncio.to_thread(
        rebuild_read_models, read_model_url(settings), StoreLog(app), "pledges",
        settings.topic_partitions,
    )
    assert dump(read_models.engine) == live

    # The live workers carry on from where the rebuild left the tables.
    await asyncio.to_thread(pledge, app, history.backers[0], history.live, "100.00")
    await caught_up(read_models, store)
    assert_same(dump(read_models.engine), reference(store, tmp_path))


def test_rebuild_names_a_read_model(store: Store, settings: Settings) -> None:
    with pytest.raises(KeyError, match="no read model 'nope'"):
        rebuild_read_models(read_model_url(settings), StoreLog(store.open()), "nope", 2)
