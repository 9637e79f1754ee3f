"""The validation cache hits: a query the server has seen is not validated again,
while the depth and alias limits still refuse what they should (test_hostile.py)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
import strawberry.schema.schema as strawberry_schema

from tests.api.conftest import Api


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each call graphql-core's `validate` gets from strawberry, as its document."""
    calls: list[Any] = []
    validate = strawberry_schema.validate

    def counted(schema: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(document)
        return validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "validate", counted)
    return calls


async def test_a_repeated_query_is_validated_once(api: Api, validations: list[Any]) -> None:
    # A text no other test sends, so the process-wide cache cannot hold it yet.
    query = f"{{ t{uuid4().hex}: __typename }}"
    for _ in range(5):
        assert (await api.ok(query)) is not None
    assert len(validations) == 1


async def test_a_refused_query_stays_refused_from_the_cache(
    api: Api, validations: list[Any]
) -> None:
    query = "{ " + " ".join(f"a{i}_{uuid4().hex[:6]}: me {{ id }}" for i in range(40)) + " }"
    for _ in range(3):
        body = await api.call(query)
        assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()
    assert len(validations) == 1
