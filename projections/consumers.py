"""The consumer groups of the event topic, each a set of read models of its own.

A consumer is what `crowdfund worker NAME` runs (`workers.projections.ProjectionWorker`):
a Kafka consumer group on the topic that applies events to its models exactly
once, with its own tracking rows (`consumer_tracking`, keyed by its name), its
own catch-up from the event store and its own rebuild. Two consumers never
share a table, so each advances, lags and is rebuilt independently of the other.
See docs/projections.md, "Adding a consumer group".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from projections import notifier
from projections.models import MODELS
from projections.models.base import ReadModel


@dataclass(frozen=True)
class Consumer:
    # Key of its tracking rows and the worker's name (`crowdfund worker NAME`).
    name: str
    # Its Kafka consumer group id (a worker may be given another, e.g. in tests).
    group: str
    # Its read models, in the order a batch applies them.
    models: tuple[ReadModel, ...]


# The read models the API asks (projections.queries).
PROJECTIONS = Consumer("projections", "crowdfund-projections", MODELS)

# Notices in the app and by e-mail (projections/notifier.py, workers/notifier.py).
NOTIFIER = Consumer("notifier", "crowdfund-notifier", (notifier.MODEL,))

# Every consumer the platform runs: `crowdfund dev` runs each beside the API, and
# `crowdfund worker NAME` runs one.
CONSUMERS: tuple[Consumer, ...] = (PROJECTIONS, NOTIFIER)
BY_NAME = {c.name: c for c in CONSUMERS}


def resolve(
    name: str | None, extra: Sequence[Consumer] = ()
) -> list[tuple[Consumer, tuple[ReadModel, ...]]]:
    """What a rebuild of `name` covers: every consumer's models (None), one consumer's
    (its name) or one read model (its name); `extra` adds consumers built with
    collaborators (the AML monitor). Unknown names raise KeyError."""
    every = (*CONSUMERS, *extra)
    if name is None:
        return [(c, c.models) for c in every]
    for consumer in every:
        if consumer.name == name:
            return [(consumer, consumer.models)]
    for consumer in every:
        for model in consumer.models:
            if model.name == name:
                return [(consumer, (model,))]
    choices = [c.name for c in every] + [m.name for c in every for m in c.models]
    raise KeyError(f"no read model {name!r}; choose from {', '.join(choices)}")
