"""The write side: one application service with a verb per business command.

`Crowdfund` composes the command groups, each in its own module, over one unit
of work (`domain.unit_of_work`): accounts and KYC, offerings, pledges, and the
work that falls due on the calendar.
"""

from __future__ import annotations

from domain.accounts import AccountCommands
from domain.campaign import Campaign
from domain.cap_table import CapTable
from domain.input import (
    parse_birth_date,
    parse_id,
    parse_idempotency_key,
    parse_regime,
    parse_term_changes,
    require_reason,
)
from domain.offering_calendar import OfferingCalendar
from domain.offerings import OfferingCommands
from domain.pledging import PledgeCommands, PledgeRequest, Pledging, parse_pledge
from domain.unit_of_work import Decision, Written
from domain.user import User

__all__ = [
    "Crowdfund", "Decision", "PledgeRequest", "Pledging", "Written", "parse_birth_date",
    "parse_id", "parse_idempotency_key", "parse_pledge", "parse_regime", "parse_term_changes",
    "require_reason",
]


class Crowdfund(AccountCommands, PledgeCommands, OfferingCommands):
    name = "Crowdfund"
    is_snapshotting_enabled = True
    snapshotting_intervals = {Campaign: 200, User: 100, CapTable: 50, OfferingCalendar: 100}
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        # Commands trust their cache: what they write is guarded by the version
        # check on save, what they only read by `_refresh_if_stale`.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }
