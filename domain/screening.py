"""Sanctions screening of an investor's legal name: what a screening found, and when a
finding needs a person's review.

The list and the fuzzy scoring are an adapter's (`adapters.sanctions`); the
threshold and what follows from a score are rules, and live here (docs/aml.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

# A name scoring at or above this against a list entry is a POSSIBLE_MATCH. Chosen on
# the labelled variants in tests/aml/name_variants.py (docs/aml.md: precision 1.00 and
# recall 0.98 there): true variants score 0.87 and up (one outlier at 0.71), different
# people sharing words with an entry at most 0.84.
MATCH_THRESHOLD = 0.85


class ScreeningStatus(Enum):
    CLEAR = "CLEAR"
    POSSIBLE_MATCH = "POSSIBLE_MATCH"


@dataclass(frozen=True)
class ScreeningMatch:
    """A list entry a name resembles: its id, name and programs (nothing else of it)."""

    list_name: str
    entry_id: str
    name: str
    score: float
    programs: tuple[str, ...]

    def as_event_field(self) -> dict[str, Any]:
        return {"list_name": self.list_name, "entry_id": self.entry_id, "name": self.name,
                "score": self.score, "programs": list(self.programs)}

    @classmethod
    def from_event_field(cls, data: dict[str, Any]) -> ScreeningMatch:
        return cls(str(data["list_name"]), str(data["entry_id"]), str(data["name"]),
                   float(data["score"]), tuple(data["programs"]))


@dataclass(frozen=True)
class Screening:
    status: ScreeningStatus
    screened_at: datetime
    list_name: str
    list_version: str
    matches: tuple[ScreeningMatch, ...]

    @classmethod
    def of(
        cls, matches: list[ScreeningMatch], list_name: str, list_version: str, now: datetime
    ) -> Screening:
        found = tuple(sorted(matches, key=lambda m: (-m.score, m.entry_id)))
        status = ScreeningStatus.POSSIBLE_MATCH if found else ScreeningStatus.CLEAR
        return cls(status, now, list_name, list_version, found)

    @property
    def entry_ids(self) -> frozenset[str]:
        return frozenset(m.entry_id for m in self.matches)

    def summary(self) -> str:
        """What a SANCTIONS_MATCH alert says: list, version and entry ids with scores."""
        entries = ", ".join(f"{m.entry_id} ({m.score:.2f})" for m in self.matches)
        return (f"{len(self.matches)} possible match(es) on {self.list_name} list version "
                f"{self.list_version[:12]}: entries {entries}")
