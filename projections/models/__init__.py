"""Every read model, in the order a batch applies them."""

from __future__ import annotations

from projections.models import (
    campaigns,
    cap_tables,
    distributions,
    event_index,
    investors,
    pledges,
    updates,
    users,
)
from projections.models.base import ReadModel

MODELS: tuple[ReadModel, ...] = (
    campaigns.MODEL,
    updates.MODEL,
    pledges.MODEL,
    investors.MODEL,
    users.MODEL,
    cap_tables.MODEL,
    distributions.MODEL,
    event_index.MODEL,
)
BY_NAME = {m.name: m for m in MODELS}


def select(name: str | None) -> tuple[ReadModel, ...]:
    """All models, or the one named."""
    if name is None:
        return MODELS
    if name not in BY_NAME:
        raise KeyError(f"no read model {name!r}; choose from {', '.join(BY_NAME)}")
    return (BY_NAME[name],)


__all__ = ["BY_NAME", "MODELS", "ReadModel", "select"]
