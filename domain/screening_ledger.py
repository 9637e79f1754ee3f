"""Which version of the sanctions list every verified investor has been screened
against: one stream, so that a new list version is re-screened once, not at every
start of every scheduler."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.chain import ChainedAggregate

LEDGER_ID = uuid5(NAMESPACE_URL, "/crowdfund/sanctions-screening")


class ScreeningLedger(ChainedAggregate):
    id: UUID

    @event("ScreeningLedgerOpened")
    def __init__(self) -> None:
        self.list_name: str | None = None
        self.list_version: str | None = None

    def covers(self, list_version: str) -> bool:
        return self.list_version == list_version

    @event("VerifiedInvestorsRescreened")
    def rescreened(self, list_name: str, list_version: str, investors: int) -> None:
        """Every investor verified when the re-screen began was screened against it
        (those verified later were screened against it when verified)."""
        self.list_name = list_name
        self.list_version = list_version
