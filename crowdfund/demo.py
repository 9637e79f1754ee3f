"""Demo content for `crowdfund dev`: a founder with one live offering per regime, each
with a story, a team, the use of proceeds, the risks, an offering statement (a PDF made
at start-up) and a cover image (a PNG drawn at start-up; see `demo_files`).

Loaded through the ordinary domain commands (draft, upload, submit, approve, launch),
so the demo's history is as auditable as anything else. Idempotent: a data dir
that already has the demo founder is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from application import two_factor
from application.crowdfund import Crowdfund
from application.offerings import IssuerDetails
from crowdfund.demo_files import Section, cover_png, statement_pdf
from domain.offering import OFFERING_STATEMENT
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
    issuer: str = ""
    jurisdiction: str = "US"
    website: str | None = None
    security_type: str = "COMMON_EQUITY"
    valuation: Decimal | None = None
    story: str = ""
    use_of_proceeds: str = ""
    risks: str = ""
    team: tuple[dict[str, str], ...] = ()
    cover: tuple[tuple[int, int, int], tuple[int, int, int], str] = (
        (40, 90, 120), (10, 30, 50), "bubbles"
    )
    financials: bool = False

    def description(self) -> dict[str, Any]:
        return {
            "security_type": self.security_type, "valuation": self.valuation,
            "story": self.story, "use_of_proceeds": self.use_of_proceeds, "risks": self.risks,
            "team": list(self.team),
        }


BRIGHTWATER_STORY = """\
## Raw, small-batch kombucha from Portland

Brightwater started in 2019 in a 1,200 sq ft brewhouse on SE Division Street with
two 500-litre fermenters and a farmers' market stall. Today our six flavours are on
the shelves of **140 grocers** across Oregon and Washington, and we sold 212,000 cans
last year (up 64% on the year before).

### Why now

Demand outgrew our brewhouse last summer: for eleven weeks we rationed deliveries to
our grocers. A second brewhouse in the Central Eastside Industrial District quadruples
our capacity and brings canning in-house, which lowers the cost of every can by about
a fifth.

### What you get

Non-voting **common shares** of Brightwater Kombucha, Inc. at $10.00 each. There is no
market for these shares: plan to hold them until the company is sold or lists,
which may never happen.

> We brew every batch slowly, with organic tea and fruit from farms within 200 miles.
> This raise lets us keep doing that at the scale our customers ask for.

Read the Form C before you invest; it is filed with this offering below.
"""

BRIGHTWATER_PROCEEDS = """\
- **Equipment, 62%**: four 2,000-litre fermenters, a glycol chiller and a 40-can-per-minute
  canning line.
- **Lease improvements, 23%**: drains, a food-grade floor and cold storage for the new
  brewhouse (a 7-year lease is signed).
- **Working capital, 15%**: ingredients and cans for the first six months, and two new
  brewing jobs.

If the offering raises only the minimum target, the canning line is postponed and we keep
buying canning as a service.
"""

BRIGHTWATER_RISKS = """\
- **You may lose all of your investment.** Most small companies fail, and ours may too.
- **The shares are illiquid.** They cannot be resold for one year (17 CFR 227.501), and
  there may never be a buyer.
- **Concentration.** Our three largest grocers buy 41% of our cans; losing one would cut
  revenue sharply.
- **Input costs.** Aluminium and organic sugar prices have been volatile; we may not be
  able to pass increases on.
- **Dilution.** Later financing rounds will reduce your share of the company.
- **Key people.** The company depends on its two founders.
"""

SOLARHOF_STORY = """\
## Sunshine on Bavarian barn roofs

Solarhof installs and operates photovoltaic systems on the barn roofs of family farms in
Lower Bavaria. The farms lease us their roofs for 20 years, buy the electricity they need
from us below the grid price, and we sell the rest to the grid.

### The pipeline

We have **signed roof leases with 40 farms** (6.8 MWp in total). The first 25
installations are fully permitted; grid connection offers are in hand for 19 of them.

### The offer

Ordinary shares of Solarhof GmbH at EUR 25.00 each. The business plan foresees
distributions from the third year of operation, but they are not guaranteed.

This offer has been neither verified nor approved by competent authorities or ESMA.
Read the key investment information sheet (KIIS) filed with this offer.
"""

SOLARHOF_PROCEEDS = """\
1. Panels, inverters and mounting for 25 roofs: 71%
2. Installation and grid connection: 19%
3. Project insurance and reserves: 10%
"""

SOLARHOF_RISKS = """\
- **Capital at risk.** You may lose the entire amount you invest; this investment is not
  covered by any deposit guarantee or investor compensation scheme.
- **Feed-in prices.** Revenue depends on electricity prices and on the EEG feed-in rules,
  which may change.
- **Construction.** Delays in grid connection or higher installation costs would postpone
  distributions.
- **Illiquidity.** There is no market for shares of Solarhof GmbH; you may not be able to
  sell them when you wish.
- **Weather.** A year with less sunshine produces less electricity.
"""

OFFERINGS = (
    DemoOffering(
        title="Brightwater Kombucha: a second brewhouse in Portland",
        summary=(
            "Brightwater brews raw, small-batch kombucha in Portland, Oregon, sold by 140 "
            "grocers across the Pacific Northwest. This offering funds a second brewhouse with "
            "four 2,000-litre fermenters, a canning line and two new brewing jobs."
        ),
        regime=Regime.REG_CF,
        min_target=Decimal("50000.00"),
        max_target=Decimal("250000.00"),
        min_pledge=Decimal("100.00"),
        price_per_share=Decimal("10.00"),
        open_days=35,
        issuer="Brightwater Kombucha, Inc.",
        jurisdiction="US",
        website="https://brightwater.example",
        security_type="COMMON_EQUITY",
        valuation=Decimal("4200000.00"),
        story=BRIGHTWATER_STORY,
        use_of_proceeds=BRIGHTWATER_PROCEEDS,
        risks=BRIGHTWATER_RISKS,
        team=(
            {"name": "Maya Okafor", "role": "Co-founder and CEO",
             "bio": "Ran operations at a Portland coffee roaster for eight years before "
                    "starting Brightwater in her garage."},
            {"name": "Tomás Reyes", "role": "Co-founder and head brewer",
             "bio": "Fermentation scientist (MS, Oregon State); brewed for two craft "
                    "breweries."},
            {"name": "Priya Nand", "role": "Finance (part-time CFO)",
             "bio": "CPA; fifteen years of food and beverage finance."},
        ),
        cover=((22, 110, 120), (10, 40, 60), "bubbles"),
        financials=True,
    ),
    DemoOffering(
        title="Solarhof: rooftop solar for 40 Bavarian family farms",
        summary=(
            "Solarhof installs and operates photovoltaic systems on the barn roofs of family "
            "farms in Lower Bavaria and sells the electricity to the farms and to the grid "
            "under 20-year contracts. This offering finances the first 25 installations."
        ),
        regime=Regime.ECSP,
        min_target=Decimal("150000.00"),
        max_target=Decimal("600000.00"),
        min_pledge=Decimal("250.00"),
        price_per_share=Decimal("25.00"),
        open_days=42,
        issuer="Solarhof GmbH",
        jurisdiction="DE",
        website="https://solarhof.example",
        security_type="COMMON_EQUITY",
        valuation=Decimal("3000000.00"),
        story=SOLARHOF_STORY,
        use_of_proceeds=SOLARHOF_PROCEEDS,
        risks=SOLARHOF_RISKS,
        team=(
            {"name": "Lena Huber", "role": "Managing director",
             "bio": "Electrical engineer; built 30 MWp of rooftop solar for a Munich "
                    "utility."},
            {"name": "Josef Wimmer", "role": "Farm partnerships",
             "bio": "Dairy farmer in Rottal-Inn and chair of the local farmers' "
                    "cooperative."},
        ),
        cover=((120, 180, 230), (230, 240, 250), "sun"),
    ),
)


def _statement(offering: DemoOffering) -> bytes:
    reg_cf = offering.regime is Regime.REG_CF
    money = f"{'USD' if reg_cf else 'EUR'} "
    security = offering.security_type.lower().replace("_", " ")
    terms = Section("The offering", [
        f"Issuer: {offering.issuer}. Securities offered: {security} shares at "
        f"{money}{offering.price_per_share} per share.",
        f"Target offering amount: {money}{offering.min_target:,}; maximum: "
        f"{money}{offering.max_target:,}; minimum investment: {money}{offering.min_pledge}.",
        f"Pre-money valuation stated by the issuer: {money}{offering.valuation:,}."
        if offering.valuation else "The issuer states no valuation.",
        "If the target offering amount is not reached by the deadline, every commitment is "
        "cancelled and the funds are returned.",
    ])
    if reg_cf:
        title = f"Form C - Offering Statement of {offering.issuer}"
        subtitle = "Filed under Regulation Crowdfunding, 17 CFR 227.201 (demo document)."
        warning = ("A crowdfunding investment involves risk. You should not invest any funds "
                   "in this offering unless you can afford to lose your entire investment. "
                   "The U.S. Securities and Exchange Commission does not pass upon the merits "
                   "of any securities offered or the terms of the offering.")
    else:
        title = f"Key Investment Information Sheet - {offering.issuer}"
        subtitle = "Regulation (EU) 2020/1503, Article 23 and Annex I (demo document)."
        warning = ("This crowdfunding offer has been neither verified nor approved by "
                   "competent authorities or ESMA. The appropriateness of your experience "
                   "and knowledge may not have been assessed. Investing in this crowdfunding "
                   "project entails risks, including the partial or entire loss of the money "
                   "invested.")
    # One paragraph per list item (items are wrapped over several lines in the source).
    plain = [" ".join(item.replace("**", "").split())
             for item in offering.risks.replace("\n  ", " ").split("\n- ")]
    sections = [
        Section("The issuer and its business",
                [" ".join(p.replace("**", "").replace("#", "").split())
                 for p in offering.story.split("\n\n")[:4]]),
        terms,
        Section("Use of proceeds", [
            " ".join(line.strip("-*0123456789. ").replace("**", "").split())
            for line in offering.use_of_proceeds.replace("\n  ", " ").splitlines()
            if line.strip()
        ]),
        Section("Risk factors", [item.lstrip("- ") for item in plain if item]),
        Section("Directors and officers", [
            f"{m['name']}, {m['role']}. {m.get('bio', '')}" for m in offering.team
        ]),
    ]
    return statement_pdf(title, subtitle, warning, sections)


def _financials(offering: DemoOffering) -> bytes:
    return statement_pdf(
        f"Financial statements 2025 - {offering.issuer}",
        "Reviewed by an independent accountant (demo document).",
        "Figures in USD. Unaudited; reviewed under AR-C 90.",
        [Section("Income statement", [
            "Revenue 1,482,000; cost of goods sold 861,000; gross profit 621,000.",
            "Operating expenses 574,000; net income 47,000.",
        ]), Section("Balance sheet", [
            "Cash 138,000; total assets 612,000; total liabilities 298,000.",
        ])],
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
        issuer=IssuerDetails(offering.issuer, offering.jurisdiction, offering.website),
        **offering.description(),
    ).value
    statement = OFFERING_STATEMENT[offering.regime]
    app.offerings.upload_document(
        founder_id, campaign_id, statement, f"{statement.value.lower().replace('_', '-')}.pdf",
        _statement(offering),
    )
    app.offerings.upload_document(founder_id, campaign_id, "IMAGE", "cover.png",
                                  cover_png(*offering.cover))
    if offering.financials:
        app.offerings.upload_document(founder_id, campaign_id, "FINANCIAL_STATEMENTS",
                                      "financial-statements-2025.pdf", _financials(offering))
    app.offerings.submit(founder_id, campaign_id)
    app.offerings.approve(officer_id, campaign_id)
    app.offerings.launch(founder_id, campaign_id)
    return campaign_id
