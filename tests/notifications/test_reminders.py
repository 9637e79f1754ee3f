"""The scheduler's reminders (domain/reminders.py) on the in-memory store: recorded once,
a day ahead, only while the right lasts, only for the pledges still waiting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.reminders import REMINDER_LEAD
from tests.scenario import live_campaign, pledge, staff, verified_backer

pytestmark = pytest.mark.fast


def events_named(app: Crowdfund, stream: Any, name: str) -> list[Any]:
    return [e for e in app.events.get(stream) if type(e).__name__ == name]


def test_the_cancellation_window_reminder_is_recorded_once_a_day_ahead(
    memory_app: Crowdfund, clock: SettableClock
) -> None:
    app = memory_app
    team = staff(app)
    cid = live_campaign(app, team)
    closes = app.campaign(cid).terms.deadline - timedelta(hours=48)
    clock.set(closes - REMINDER_LEAD - timedelta(seconds=1))
    assert app.due.run() == 0
    clock.set(closes - REMINDER_LEAD)
    assert app.due.run() > 0
    assert app.due.run() == 0
    (reminder,) = events_named(app, cid, "CancellationWindowClosing")
    assert reminder.closes_at == closes


def test_a_lapsed_right_is_not_reminded_and_the_calendar_moves_on(
    memory_app: Crowdfund, clock: SettableClock
) -> None:
    app = memory_app
    team = staff(app)
    cid = live_campaign(app, team)
    deadline = app.campaign(cid).terms.deadline
    clock.set(deadline - timedelta(hours=47))  # the scheduler was down for days
    app.due.run()
    assert events_named(app, cid, "CancellationWindowClosing") == []
    assert app.due.run() == 0


def test_only_pledges_still_waiting_are_reminded_to_reconfirm(
    memory_app: Crowdfund, clock: SettableClock
) -> None:
    app = memory_app
    team = staff(app)
    cid = live_campaign(app, team)
    backer = verified_backer(app, team)
    waiting, reconfirmed = pledge(app, backer, cid, "100.00"), pledge(app, backer, cid, "100.00")
    app.offerings.amend(team.founder, cid, {"summary": "Material."})
    app.pledges.reconfirm(backer, reconfirmed)
    by = app.campaign(cid).reconfirm_by
    assert by is not None
    clock.set(by - REMINDER_LEAD)
    app.due.run()
    app.due.run()
    assert [e.reconfirm_by for e in events_named(app, waiting, "ReconfirmationReminded")] == [by]
    assert events_named(app, reconfirmed, "ReconfirmationReminded") == []
    (done,) = events_named(app, cid, "ReconfirmationRemindersDone")
    assert done.reconfirm_by == by
