"""A realistic history for projection tests, made through the real commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.rulebook import Regime
from tests.scenario import (
    approved_campaign,
    draft_campaign,
    live_campaign,
    pledge,
    staff,
    verified_backer,
)

# Personal data the scenario writes; none of it may reach Kafka.
EMAIL_DOMAIN = "@example.test"
LEGAL_NAME = "Test Investor"
INCOMES = ("73519.00", "61237.00", "88451.00")
NET_WORTHS = ("91357.00", "67219.00", "55123.00")


@dataclass
class History:
    settled: UUID
    failed: UUID
    in_review: UUID
    live: UUID
    backers: list[UUID] = field(default_factory=list)
    pledges: list[UUID] = field(default_factory=list)
    cancelled: UUID | None = None


def realistic(app: Crowdfund, clock: SettableClock) -> History:
    """Pledges, a cancellation, a material change (terms and description) with a lapsed
    reconfirmation, settlement, a distribution, a failed ECSP campaign with refunds, a
    rejection."""
    team = staff(app)
    backers = [
        verified_backer(app, team, annual_income=i, net_worth=w)
        for i, w in zip(INCOMES, NET_WORTHS, strict=True)
    ]
    settled = live_campaign(app, team, title="Settles", days=40)
    failed = live_campaign(app, team, title="Fails", regime=Regime.ECSP,
                           min_target="5000.00", days=20)
    live = live_campaign(app, team, title="Stays live", days=200)
    approved_campaign(app, team, title="Approved only")
    rejected = draft_campaign(app, team, title="Rejected")
    app.offerings.submit(team.founder, rejected)
    app.offerings.reject(team.risk_officer, rejected, "Incomplete disclosures")
    in_review_2 = draft_campaign(app, team, title="In review")
    app.offerings.submit(team.founder, in_review_2)
    history = History(settled, failed, in_review_2, live, backers)
    for n, backer in enumerate(backers):
        history.pledges.append(pledge(app, backer, settled, f"{(n + 1) * 400}.00"))
        history.pledges.append(pledge(app, backer, failed, "200.00"))
        history.pledges.append(pledge(app, backer, live, "100.00"))
    extra = pledge(app, backers[0], settled, "100.00")
    history.cancelled = extra
    app.pledges.cancel(backers[0], extra)
    clock.advance(days=1)
    app.offerings.amend(team.founder, settled, {"maxTarget": "9000.00", "story": "We bake.",
                                                 "team": [{"name": "Ada", "role": "CEO"}]})
    app.offerings.post_update(team.founder, settled, "Progress", "We hired a CFO.")
    pledges_on_settled = [history.pledges[i] for i in (0, 3)]
    for backer, pid in zip(backers[:2], pledges_on_settled, strict=True):
        app.pledges.reconfirm(backer, pid)
    clock.advance(days=10)  # backer 3's reconfirmation lapses
    app.due.run()
    clock.advance(days=15)
    app.due.run()  # ECSP campaign fails: refunds
    clock.set(app.campaign(settled).terms.deadline + timedelta(minutes=1))
    app.due.run()  # REG_CF campaign funded and settled
    app.offerings.declare_distribution(team.founder, settled, "123.45")
    return history
