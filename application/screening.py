"""What a sanctions list offers the platform (a port: `adapters.sanctions` reads OFAC's
SDN file and scores names against it)."""

from __future__ import annotations

import hashlib
from typing import Protocol

from domain.screening import ScreeningMatch


class ScreeningList(Protocol):
    @property
    def name(self) -> str:
        """The list's name in matches, e.g. OFAC-SDN."""
        ...

    @property
    def version(self) -> str:
        """Changes whenever the list's content does (the file's SHA-256)."""
        ...

    def search(self, legal_name: str, threshold: float) -> list[ScreeningMatch]:
        """Entries the name resembles with a score (0 to 1) at or above `threshold`."""
        ...


class EmptyList:
    """No list: every name is CLEAR. Only for an application built without the
    composition root (`crowdfund.bootstrap` always gives it the configured list)."""

    name = "NONE"
    version = hashlib.sha256(b"").hexdigest()

    def search(self, legal_name: str, threshold: float) -> list[ScreeningMatch]:
        return []
