"""Regressions: races and late commands the reliability suite found in `domain/`.

Each test forces one interleaving of two nodes (or a scheduler running late)
and asserts the answer a single node would have given.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from application.pledge_desk import PledgeDesk
from application.pledges import PledgeCommands, PledgeRequest
from application.unit_of_work import Written
from domain.campaign import CampaignStatus
from domain.errors import DomainError
from domain.pledge import Pledge
from tests.conftest import START
from tests.reliability.support import Schema
from tests.scenario import live_campaign, pledge, staff, verified_backer

pytestmark = pytest.mark.postgres

RICH = {"annual_income": "200000.00", "net_worth": "200000.00"}


@pytest.fixture
def schema(postgres_server: str) -> Schema:
    made = Schema(postgres_server)
    yield made  # type: ignore[misc]
    made.drop()


# Idempotency across processes --------------------------------------------------------------


def test_a_retry_through_another_process_desk_gets_its_pledge(schema: Schema) -> None:
    """A client times out and retries on another API node, where pledges go through a
    PledgeDesk. Its first attempt took the last of the offering; the retry must answer
    with that pledge, not MaxTargetExceeded."""
    clock = SettableClock(START)
    first_node, second_node = schema.open(clock), schema.open(clock)
    team = staff(first_node)
    backer = verified_backer(first_node, team, **RICH)
    campaign = live_campaign(first_node, team, max_target="1000.00")
    placed = first_node.pledges.place(backer, campaign, "1000.00", "retry-me", True).value

    answers = second_node.pledges.place_many(
        [PledgeRequest(backer, campaign, "1000.00", "retry-me", True)]
    )
    with PledgeDesk(schema.open(clock)) as desk:
        via_desk = desk.submit(PledgeRequest(backer, campaign, "1000.00", "retry-me", True))
        via_desk.exception(timeout=30)

    assert isinstance(answers[0], Written) and answers[0].value == placed, answers
    assert via_desk.exception() is None and via_desk.result().value == placed


class LookupThenRace(Crowdfund):
    """The interleaving of two nodes handling the same request: this node looks the
    pledge id up (not there yet), then the other node's pledge commits, then this
    node loads the backer and the campaign (now full) and decides."""

    name = "Crowdfund"  # the same tables
    other: Crowdfund
    other_request: tuple[object, ...] = ()

    def __init__(
        self, env: dict[str, str] | None = None, clock: Any = None,
        business_calendars: Any = None, **options: Any,
    ) -> None:
        super().__init__(env, clock, business_calendars, **options)
        self.pledges = _LookupThenRacePledges(self)


class _LookupThenRacePledges(PledgeCommands):
    node: LookupThenRace

    def __init__(self, node: LookupThenRace) -> None:
        super().__init__(node, node.due)
        self.node = node

    def find(self, pledge_id: UUID) -> Pledge | None:
        found = super().find(pledge_id)
        if found is None and self.node.other_request:
            request, self.node.other_request = self.node.other_request, ()
            self.node.other.pledges.place(*request)  # type: ignore[arg-type]
        return found


def test_a_retry_racing_the_original_gets_its_pledge(schema: Schema) -> None:
    clock = SettableClock(START)
    setup = schema.open(clock)
    team = staff(setup)
    backer = verified_backer(setup, team, **RICH)
    campaign = live_campaign(setup, team, max_target="1000.00")
    node = schema.open(clock, LookupThenRace)
    assert isinstance(node, LookupThenRace)
    node.other = schema.open(clock)
    node.other_request = (backer, campaign, "1000.00", "same-request", True)

    answer: object
    try:
        answer = node.pledges.place(backer, campaign, "1000.00", "same-request", True).value
    except DomainError as refusal:  # was: MaxTargetExceeded
        answer = refusal

    again = node.other.pledges.place(backer, campaign, "1000.00", "same-request", True)
    assert answer == again.value


# The deadline is a deadline, whenever the scheduler gets to it ------------------------------

LATE_COMMANDS = {
    "extend the deadline": lambda app, founder, cid: app.offerings.amend(
        founder, cid, {"deadline": app.campaign(cid).terms.deadline + timedelta(days=10)}),
    # Any material change now moves the deadline to the end of its reconfirmation window.
    "change the title": lambda app, founder, cid: app.offerings.amend(
        founder, cid, {"title": "A new title"}),
    "withdraw the offering": lambda app, founder, cid: app.offerings.cancel(
        founder, cid, "Changed my mind after the deadline."),
}


@pytest.mark.parametrize("command", list(LATE_COMMANDS))
def test_after_the_deadline_the_outcome_is_fixed(schema: Schema, command: str) -> None:
    clock = SettableClock(START)
    app = schema.open(clock)
    team = staff(app)
    backer = verified_backer(app, team, **RICH)
    campaign = live_campaign(app, team, min_target="1000.00", max_target="5000.00")
    pledge(app, backer, campaign, "2000.00")
    clock.set(app.campaign(campaign).terms.deadline + timedelta(minutes=5))  # scheduler lags

    with contextlib.suppress(DomainError):  # a refusal is the right answer
        LATE_COMMANDS[command](app, team.founder, campaign)
    app.due.run()

    assert app.campaign(campaign).status is CampaignStatus.SETTLED


# Refusals after a retry --------------------------------------------------------------------


class BusyNode(Crowdfund):
    """One API node under load, with the interleaving made explicit: its first save
    loses a race (`other` pledged meanwhile); while it waits to retry, another
    request on this node loads the campaign (putting a copy in the cache), and then
    `other` cancels a pledge, which that copy does not know about."""

    name = "Crowdfund"
    other: Crowdfund
    before_save: tuple[object, ...] = ()
    while_waiting: tuple[UUID, object, UUID] | None = None  # campaign, backer, pledge

    def save(self, *objs: object, **kwargs: object) -> object:
        if self.before_save:
            request, self.before_save = self.before_save, ()
            self.other.pledges.place(*request)  # type: ignore[arg-type]
        return super().save(*objs, **kwargs)  # type: ignore[arg-type]

    def evict(self, ids: object) -> None:
        evicted = list(ids)  # type: ignore[call-overload]
        super().evict(evicted)
        if evicted and not self.before_save and self.while_waiting is not None:
            campaign, backer, pledge_id = self.while_waiting
            self.while_waiting = None
            self.campaign(campaign)  # another request on this node
            self.other.pledges.cancel(backer, pledge_id)  # type: ignore[arg-type]


def test_a_refusal_after_a_lost_race_rests_on_the_store(schema: Schema) -> None:
    clock = SettableClock(START)
    setup = schema.open(clock)
    team = staff(setup)
    first, second, third = (verified_backer(setup, team, **RICH) for _ in range(3))
    campaign = live_campaign(setup, team, max_target="1000.00")
    early = pledge(setup, first, campaign, "500.00")  # held 500 of 1,000
    node = schema.open(clock, BusyNode)
    assert isinstance(node, BusyNode)
    node.other = schema.open(clock)
    node.before_save = (second, campaign, "500.00", "second", True)  # held 1,000: our save loses
    node.while_waiting = (campaign, first, early)  # a copy with 1,000; then back to 500

    answer: object
    try:
        answer = node.pledges.place(third, campaign, "500.00", "third", True)
    except DomainError as refusal:  # was: MaxTargetExceeded, "reached its maximum"
        answer = refusal

    assert setup.campaign(campaign).held <= 1000
    assert isinstance(answer, Written), answer


class AmendingNode(BusyNode):
    """A founder's material change on a busy campaign: the first save loses a race to a
    pledge; on the retry a backer cancels between the scan of open pledges and their
    loading."""

    name = "Crowdfund"
    cancel_during_scan: tuple[object, UUID] | None = None
    scans = 0

    def open_pledge_ids(self, campaign_id: UUID | str) -> list[str]:
        ids = super().open_pledge_ids(campaign_id)
        self.scans += 1
        if self.scans == 2 and self.cancel_during_scan is not None:
            self.other.pledges.cancel(*self.cancel_during_scan)  # type: ignore[arg-type]
        return ids


def test_a_material_change_survives_a_cancellation_meanwhile(schema: Schema) -> None:
    clock = SettableClock(START)
    setup = schema.open(clock)
    team = staff(setup)
    first, second = (verified_backer(setup, team, **RICH) for _ in range(2))
    campaign = live_campaign(setup, team, max_target="5000.00")
    early = pledge(setup, first, campaign, "500.00")
    node = schema.open(clock, AmendingNode)
    assert isinstance(node, AmendingNode)
    node.other = schema.open(clock)
    node.before_save = (second, campaign, "500.00", "second", True)
    node.cancel_during_scan = (first, early)

    answer: object
    try:
        answer = node.offerings.amend(team.founder, campaign, {"max_target": "6000.00"})
    except DomainError as refusal:  # was: InvalidStateError PLEDGE_CLOSED
        answer = refusal

    assert isinstance(answer, Written), answer


# ECSP: four days to think, whatever happens to the deadline ---------------------------------


def test_the_ecsp_reflection_period_survives_an_extension(schema: Schema) -> None:
    clock = SettableClock(START)
    app = schema.open(clock)
    team = staff(app)
    backer = verified_backer(app, team)
    campaign = live_campaign(app, team, regime="ECSP", days=10)
    deadline = app.campaign(campaign).terms.deadline
    clock.set(deadline - timedelta(days=2))
    pid = pledge(app, backer, campaign, "100.00")
    clock.set(deadline - timedelta(days=1))
    app.offerings.amend(team.founder, campaign, {"deadline": deadline + timedelta(days=7)})
    app.pledges.reconfirm(backer, pid)
    clock.set(deadline + timedelta(hours=12))  # 2.5 days after the pledge, offering live
    app.due.run()

    answer: object
    try:
        answer = app.pledges.cancel(backer, pid)
    except DomainError as refusal:  # was: CANCELLATION_WINDOW_CLOSED at the old deadline
        answer = refusal

    assert isinstance(answer, Written), answer
