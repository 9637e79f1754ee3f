"""A history that owes every kind of notice, made through the real commands, with the
notices it owes: `every_kind(app, clock)`.

Three offerings by one founder, three verified backers (A, B, C) and one rejected:
- X (REG_CF, USD): rejected once, approved, launched; A, B and C pledge; B cancels; C asks
  and the founder answers; an update; a material change that A reconfirms and C lets
  lapse (reminded a day ahead); closed early, the cancellation window's reminder;
  funded, settled (shares issued) and a distribution paid.
- Y (ECSP, EUR): A pledges; it fails at its deadline and A is refunded.
- Z (REG_CF): B pledges; a risk officer cancels it and B is refunded.
- W (REG_CF): B and C pledge; it closes early with X, B cancels, the target is lost at
  the early deadline and the early close is withdrawn (227.304(b)).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.reminders import REMINDER_LEAD
from domain.rulebook import Regime
from tests.scenario import (
    Staff,
    approved_campaign,
    draft_campaign,
    pledge,
    register,
    staff,
    submit_profile,
    verified_backer,
)

Owed = Counter[tuple[str, str]]  # (kind, recipient id) -> how many


@dataclass
class History:
    team: Staff
    a: str
    b: str
    c: str
    rejected: str
    x: str
    y: str
    z: str
    w: str
    pledges: dict[str, str] = field(default_factory=dict)  # name -> pledge id
    question: str = ""
    owed: Owed = field(default_factory=Counter)

    def owe(self, kind: str, *recipients: str) -> None:
        for recipient in recipients:
            self.owed[(kind, recipient)] += 1


def every_kind(app: Crowdfund, clock: SettableClock) -> History:
    team = staff(app)
    founder = str(team.founder)
    a, b, c = (str(verified_backer(app, team)) for _ in range(3))
    rejected = str(register(app, "rejected"))
    submit_profile(app, UUID(rejected))
    app.accounts.reject_investor(team.risk_officer, rejected, "The documents do not match.")

    x = draft_campaign(app, team, title="Solar Roofs", days=40, min_target="500.00")
    app.offerings.submit(team.founder, x)
    app.offerings.reject(team.risk_officer, x, "Say what the money is for.")
    app.offerings.amend(team.founder, x, {"summary": "Roofs; the money buys panels."})
    app.offerings.submit(team.founder, x)
    app.offerings.approve(team.risk_officer, x)
    app.offerings.launch(team.founder, x)
    y = approved_campaign(app, team, title="Green Ferries", regime=Regime.ECSP, days=3,
                          min_target="100000.00", max_target="200000.00", min_pledge="10.00",
                          price_per_share="1.00")
    app.offerings.launch(team.founder, y)
    z = approved_campaign(app, team, title="Quiet Bikes", days=30)
    app.offerings.launch(team.founder, z)
    w = approved_campaign(app, team, title="Wind Lofts", days=40, min_target="300.00")
    app.offerings.launch(team.founder, w)
    h = History(team, a, b, c, rejected, str(x), str(y), str(z), str(w))
    h.owe("KYC_VERIFIED", a, b, c)
    h.owe("KYC_REJECTED", rejected)
    h.owe("CAMPAIGN_REJECTED", founder)
    h.owe("CAMPAIGN_APPROVED", founder, founder, founder, founder)

    h.pledges["a-x"] = str(pledge(app, UUID(a), x, "500.00"))
    h.pledges["b-x"] = str(pledge(app, UUID(b), x, "300.00"))
    h.pledges["c-x"] = str(pledge(app, UUID(c), x, "200.00"))
    h.pledges["a-y"] = str(pledge(app, UUID(a), y, "100.00"))
    h.pledges["b-z"] = str(pledge(app, UUID(b), z, "300.00"))
    h.pledges["b-w"] = str(pledge(app, UUID(b), w, "300.00"))
    h.pledges["c-w"] = str(pledge(app, UUID(c), w, "100.00"))
    h.owe("PLEDGE_CONFIRMED", a, b, c, a, b, b, c)
    app.pledges.cancel(b, h.pledges["b-x"])
    h.owe("PLEDGE_CANCELLED", b)
    app.offerings.cancel(team.risk_officer, z, "The issuer's licence was withdrawn.")
    h.owe("CAMPAIGN_CANCELLED", b, founder)
    h.owe("REFUND_ISSUED", b)

    clock.advance(days=1)
    h.question = str(app.questions.ask(c, x, "Who installs the panels?").value)
    h.owe("QUESTION_ASKED", founder)
    app.questions.answer(team.founder, h.question, "Our own certified crews.")
    h.owe("QUESTION_ANSWERED", c)
    app.offerings.post_update(team.founder, x, "First roof done", "Photos on our site.")
    h.owe("CAMPAIGN_UPDATE", a, c)

    clock.advance(days=1)
    app.offerings.amend(team.founder, x, {"max_target": "12000.00"})
    h.owe("RECONFIRMATION_REQUIRED", a, c)
    app.pledges.reconfirm(a, h.pledges["a-x"])
    reconfirm_by = app.campaign(x).reconfirm_by
    assert reconfirm_by is not None
    # Y's deadline passes on the way: it fails and A is refunded.
    clock.set(reconfirm_by - REMINDER_LEAD + timedelta(minutes=1))
    app.due.run()
    h.owe("CAMPAIGN_FAILED", a)
    h.owe("DEADLINE_REACHED", founder)
    h.owe("REFUND_ISSUED", a)
    h.owe("RECONFIRMATION_REMINDER", c)
    clock.set(reconfirm_by + timedelta(seconds=1))
    app.due.run()
    h.owe("PLEDGE_AUTO_CANCELLED", c)

    launched = app.campaign(x).launched_at
    assert launched is not None
    clock.set(launched + timedelta(days=21, hours=1))
    new_deadline = clock.now() + timedelta(days=10)
    app.offerings.close_early(team.founder, x, new_deadline)
    app.offerings.close_early(team.founder, w, new_deadline)
    h.owe("EARLY_CLOSE", a, b, c)
    app.pledges.cancel(b, h.pledges["b-w"])  # W is below its target again
    h.owe("PLEDGE_CANCELLED", b)
    clock.set(new_deadline - timedelta(hours=72) + timedelta(minutes=1))
    app.due.run()
    h.owe("CANCELLATION_WINDOW_CLOSING", a, c)

    clock.set(new_deadline)
    app.due.run()
    # The withdrawal is posted as an update (the offering runs on): C still backs W.
    h.owe("CAMPAIGN_UPDATE", c)
    h.owe("CAMPAIGN_FUNDED", a)
    h.owe("DEADLINE_REACHED", founder)
    h.owe("SHARES_ISSUED", a)
    app.offerings.declare_distribution(team.founder, x, "100.00")
    h.owe("DISTRIBUTION_PAID", a)
    return h
