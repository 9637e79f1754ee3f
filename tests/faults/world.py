"""The people and campaigns a fault run pledges to, written straight to the event store.

Set up through the domain (not the API) before any process starts: it is fast,
and the API's own flows are covered elsewhere. Backers get bearer tokens signed
with the platform's secret, as `signIn` would hand out.

Campaigns:
- `regcf-small`: REG_CF, a max target the load fills within seconds (MaxTargetExceeded).
- `regcf-big`, `ecsp-big`: long-running, take pledges all run long.
- `short-*`: ECSP offerings whose deadline falls while the load runs; the scheduler
  settles the `short-ok-*` ones (min target met: funds released) and refunds the
  `short-fail-*` ones (min target out of reach: funds refunded).

Backers have Reg CF limits of USD 2,500 (most), USD 30,000, or none (accredited), so
the per-backer cap is reached during the run too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.security import TokenSigner, hash_password, make_hasher
from application.crowdfund import Crowdfund
from domain.rulebook import reg_cf_limit
from domain.user import Role
from tests.authenticator import enroll
from tests.scenario import file_offering_statement, pass_knowledge_tests

PASSWORD_HASH = "$argon2id$v=19$m=8,t=1,p=1$bm90LWEtcmVhbC1zYWx0$bm90LWEtcmVhbC1oYXNo"
TOKEN_TTL = 6 * 3600
# A short campaign's deadline must be more than a minute after its launch.
SHORT_FIRST_DEADLINE = timedelta(seconds=63)


@dataclass(frozen=True)
class Backer:
    id: str
    token: str
    email: str
    legal_name: str
    income: Decimal
    net_worth: Decimal
    accredited: bool

    @property
    def reg_cf_limit(self) -> Decimal | None:
        return reg_cf_limit(self.income, self.net_worth, self.accredited)


@dataclass(frozen=True)
class Offering:
    name: str
    id: str
    regime: str
    price: Decimal
    min_pledge: Decimal
    min_target: Decimal
    max_target: Decimal
    deadline: datetime

    @property
    def short(self) -> bool:
        return self.name.startswith("short-")

    @property
    def expect_funded(self) -> bool:
        return self.name.startswith("short-ok")


@dataclass(frozen=True)
class World:
    officer_id: str
    backers: tuple[Backer, ...]
    offerings: tuple[Offering, ...]
    setup_at: datetime
    # Who signs in and out during the run (tests/faults/sessions.py).
    session_email: str = ""
    session_password: str = ""

    def offering(self, campaign_id: str) -> Offering:
        return next(o for o in self.offerings if o.id == campaign_id)

    @property
    def short_offerings(self) -> tuple[Offering, ...]:
        return tuple(o for o in self.offerings if o.short)


# Backer profiles: (count, income, net worth, accredited).
PROFILES = ((10, "50000.00", "60000.00", False), (4, "300000.00", "300000.00", False),
            (2, "900000.00", "2000000.00", True))


def build_world(app: Crowdfund, secret: str, *, short_waves: int = 1,
                wave_gap: timedelta = timedelta(seconds=45)) -> World:
    tag = uuid.uuid4().hex[:8]
    tokens = TokenSigner(secret, TOKEN_TTL)
    now = datetime.now(UTC)
    offerings: list[Offering] = []

    def campaign(name: str, regime: str, price: str, min_pledge: str, min_target: str,
                 max_target: str, deadline: datetime) -> None:
        founder = app.accounts.register(f"founder-{name}-{tag}@example.test", f"Founder {name}",
                                    PASSWORD_HASH).value
        cid = app.offerings.draft(
            founder, title=f"Fault run {name}", summary="Under fire.", regime=regime,
            min_target=min_target, max_target=max_target, min_pledge=min_pledge,
            price_per_share=price, deadline=deadline,
        ).value
        file_offering_statement(app, founder, cid)
        app.offerings.submit(founder, cid)
        app.offerings.approve(officer, cid)
        app.offerings.launch(founder, cid)
        offerings.append(Offering(name, str(cid), regime, Decimal(price), Decimal(min_pledge),
                                  Decimal(min_target), Decimal(max_target), deadline))

    officer = app.accounts.register(f"officer-{tag}@example.test", "Officer", PASSWORD_HASH,
                                (Role.BACKER, Role.FOUNDER, Role.RISK_OFFICER)).value
    enroll(app, officer)  # staff act once TOTP is on
    # The short offerings first: their deadlines are counted from now.
    first = now + SHORT_FIRST_DEADLINE
    for wave in range(short_waves):
        at = first + wave * wave_gap
        campaign(f"short-ok-{wave}", "ECSP", "1.00", "10.00", "100.00", "1000000.00", at)
        campaign(f"short-fail-{wave}", "ECSP", "1.00", "10.00", "1000000.00", "2000000.00",
                 at + timedelta(seconds=1))
    far = now + timedelta(days=40)
    campaign("regcf-small", "REG_CF", "10.00", "100.00", "1000.00", "15000.00", far)
    campaign("regcf-big", "REG_CF", "10.00", "100.00", "1000.00", "900000.00", far)
    campaign("ecsp-big", "ECSP", "1.00", "10.00", "1000.00", "4000000.00", far)

    backers = []
    number = 0
    for count, income, worth, accredited in PROFILES:
        for _ in range(count):
            number += 1
            email = f"backer{number}-{tag}@faults.example"
            legal = f"Faultrun Backer{number} Q{tag}"
            uid = app.accounts.register(email, f"Backer {number}", PASSWORD_HASH).value
            app.accounts.submit_investor_profile(
                uid, legal_name=legal, date_of_birth="1971-02-13", country="US",
                annual_income=income, net_worth=worth, accredited=accredited,
            )
            pass_knowledge_tests(app, uid)  # graded by the server
            app.accounts.verify_investor(officer, uid)
            roles = list(app.user(uid).roles)
            backers.append(Backer(str(uid), tokens.issue(str(uid), roles), email, legal,
                                  Decimal(income), Decimal(worth), accredited))
    session_email = f"sessions-{tag}@faults.example"
    session_password = f"sessions-{tag}-correct-horse"
    app.accounts.register(session_email, "Session Prober", hash_password(
        session_password, hasher=make_hasher(time_cost=1, memory_cost=8, parallelism=1)))
    return World(str(officer), tuple(backers), tuple(offerings), now, session_email,
                 session_password)
