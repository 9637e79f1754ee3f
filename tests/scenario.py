"""Tiny builders for tests: people and campaigns in a known state, made through the real
commands of `domain.application.Crowdfund` (so every builder obeys the rules it sets up).

    from tests.scenario import Staff, staff, verified_backer, live_campaign, pledge

    team = staff(app)                                  # admin, risk officer, founder
    alice = verified_backer(app, team, annual_income="50000.00", net_worth="50000.00")
    cid = live_campaign(app, team, max_target="10000.00")
    pid = pledge(app, alice, cid, "500.00")

Also: `run_to_deadline(app, clock, cid)` (close, then settle or refund) and
`chain_break(app, stream_id)` (first event whose hash chain does not verify, or None).

Drafts come with their offering statement filed (a Form C, or a KIIS under ECSP: a small
PDF, see `offering_statement_pdf`), since `submit` needs one; `statement=False` leaves it out.

Defaults: REG_CF, USD, min target 1,000.00, max target 10,000.00, min pledge 100.00,
price per share 10.00, deadline 30 days after the app's clock (REG_CF needs at least 21).
Backers default to income and net worth of 50,000.00 (Reg CF limit 2,500.00) and
passed knowledge tests of both regimes (graded by the server: `pass_knowledge_tests`);
`pledge` acknowledges the risk unless told not to (every REG_CF pledge needs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.chain import GENESIS, hash_of
from domain.knowledge_test import questions
from domain.offering import OFFERING_STATEMENT
from domain.rulebook import Regime
from domain.user import EVERYONE, Role
from tests.authenticator import enroll

PASSWORD_HASH = "$argon2id$not-a-real-hash"
DEFAULT_TERMS: dict[str, str] = {
    "min_target": "1000.00",
    "max_target": "10000.00",
    "min_pledge": "100.00",
    "price_per_share": "10.00",
}


@dataclass(frozen=True)
class Staff:
    admin: UUID
    risk_officer: UUID
    founder: UUID


def email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid4().hex[:12]}@example.test"


def register(
    app: Crowdfund, prefix: str = "user", roles: tuple[Role, ...] = EVERYONE,
    name: str | None = None,
) -> UUID:
    """A plain account (BACKER and FOUNDER roles unless told otherwise)."""
    return app.accounts.register(email(prefix), name or prefix.title(), PASSWORD_HASH,
                                 roles).value


def admin(app: Crowdfund) -> UUID:
    """An admin with TOTP on (staff act only with a second factor)."""
    admin_id = register(app, "admin", (*EVERYONE, Role.ADMIN))
    enroll(app, admin_id)
    return admin_id


def risk_officer(app: Crowdfund, admin_id: UUID) -> UUID:
    officer = register(app, "officer")
    app.accounts.grant_role(admin_id, officer, Role.RISK_OFFICER)
    enroll(app, officer)
    return officer


def staff(app: Crowdfund) -> Staff:
    """An admin, a risk officer granted by the admin, and a founder (three people). The
    founder's name is unique: their default issuer is named after them, and an issuer
    belongs to the founder who registered it."""
    admin_id = admin(app)
    founder = register(app, "founder", name=f"Founder {uuid4().hex[:8]}")
    return Staff(admin_id, risk_officer(app, admin_id), founder)


def right_answers(regime: Regime, wrong: int = 0) -> list[tuple[str, int]]:
    """The answer sheet of a regime's test with the first `wrong` answers wrong."""
    return [
        (q.id, (q.correct + 1) % len(q.choices) if i < wrong else q.correct)
        for i, q in enumerate(questions(regime))
    ]


def pass_knowledge_tests(app: Crowdfund, user_id: UUID, *regimes: Regime) -> None:
    """Take (and pass) the knowledge test of each regime (both if none named)."""
    for regime in regimes or tuple(Regime):
        app.accounts.take_knowledge_test(user_id, regime, right_answers(regime))


def submit_profile(
    app: Crowdfund, user_id: UUID, *, annual_income: str = "50000.00",
    net_worth: str = "50000.00", accredited: bool = False, sophisticated: bool = False,
    knowledge_test_passed: bool = True, other_reg_cf_investments_12m: str = "0",
    country: str = "US", date_of_birth: str = "1990-04-30", currency: str | None = None,
) -> None:
    """`knowledge_test_passed`: also pass both knowledge tests (graded by the server)."""
    app.accounts.submit_investor_profile(
        user_id, legal_name="Test Investor", date_of_birth=date_of_birth, country=country,
        annual_income=annual_income, net_worth=net_worth, accredited=accredited,
        sophisticated=sophisticated, other_reg_cf_investments_12m=other_reg_cf_investments_12m,
        currency=currency,
    )
    if knowledge_test_passed:
        pass_knowledge_tests(app, user_id)


def verified_backer(app: Crowdfund, team: Staff, **profile: object) -> UUID:
    """A backer with a submitted profile (see `submit_profile` for the keywords), KYC VERIFIED."""
    backer = register(app, "backer")
    submit_profile(app, backer, **profile)  # type: ignore[arg-type]
    app.accounts.verify_investor(team.risk_officer, backer)
    return backer


def draft_campaign(
    app: Crowdfund, team: Staff, *, regime: Regime | str = Regime.REG_CF,
    deadline: datetime | None = None, days: float = 30, title: str = "Test offering",
    statement: bool = True, **terms: str,
) -> UUID:
    """A DRAFT campaign by `team.founder`; `terms` override DEFAULT_TERMS (snake_case)."""
    values = {**DEFAULT_TERMS, **terms}
    campaign = app.offerings.draft(
        team.founder, title=title, summary="A campaign made by tests.", regime=regime,
        deadline=deadline or app.clock.now() + timedelta(days=days), **values,
    ).value
    if statement:
        file_offering_statement(app, team.founder, campaign)
    return campaign


def offering_statement_pdf(label: str = "offering statement") -> bytes:
    """A small well-formed PDF (header, one empty page, trailer)."""
    return (
        b"%PDF-1.4\n% " + label.encode() + b"\n1 0 obj << /Type /Catalog /Pages 2 0 R >> "
        b"endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def file_offering_statement(app: Crowdfund, founder: UUID, campaign: UUID) -> None:
    """Upload the campaign's Form C (REG_CF) or KIIS (ECSP)."""
    kind = OFFERING_STATEMENT[app.campaign(campaign).regime]
    app.offerings.upload_document(
        founder, campaign, kind, f"{kind.value.lower()}.pdf",
        offering_statement_pdf(f"campaign {campaign}"),
    )


def approved_campaign(app: Crowdfund, team: Staff, **kwargs: object) -> UUID:
    campaign = draft_campaign(app, team, **kwargs)  # type: ignore[arg-type]
    app.offerings.submit(team.founder, campaign)
    app.offerings.approve(team.risk_officer, campaign)
    return campaign


def live_campaign(app: Crowdfund, team: Staff, **kwargs: object) -> UUID:
    """A LIVE campaign (same keywords as `draft_campaign`), launched at the app's clock."""
    campaign = approved_campaign(app, team, **kwargs)
    app.offerings.launch(team.founder, campaign)
    return campaign


def pledge(
    app: Crowdfund, backer: UUID, campaign: UUID, amount: str, key: str | None = None,
    acknowledge_risk: bool = True,
) -> UUID:
    """Place a pledge with a fresh idempotency key unless one is given; returns its id."""
    return app.pledges.place(backer, campaign, amount, key or uuid4().hex, acknowledge_risk).value


def run_to_deadline(app: Crowdfund, clock: SettableClock, campaign: UUID) -> None:
    """Move the clock to the campaign's deadline and run what fell due (close, refund or
    settle; an ECSP campaign settles when its last reflection period ends, where the
    clock is moved next)."""
    clock.set(app.campaign(campaign).terms.deadline)
    app.due.run()
    held = app.campaign(campaign).settlement_held_until
    if held is not None and held > clock.now():
        clock.set(held)
        app.due.run()


def chain_break(app: Crowdfund, stream: UUID) -> int | None:
    """The first version of `stream` whose hash or link to the previous event does not
    verify (or that is missing), or None when the whole chain verifies."""
    previous = GENESIS
    for expected_version, event in enumerate(app.events.get(stream), start=1):
        if event.originator_version != expected_version:
            return expected_version
        if event.prev_hash != previous or hash_of(event) != event.hash:  # type: ignore[attr-defined]
            return expected_version
        previous = event.hash  # type: ignore[attr-defined]
    return None
