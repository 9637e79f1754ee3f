"""Demo content for `crowdfund dev`: a founder with one live offering per regime.

Loaded through the ordinary domain commands (draft, submit, approve, launch),
so the demo's history is as auditable as anything else. Idempotent: a data dir
that already has the demo founder is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from application import two_factor
from application.crowdfund import Crowdfund
from domain.rulebook import Regime
from domain.user import Role

DEMO_FOUNDER_EMAIL = "demo-founder@example.com"
DEMO_RISK_OFFICER_EMAIL = "demo-risk-officer@example.com"


@dataclass(frozen=True)
class DemoOffering:
    title: str
    summary: str
    regime: Regime
    min_target: Decimal
    max_target: Decimal
    min_pledge: Decimal
    price_per_share: Decimal
    # Days from now; REG_CF offerings must stay open at least 21 days.
    open_days: int


OFFERINGS = (
    DemoOffering(
        title="Brightwater Kombucha: a second brewhouse in Portland",
        summary=(
            "Brightwater has brewed raw, small-batch kombucha in Portland, Oregon since 2019 "
            "and now sells to 140 grocers across the Pacific Northwest. Demand outgrew our "
            "1,200 sq ft brewhouse last summer. This offering funds a second brewhouse with "
            "four 2,000-litre fermenters, a canning line and two new brewing jobs. Investors "
            "receive non-voting common shares. Use of proceeds: equipment 62%, lease "
            "improvements 23%, working capital 15%."
        ),
        regime=Regime.REG_CF,
        min_target=Decimal("50000.00"),
        max_target=Decimal("250000.00"),
        min_pledge=Decimal("100.00"),
        price_per_share=Decimal("10.00"),
        open_days=35,
    ),
    DemoOffering(
        title="Solarhof: rooftop solar for 40 Bavarian family farms",
        summary=(
            "Solarhof installs and operates photovoltaic systems on the barn roofs of family "
            "farms in Lower Bavaria and sells the electricity to the farms and to the grid "
            "under 20-year contracts. We have signed roof leases with 40 farms "
            "(6.8 MWp in total). This offering finances the first 25 installations. Investors "
            "receive ordinary shares of Solarhof GmbH; the business plan foresees "
            "distributions from the third year of operation. Capital is at risk."
        ),
        regime=Regime.ECSP,
        min_target=Decimal("150000.00"),
        max_target=Decimal("600000.00"),
        min_pledge=Decimal("250.00"),
        price_per_share=Decimal("25.00"),
        open_days=42,
    ),
)


@dataclass(frozen=True)
class DemoContent:
    founder_id: UUID
    risk_officer_id: UUID
    campaign_ids: tuple[UUID, ...]


def load_demo(app: Crowdfund, password_hash: str, totp_secret: str) -> DemoContent | None:
    """Create the demo users and launch the demo offerings; None if already loaded.

    Both demo users share `password_hash` (dev keeps the password in its data dir).
    The risk officer acts only with TOTP on: enrolled here with `totp_secret` (dev
    keeps it, and its otpauth:// URI for an authenticator app, in its data dir).
    """
    if app.user_by_email(DEMO_FOUNDER_EMAIL) is not None:
        return None
    officer = app.user_by_email(DEMO_RISK_OFFICER_EMAIL)
    officer_id = (
        officer.id if officer is not None else app.accounts.register(
            DEMO_RISK_OFFICER_EMAIL, "Dana Whitfield (risk officer)", password_hash,
            (Role.RISK_OFFICER,),
        ).value
    )
    if not app.user(officer_id).totp_enabled:
        app.accounts.start_totp_enrollment(officer_id, totp_secret, [])
        app.accounts.confirm_totp(
            officer_id, two_factor.code_for(totp_secret, app.accounts.real_time()))
    founder_id = app.accounts.register(DEMO_FOUNDER_EMAIL, "Maya Okafor", password_hash).value
    now = app.clock.now()
    campaign_ids = tuple(
        _launch(app, founder_id, officer_id, offering, now) for offering in OFFERINGS
    )
    return DemoContent(founder_id, officer_id, campaign_ids)


def _launch(
    app: Crowdfund, founder_id: UUID, officer_id: UUID, offering: DemoOffering, now: datetime
) -> UUID:
    campaign_id = app.offerings.draft(
        founder_id, title=offering.title, summary=offering.summary, regime=offering.regime,
        min_target=offering.min_target, max_target=offering.max_target,
        min_pledge=offering.min_pledge, price_per_share=offering.price_per_share,
        deadline=now + timedelta(days=offering.open_days),
    ).value
    app.offerings.submit(founder_id, campaign_id)
    app.offerings.approve(officer_id, campaign_id)
    app.offerings.launch(founder_id, campaign_id)
    return campaign_id
