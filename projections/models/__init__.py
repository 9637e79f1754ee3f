"""Every read model, in the order a batch applies them."""

from __future__ import annotations

from projections.models import (
    aml_alerts,
    campaigns,
    cap_tables,
    distributions,
    event_index,
    investors,
    offerings,
    pledges,
    questions,
    updates,
    users,
)
from projections.models.base import ReadModel

MODELS: tuple[ReadModel, ...] = (
    campaigns.MODEL,
    updates.MODEL,
    offerings.OFFERINGS,
    offerings.DOCUMENTS,
    pledges.MODEL,
    investors.MODEL,
    users.MODEL,
    cap_tables.MODEL,
    distributions.MODEL,
    questions.MODEL,
    event_index.MODEL,
    aml_alerts.MODEL,
)

__all__ = ["MODELS", "ReadModel"]
