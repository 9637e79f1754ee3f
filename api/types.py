"""The core object types: User, Campaign, Pledge and their connections.

Campaigns and pledges are read from the projections (`projections.views`);
users from the write model, because personal data never reaches read models.
A mutation's payload may be built from the write model instead (`*_from_record`)
when the read models have not caught up yet.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from api import auth
from api import offering_types as offering
from api.enums import (
    CampaignStatus,
    KycStatus,
    PledgeStatus,
    Regime,
    ReviewAction,
    Role,
    SecurityType,
)
from api.reviews import ReviewChecklist, checklist_view
from api.scalars import Long
from application.reviews import review_history
from domain.campaign import Campaign as CampaignRecord
from domain.cancellation import cancellable_until
from domain.errors import NotFoundError
from domain.issuer import DEFAULT_JURISDICTION
from domain.issuer import Issuer as IssuerRecord
from domain.issuer import issuer_id as derive_issuer_id
from domain.knowledge_test import Question as KnowledgeTestQuestion
from domain.money import ZERO
from domain.pledge import Pledge as PledgeRecord
from domain.pledge import PledgeStatus as DomainPledgeStatus
from domain.question import Question as QuestionRecord
from domain.rulebook import RULEBOOKS
from domain.rulebook import Regime as DomainRegime
from domain.user import STAFF
from domain.user import User as UserRecord
from projections.queries import InvalidCursor
from projections.questions import QuestionView, questions_for
from projections.views import CampaignView, DocumentView, OfferingView, PledgeView, UpdateView

MAX_PAGE = 100


def clamp_first(first: int | None, default: int) -> int:
    """Page sizes are capped so one request cannot read a whole table: a bigger
    `first` is refused (BAD_USER_INPUT), not silently shortened."""
    if first is None:
        return default
    if first < 0 or first > MAX_PAGE:
        raise auth.bad_input(f"first must be between 0 and {MAX_PAGE}; page with `after`.")
    return first


# ----------------------------------------------------------------------------- users


@strawberry.type
class InvestorProfile:
    kyc_status: KycStatus
    country: str
    accredited: bool
    sophisticated: bool
    knowledge_test_passed: bool
    # What the user declared, shown back to them alone so that they can edit it (staff
    # read it through the KYC queue, where every read is recorded).
    legal_name: str | None = strawberry.field(
        default=None, description="Visible to the user themself only (null for staff)."
    )
    date_of_birth: str | None = strawberry.field(
        default=None, description="Visible to the user themself only."
    )
    annual_income: Decimal | None = strawberry.field(
        default=None, description="Visible to the user themself only."
    )
    net_worth: Decimal | None = strawberry.field(
        default=None, description="Visible to the user themself only."
    )
    other_reg_cf_investments12m: Decimal | None = strawberry.field(
        default=None, name="otherRegCfInvestments12m",
        description="Visible to the user themself only.",
    )


@strawberry.type
class User:
    id: strawberry.ID
    display_name: str
    roles: list[Role]
    record: strawberry.Private[UserRecord]

    @strawberry.field(
        description="Visible to the user, to founders of campaigns the user backed, and to "
        "staff (admins, risk officers, auditors); null for anyone else."
    )
    async def email(self, info: Info[Any, Any]) -> str | None:
        who = auth.viewer(info)
        if who is None:
            return None
        if who.id == self.id:
            return self.record.email
        if not who.is_staff:
            founders = await auth.context(info).loaders.backed_founders.load(self.id)
            if who.id not in founders:
                return None
        await auth.shown(info, self.id, "User.email")
        return self.record.email

    @strawberry.field(
        description="Whether the user signs in with a TOTP code; visible to the user and "
        "to staff, null for anyone else."
    )
    def totp_enabled(self, info: Info[Any, Any]) -> bool | None:
        who = auth.viewer(info)
        if who is None or not (who.id == self.id or who.is_staff):
            return None
        return self.record.totp_enabled

    @strawberry.field(description="Visible to the user and to staff (a staff read is recorded, "
                      "see dataAccessLog); null for anyone else.")
    async def investor_profile(self, info: Info[Any, Any]) -> InvestorProfile | None:
        who = auth.viewer(info)
        profile = self.record.profile
        if who is None or profile is None or not (who.id == self.id or who.is_staff):
            return None
        now = auth.context(info).services.clock.now()
        own = who.id == self.id
        await auth.shown(info, self.id, "User.investorProfile")
        return InvestorProfile(
            kyc_status=KycStatus(self.record.kyc_status.value),
            country=profile.country,
            accredited=profile.accredited,
            sophisticated=profile.sophisticated,
            # Graded on the server: a passed, unexpired test under either regime.
            knowledge_test_passed=any(
                self.record.knowledge_test_passed(r, now) for r in DomainRegime
            ),
            legal_name=profile.legal_name if own else None,
            date_of_birth=profile.date_of_birth if own else None,
            annual_income=profile.annual_income if own else None,
            net_worth=profile.net_worth if own else None,
            other_reg_cf_investments12m=profile.other_reg_cf_investments_12m if own else None,
        )


def user_from_record(record: UserRecord) -> User:
    return User(
        id=strawberry.ID(str(record.id)),
        display_name=record.display_name,
        roles=[Role(r) for r in record.roles],
        record=record,
    )


async def load_user(info: Info[Any, Any], user_id: str) -> User:
    record = await auth.context(info).loaders.users.load(user_id)
    if record is None:
        raise LookupError("a referenced user does not exist")  # a bug: masked, logged
    return user_from_record(record)


@strawberry.type
class InvestmentLimit:
    regime: Regime
    limit: Decimal | None = strawberry.field(
        description="null means no limit (accredited investors under REG_CF, every investor "
        "under ECSP)."
    )
    used: Decimal = strawberry.field(
        description="Counted over the trailing 12 months, including declared investments on "
        "other platforms."
    )
    remaining: Decimal | None
    can_bear_to_lose: Decimal | None = strawberry.field(
        description="ECSP: the loss-bearing simulation (Art. 21(5)), 10% of net worth; null "
        "under REG_CF."
    )
    knowledge_test_passed: bool = strawberry.field(
        description="Whether the signed-in user has a passed, unexpired knowledge test for "
        "this regime."
    )


@strawberry.type
class KnowledgeQuestion:
    id: strawberry.ID
    text: str
    choices: list[str]


def question_from_domain(question: KnowledgeTestQuestion) -> KnowledgeQuestion:
    """What a client may see of a question: never which choice is right."""
    return KnowledgeQuestion(
        id=strawberry.ID(question.id), text=question.text, choices=list(question.choices)
    )


# --------------------------------------------------------------------------- issuers


@strawberry.type(
    description="The company whose securities a campaign offers. Issuers are told apart by "
    "legal name (case and punctuation ignored) and jurisdiction; the issuer limit is counted "
    "per issuer."
)
class Issuer:
    id: strawberry.ID
    legal_name: str
    jurisdiction: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    website: str | None
    sold_last_12_months_usd: Decimal = strawberry.field(
        name="soldLast12MonthsUsd",
        description="Sold in the trailing 12 months (settled campaigns), in the regime's "
        "currency: REG_CF in USD.",
    )
    sold_last_12_months_eur: Decimal = strawberry.field(
        name="soldLast12MonthsEur", description="Same for ECSP, in EUR."
    )


def issuer_from_record(record: IssuerRecord, now: datetime) -> Issuer:
    return Issuer(
        id=strawberry.ID(str(record.id)), legal_name=record.registered_name,
        jurisdiction=record.jurisdiction, website=record.website,
        sold_last_12_months_usd=record.sold_last_12_months(DomainRegime.REG_CF, now),
        sold_last_12_months_eur=record.sold_last_12_months(DomainRegime.ECSP, now),
    )


def issuer_id_of(services: Any, record: CampaignRecord) -> str:
    """The campaign's issuer id (blocking). A campaign drafted before issuers were
    recorded has the default one: named after its founder, in the regime's jurisdiction."""
    if record.issuer_id is not None:
        return record.issuer_id
    founder = services.app.user(record.founder_id)
    return str(derive_issuer_id(founder.display_name, DEFAULT_JURISDICTION[record.regime]))


def issuer_of(services: Any, record: CampaignRecord) -> Issuer:
    """The campaign's issuer (blocking: run it in the thread pool). A campaign drafted
    before issuers were recorded shows the default one: its founder's name, unregistered."""
    now = services.clock.now()
    uid = issuer_id_of(services, record)
    try:
        return issuer_from_record(services.app.issuer(uid), now)
    except NotFoundError:
        if record.issuer_id is not None:
            raise
        founder = services.app.user(record.founder_id)
        return Issuer(
            id=strawberry.ID(uid), legal_name=founder.display_name,
            jurisdiction=DEFAULT_JURISDICTION[record.regime], website=None,
            sold_last_12_months_usd=ZERO, sold_last_12_months_eur=ZERO,
        )


# ------------------------------------------------------------------------- campaigns


@strawberry.type
class CampaignUpdate:
    id: strawberry.ID
    posted_at: datetime
    title: str
    body: str
    material: bool


def update_from_view(view: UpdateView) -> CampaignUpdate:
    return CampaignUpdate(
        id=strawberry.ID(view.id), posted_at=view.posted_at, title=view.title, body=view.body,
        material=view.material,
    )


@strawberry.type(description="One step of a campaign's review, from its events.")
class CampaignReview:
    action: ReviewAction
    at: datetime
    reason: str | None = strawberry.field(description="Why a risk officer rejected it.")
    checklist: ReviewChecklist | None = strawberry.field(
        description="The risk officer's due-diligence answers, as the approval or rejection "
        "event recorded them; null for a submission, and for a review made without the "
        "checklist (or recorded before it existed)."
    )
    reviewer_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The risk officer who decided: shown to staff, null for "
                      "the founder.")
    async def reviewer(self, info: Info[Any, Any]) -> User | None:
        who = auth.viewer(info)
        if self.reviewer_id is None or who is None or not who.has(*STAFF):
            return None
        return await load_user(info, self.reviewer_id)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Campaign:
    id: strawberry.ID
    title: str
    summary: str
    regime: Regime
    currency: str
    status: CampaignStatus
    min_target: Decimal
    max_target: Decimal
    min_pledge: Decimal
    price_per_share: Decimal
    deadline: datetime
    launched_at: datetime | None
    raised: Decimal = strawberry.field(
        description="Sum of ACTIVE, PENDING_RECONFIRMATION and SETTLED pledges."
    )
    backer_count: int = strawberry.field(description="Distinct backers with such pledges.")
    security_type: SecurityType = strawberry.field(resolver=offering.security_type)
    valuation: Decimal | None = strawberry.field(
        resolver=offering.valuation,
        description="Pre-money valuation in the campaign's currency, when the founder states one.",
    )
    story: str = strawberry.field(resolver=offering.story,
                                  description="Long-form pitch (Markdown source).")
    story_html: str = strawberry.field(
        resolver=offering.story_html,
        description="The story rendered from Markdown to sanitised HTML (no raw HTML, no "
        "scripts, links with rel=noopener), safe to insert into a page.",
    )
    use_of_proceeds: str = strawberry.field(resolver=offering.use_of_proceeds)
    use_of_proceeds_html: str = strawberry.field(
        resolver=offering.use_of_proceeds_html,
        description="useOfProceeds rendered as storyHtml is.",
    )
    risks: str = strawberry.field(
        resolver=offering.risks, description="The issuer's own statement of the principal risks."
    )
    risks_html: str = strawberry.field(
        resolver=offering.risks_html, description="risks rendered as storyHtml is."
    )
    team: list[offering.TeamMember] = strawberry.field(resolver=offering.team)
    documents: list[offering.Document] = strawberry.field(
        resolver=offering.documents,
        description="Oldest first; the latest FORM_C or KIIS is the current offering statement.",
    )
    pledge_cancellable_until: datetime | None = strawberry.field(
        resolver=offering.pledge_cancellable_until,
        description="Until when a pledge placed now could be cancelled without giving a "
        "reason (REG_CF: 48 hours before the deadline; ECSP: the reflection period); null "
        "when it could not be, or the campaign takes no pledges.",
    )
    founder_id: strawberry.Private[str]
    # Position of the last event reflected here (subscriptions and read-your-writes).
    last_position: strawberry.Private[int] = 0
    # Set when built from the write model (the read models may not have it yet).
    offering_snapshot: strawberry.Private[OfferingView | None] = None
    documents_snapshot: strawberry.Private[tuple[DocumentView, ...] | None] = None

    @strawberry.field
    async def founder(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.founder_id)

    @strawberry.field(
        description="Visible to the campaign's founder, risk officers and auditors only."
    )
    async def pledges(
        self, info: Info[Any, Any], first: int | None = 50, after: str | None = None
    ) -> PledgeConnection:
        auth.require_insider(info, self.founder_id, "see a campaign's pledges")
        services = auth.context(info).services
        try:
            page = await services.run(
                services.read_models.pledges_for_campaign, self.id, clamp_first(first, 50), after
            )
        except InvalidCursor:
            raise auth.bad_input("`after` is not a cursor this API handed out.") from None
        return PledgeConnection(
            edges=[
                PledgeEdge(cursor=c, node=pledge_from_view(p, services.clock.now()))
                for p, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            total_count=page.total_count,
        )

    @strawberry.field(
        description="The deadline the campaign was launched with, kept when it closes early."
    )
    async def original_deadline(self, info: Info[Any, Any]) -> datetime | None:
        services = auth.context(info).services
        record = await services.run(services.app.campaign, self.id)
        return record.original_deadline

    @strawberry.field
    async def issuer(self, info: Info[Any, Any]) -> Issuer:
        services = auth.context(info).services

        def load() -> Issuer:
            return issuer_of(services, services.app.campaign(self.id))

        return await services.run(load)

    @strawberry.field(
        description="What the issuer may still offer under the regime's 12-month limit beside "
        "its other open offerings and its sales: the largest maximum target this campaign "
        "may have (17 CFR 227.100(a)(1); ECSP Art. 1(2)(c)). The full limit for an issuer "
        "not registered yet."
    )
    async def issuer_room(self, info: Info[Any, Any]) -> Decimal:
        services = auth.context(info).services

        def load() -> Decimal:
            record = services.app.campaign(self.id)
            regime = DomainRegime(self.regime.value)
            try:
                issuer = services.app.issuer(issuer_id_of(services, record))
            except NotFoundError:
                return RULEBOOKS[regime].offering_limit
            return issuer.room_for(self.id, regime, services.clock.now())

        return await services.run(load)

    @strawberry.field(description="Public Q&A (17 CFR 227.303(c)), oldest first.")
    async def questions(self, info: Info[Any, Any]) -> list[Question]:
        services = auth.context(info).services
        views = await services.run(questions_for, services.read_models.engine, self.id)
        return [question_from_view(v) for v in views]

    @strawberry.field(
        description="Submissions and review decisions, oldest first, with a rejection's "
        "reason and the due-diligence checklist. Visible to the campaign's founder, risk "
        "officers and auditors only."
    )
    async def review_history(self, info: Info[Any, Any]) -> list[CampaignReview]:
        auth.require_insider(info, self.founder_id, "see a campaign's review history")
        services = auth.context(info).services
        steps = await services.run(review_history, services.app, self.id)
        return [CampaignReview(action=ReviewAction(s.action.value), at=s.at, reason=s.reason,
                               checklist=checklist_view(s.checklist), reviewer_id=s.reviewer_id)
                for s in steps]

    @strawberry.field
    async def updates(self, info: Info[Any, Any]) -> list[CampaignUpdate]:
        services = auth.context(info).services
        views = await services.run(services.read_models.updates, self.id)
        return [update_from_view(v) for v in views]


def campaign_from_view(view: CampaignView) -> Campaign:
    return Campaign(
        id=strawberry.ID(view.id), title=view.title, summary=view.summary,
        regime=Regime(view.regime), currency=view.currency, status=CampaignStatus(view.status),
        min_target=view.min_target, max_target=view.max_target, min_pledge=view.min_pledge,
        price_per_share=view.price_per_share, deadline=view.deadline,
        launched_at=view.launched_at, raised=view.raised, backer_count=view.backer_count,
        founder_id=view.founder_id, last_position=view.last_position,
    )


def campaign_from_record(record: CampaignRecord, backer_count: int, position: int) -> Campaign:
    """From the write model, for a payload the read models have not caught up with."""
    terms = record.terms
    disclosure = offering.disclosure_of(record)
    return Campaign(
        id=strawberry.ID(str(record.id)), title=terms.title, summary=terms.summary,
        regime=Regime(record.regime.value), currency=record.currency,
        status=CampaignStatus(record.status.value), min_target=terms.min_target,
        max_target=terms.max_target, min_pledge=terms.min_pledge,
        price_per_share=terms.price_per_share, deadline=terms.deadline,
        launched_at=record.launched_at, raised=record.raised, backer_count=backer_count,
        founder_id=record.founder_id, last_position=position,
        offering_snapshot=disclosure[0], documents_snapshot=disclosure[1],
    )


@strawberry.type
class CampaignEdge:
    cursor: str
    node: Campaign


@strawberry.type
class CampaignConnection:
    edges: list[CampaignEdge]
    page_info: PageInfo
    total_count: int


# ------------------------------------------------------------------------- questions


@strawberry.type
class Question:
    id: strawberry.ID
    asked_at: datetime
    answered_at: datetime | None
    hidden: bool
    asked_by_founder: bool = strawberry.field(description=(
        "17 CFR 227.303(c): the campaign's founder asked it (answers are always the "
        "founder's)."))
    campaign_id: strawberry.Private[str]
    asker_id: strawberry.Private[str]
    answerer_id: strawberry.Private[str | None]
    text: strawberry.Private[str]
    answer_text: strawberry.Private[str | None]
    reason: strawberry.Private[str | None]

    def _shown(self, info: Info[Any, Any], text: str | None) -> str | None:
        who = auth.viewer(info)
        return text if not self.hidden or (who is not None and who.is_staff) else None

    @strawberry.field(description="null for everyone but staff once hidden.")
    def body(self, info: Info[Any, Any]) -> str | None:
        return self._shown(info, self.text)

    @strawberry.field(description="The founder's public answer; null for everyone but staff "
                      "once the question is hidden.")
    def answer(self, info: Info[Any, Any]) -> str | None:
        return self._shown(info, self.answer_text)

    @strawberry.field(description="Staff only: why a risk officer hid it.")
    def hidden_reason(self, info: Info[Any, Any]) -> str | None:
        who = auth.viewer(info)
        return self.reason if who is not None and who.is_staff else None

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        view = await auth.context(info).loaders.campaigns.load(self.campaign_id)
        if view is None:
            raise LookupError("a question's campaign is missing")  # a bug: masked, logged
        return campaign_from_view(view)

    @strawberry.field
    async def asked_by(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.asker_id)

    @strawberry.field(description="The founder who answered (they identify themselves).")
    async def answered_by(self, info: Info[Any, Any]) -> User | None:
        return None if self.answerer_id is None else await load_user(info, self.answerer_id)


def question_from_view(view: QuestionView) -> Question:
    return Question(
        id=strawberry.ID(view.id), asked_at=view.asked_at, answered_at=view.answered_at,
        hidden=view.hidden, asked_by_founder=view.by_founder, campaign_id=view.campaign_id,
        asker_id=view.asker_id, answerer_id=view.answerer_id, text=view.body,
        answer_text=view.answer, reason=view.hidden_reason,
    )


def question_from_record(record: QuestionRecord) -> Question:
    """From the write model, for a mutation's payload (the read models may lag)."""
    return Question(
        id=strawberry.ID(str(record.id)), asked_at=record.created_on,
        answered_at=record.answered_at,
        hidden=record.hidden, asked_by_founder=record.by_founder,
        campaign_id=record.campaign_id, asker_id=record.asker_id,
        answerer_id=record.answerer_id, text=record.body, answer_text=record.answer,
        reason=record.hidden_reason,
    )


# --------------------------------------------------------------------------- pledges

@strawberry.type
class Pledge:
    id: strawberry.ID
    amount: Decimal
    shares: Long
    status: PledgeStatus
    pledged_at: datetime
    cancellable_until: datetime | None = strawberry.field(
        description="Until when the backer may cancel without giving a reason; null when no "
        "longer cancellable."
    )
    reconfirm_by: datetime | None = strawberry.field(
        description="Set while PENDING_RECONFIRMATION."
    )
    campaign_id: strawberry.Private[str]
    backer_id: strawberry.Private[str]

    @strawberry.field
    async def campaign(self, info: Info[Any, Any]) -> Campaign:
        view = await auth.context(info).loaders.campaigns.load(self.campaign_id)
        if view is not None:
            return campaign_from_view(view)
        # Read models still behind a fresh pledge: answer from the write model.
        services = auth.context(info).services
        record = await services.run(services.app.campaign, self.campaign_id)
        return campaign_from_record(record, 0, 0)

    @strawberry.field
    async def investor(self, info: Info[Any, Any]) -> User:
        return await load_user(info, self.backer_id)


def _window(
    regime: str, status: PledgeStatus, pledged_at: datetime, reflection_ends: datetime | None,
    deadline: datetime | None, reconfirm_by: datetime | None, now: datetime,
) -> datetime | None:
    """`domain.cancellation.cancellable_until` on what the API has at hand."""
    if deadline is None:  # the campaign's row is not projected yet: no window to promise
        return None
    return cancellable_until(
        DomainRegime(regime), DomainPledgeStatus(status.value), pledged_at, reflection_ends,
        deadline, reconfirm_by, now,
    )


def pledge_from_view(view: PledgeView, now: datetime) -> Pledge:
    status = PledgeStatus(view.status)
    return Pledge(
        id=strawberry.ID(view.id), amount=view.amount, shares=Long(view.shares), status=status,
        pledged_at=view.pledged_at,
        cancellable_until=_window(
            view.regime, status, view.pledged_at, view.reflection_ends, view.campaign_deadline,
            view.reconfirm_by, now,
        ),
        reconfirm_by=view.reconfirm_by if status is PledgeStatus.PENDING_RECONFIRMATION else None,
        campaign_id=view.campaign_id, backer_id=view.backer_id,
    )


def pledge_from_record(record: PledgeRecord, now: datetime, deadline: datetime) -> Pledge:
    """From the write model (`deadline`: the campaign's current one)."""
    status = PledgeStatus(record.status.value)
    return Pledge(
        id=strawberry.ID(str(record.id)), amount=record.amount, shares=Long(record.shares),
        status=status, pledged_at=record.pledged_at,
        cancellable_until=_window(
            record.regime, status, record.pledged_at, record.cancellable_until, deadline,
            record.reconfirm_by, now,
        ),
        reconfirm_by=record.reconfirm_by, campaign_id=record.campaign_id,
        backer_id=record.backer_id,
    )


@strawberry.type
class PledgeEdge:
    cursor: str
    node: Pledge


@strawberry.type
class PledgeConnection:
    edges: list[PledgeEdge]
    page_info: PageInfo
    total_count: int
