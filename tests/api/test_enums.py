"""The schema's enums are its own classes (they carry the schema's descriptions and keep
Strawberry's markers off the domain); every value must still be the domain's, both ways,
so that converting with `Enum(value)` never fails."""

from __future__ import annotations

from enum import Enum

import pytest

from api import enums
from application import reviews
from domain import campaign, offering, pledge, rulebook, user

pytestmark = pytest.mark.fast

PAIRS: list[tuple[type[Enum], type[Enum]]] = [
    (enums.Role, user.Role), (enums.KycStatus, user.KycStatus),
    (enums.Regime, rulebook.Regime), (enums.CampaignStatus, campaign.CampaignStatus),
    (enums.PledgeStatus, pledge.PledgeStatus), (enums.SecurityType, offering.SecurityType),
    (enums.DocumentKind, offering.DocumentKind), (enums.ReviewAction, reviews.ReviewAction),
]


@pytest.mark.parametrize(("schema_enum", "domain_enum"), PAIRS,
                         ids=[a.__name__ for a, _ in PAIRS])
def test_the_schema_enum_has_exactly_the_domain_values(
    schema_enum: type[Enum], domain_enum: type[Enum]
) -> None:
    assert {m.value for m in schema_enum} == {m.value for m in domain_enum}
    assert {m.name for m in schema_enum} == {m.name for m in domain_enum}
