"""The record of staff (and founders) being shown a user's personal data.

GDPR Art. 5(2) and 15: the platform must be able to say who saw a person's data, when and
why, and tell the person. Every read of personal data by someone other than its subject is
recorded *before* the data is answered; when the record cannot be written the data is not
shown. The store is the read-model database's `data_access_log` table
(`projections.data_access_store`), away from the event log's hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class DataAccess:
    viewer_id: str
    subject_id: str
    at: datetime
    purpose: str  # the query and field that showed the data, e.g. "kycQueue"


class DataAccessUnavailable(RuntimeError):
    """The access could not be recorded, so the data must not be shown."""


class DataAccessLog(Protocol):
    def record(self, accesses: Sequence[DataAccess]) -> None:
        """Store every access, all or none; raises `DataAccessUnavailable`."""

    def of_subject(self, subject_id: str, limit: int) -> list[DataAccess]:
        """The accesses to one user's data, newest first."""
