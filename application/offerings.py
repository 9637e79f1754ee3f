"""Commands on a campaign's lifecycle, its updates and its distributions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from application.documents import DocumentStore, inspect_content
from application.due_work import DueWork, next_due
from application.unit_of_work import Decision, UnitOfWork, Written
from domain import limits
from domain.campaign import DOCUMENTS_OPEN, Campaign, CampaignStatus, CampaignTerms, deadline_guard
from domain.cap_table import CapTable
from domain.distribution import DeclaredDistribution
from domain.errors import (
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from domain.input import parse_regime, parse_term_changes, require_reason
from domain.issuer import DEFAULT_JURISDICTION, Issuer, check_issuer, issuer_id
from domain.money import parse_amount
from domain.offering import (
    OFFERING_FIELDS,
    STATEMENT_NAMES,
    Disclosure,
    Document,
    document_name,
    offering_is_offered,
    parse_document_kind,
    parse_offering_changes,
)
from domain.review import ReviewChecklist
from domain.rulebook import RULEBOOKS, Regime
from domain.user import Role, User


@dataclass(frozen=True)
class IssuerDetails:
    """The company a campaign offers securities of, as the founder names it."""

    legal_name: str
    jurisdiction: str
    website: str | None = None

_OFFERING_CAMEL = {"securityType", "useOfProceeds"}


def readable_instant(instant: datetime) -> str:
    """An instant as a person reads it in a notice, e.g. "Friday 11 December 2026,
    09:46 UTC" (the page shows it in the reader's own time zone as well)."""
    utc = instant.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y, %H:%M} UTC"


class OfferingCommands:
    def __init__(
        self, uow: UnitOfWork, due: DueWork, documents: DocumentStore | None = None
    ) -> None:
        self.uow = uow
        self.due = due
        self.documents = documents

    # Campaign lifecycle ------------------------------------------------------------

    def draft(
        self, founder_id: UUID | str, *, title: str, summary: str, regime: Regime | str,
        min_target: object, max_target: object, min_pledge: object, price_per_share: object,
        deadline: datetime, issuer: IssuerDetails | None = None, **offering: Any,
    ) -> Written[UUID]:
        """A DRAFT campaign of `issuer` (absent: one named after the founder, in the
        regime's home jurisdiction). A new issuer is registered to this founder; an
        issuer another founder registered is refused. `offering`: security_type, valuation,
        story, use_of_proceeds, risks, team (camelCase accepted), described by an
        `OfferingDescribed` after the draft."""
        rules = RULEBOOKS[parse_regime(regime)]
        named = None if issuer is None else check_issuer(
            issuer.legal_name, issuer.jurisdiction, issuer.website
        )
        unknown = sorted(set(offering) - set(OFFERING_FIELDS) - _OFFERING_CAMEL)
        if unknown:
            raise ValidationError(f"{unknown[0]} is not part of an offering.", unknown[0])
        description = Disclosure().with_changes(parse_offering_changes(offering))
        description.check()
        terms = CampaignTerms(
            title=title.strip(), summary=summary.strip(),
            min_target=parse_amount(min_target, "minTarget"),
            max_target=parse_amount(max_target, "maxTarget"),
            min_pledge=parse_amount(min_pledge, "minPledge"),
            price_per_share=parse_amount(price_per_share, "pricePerShare"),
            deadline=deadline,
        )
        terms.check(rules)

        def decide(now: datetime) -> Decision[UUID]:
            deadline_guard(terms.deadline, now)
            founder = self.uow.user(founder_id)
            founder.require_not_staff("found a campaign")
            company = self._issuer_for(founder, rules.regime, named)
            campaign = Campaign(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                founder_id=str(founder.id), regime=rules.regime.value, currency=rules.currency,
                id=uuid4(), **terms.as_event_fields(),
            )
            campaign.assign_issuer(str(company.id))
            if offering_is_offered(description):
                campaign.describe(description)
            return campaign.id, [campaign, company]

        return self.uow.run(decide)

    def _issuer_for(
        self, founder: User, regime: Regime, named: tuple[str, str, str | None] | None
    ) -> Issuer:
        """The named issuer (or the founder's default one), registered if new."""
        legal_name, jurisdiction, website = named or check_issuer(
            founder.display_name, DEFAULT_JURISDICTION[regime], None
        )
        uid = issuer_id(legal_name, jurisdiction)
        try:
            company = self.uow.issuer(uid)
        except NotFoundError:
            return Issuer(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                registered_name=legal_name, jurisdiction=jurisdiction, website=website,
                founder_id=str(founder.id), id=uid,
            )
        company.require_founder(str(founder.id))
        return company

    def _issuer_of(self, campaign: Campaign) -> Issuer | None:
        """Campaigns drafted before issuers were recorded have none."""
        return None if campaign.issuer_id is None else self.uow.issuer(campaign.issuer_id)

    def amend(
        self, founder_id: UUID | str, campaign_id: UUID | str, changes: dict[str, Any]
    ) -> Written[UUID]:
        """Terms and offering fields (camelCase or snake_case); None means unchanged."""
        offering_changes = parse_offering_changes(changes)
        term_changes = {
            k: v for k, v in changes.items()
            if v is not None and k not in OFFERING_FIELDS and k not in _OFFERING_CAMEL
        }
        # Nothing given at all: parse_term_changes says NOTHING_CHANGED.
        parsed = parse_term_changes(term_changes) if term_changes or not offering_changes else {}

        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            if "deadline" in parsed:
                deadline_guard(parsed["deadline"], now)
            changed = sorted(k for k, v in parsed.items() if getattr(campaign.terms, k) != v)
            changed += campaign.offering.changed_fields(
                campaign.offering.with_changes(offering_changes)
            )
            material = campaign.amend(
                parsed, now, self.uow.holidays(campaign.regime), offering_changes
            )
            touched: list[Aggregate] = [campaign]
            if material:
                # 227.100(a)(1): a live offering's higher maximum must fit the issuer's limit.
                company = self._issuer_of(campaign)
                if company is not None:
                    company.open_offering(
                        str(campaign.id), campaign.regime, campaign.terms.max_target, now
                    )
                    touched.append(company)
                what = ", ".join(name.replace("_", " ") for name in changed)
                touched += self._request_reconfirmations(
                    campaign, f"The terms of this offering changed ({what}).", now
                )
            return campaign.id, touched

        return self.uow.run(decide)

    def _request_reconfirmations(
        self, campaign: Campaign, what: str | None, now: datetime
    ) -> list[Aggregate]:
        """A material change: every open pledge must be reconfirmed (Rule 304(c)). `what`
        changed is announced in an update (None: the founder's own update announces it)."""
        assert campaign.reconfirm_by is not None
        if what is not None:
            campaign.post_update(
                update_id=str(uuid4()), title="Material change to the offering",
                body=f"{what} Reconfirm your pledge by {readable_instant(campaign.reconfirm_by)} "
                "or it will be cancelled and refunded.",
                material=True,
            )
        touched: list[Aggregate] = []
        for pid in self.uow.open_pledge_ids(campaign.id):
            pledge = self.uow.pledge_record(pid)
            if not pledge.is_open:
                # Closed since the scan: the campaign's version check on save sees it.
                continue
            pledge.request_reconfirmation(campaign.reconfirm_by, campaign.terms_version)
            touched.append(pledge)
        calendar = self.uow.calendar()
        calendar.schedule(str(campaign.id), next_due(campaign, now))
        return [*touched, calendar]

    def upload_document(
        self, founder_id: UUID | str, campaign_id: UUID | str, kind: object,
        file_name: str | None, content: bytes,
    ) -> Written[Document]:
        """File a document with the offering: the type is decided from the content, the
        bytes are kept by their SHA-256 and the event records that hash. A new offering
        statement while live is a material change (every open pledge must reconfirm)."""
        document_kind = parse_document_kind(kind)
        if self.documents is None:
            raise InvalidStateError("This platform keeps no documents.", "DOCUMENTS_UNAVAILABLE")

        def may_file(now: datetime) -> Decision[None]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.require_status(*DOCUMENTS_OPEN, doing="upload a document")
            return None, []

        # Who may file, before anything is kept: strangers must not fill the disk.
        self.uow.run(may_file)
        inspected = inspect_content(content)
        name = document_name(file_name, document_kind, inspected.content_type)
        self.documents.put(content)
        document_id = str(uuid4())

        def decide(now: datetime) -> Decision[Document]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            document = Document(
                document_id, document_kind, name, inspected.content_type, inspected.size,
                inspected.sha256, now,
            )
            material = campaign.file_document(
                document, str(founder_id), now, self.uow.holidays(campaign.regime)
            )
            touched: list[Aggregate] = [campaign]
            if material:
                touched += self._request_reconfirmations(
                    campaign, f"A new {STATEMENT_NAMES[document_kind]} was filed: {name}.", now
                )
            return document, touched

        return self.uow.run(decide)

    def submit(self, founder_id: UUID | str, campaign_id: UUID | str) -> Written[UUID]:
        return self._founder_step(founder_id, campaign_id, lambda c, now: c.submit())

    def launch(self, founder_id: UUID | str, campaign_id: UUID | str) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            self.uow.user(founder_id).require_not_staff("launch a campaign")
            campaign.launch(now)
            touched: list[Aggregate] = [campaign]
            company = self._issuer_of(campaign)
            if company is not None:
                # 227.100(a)(1), Art. 1(2)(c): the issuer's limit over 12 months.
                company.open_offering(
                    str(campaign.id), campaign.regime, campaign.terms.max_target, now
                )
                touched.append(company)
            calendar = self.uow.calendar()
            calendar.schedule(str(campaign.id), next_due(campaign, now))
            return campaign.id, [*touched, calendar]

        return self.uow.run(decide)

    def close_early(
        self, founder_id: UUID | str, campaign_id: UUID | str, new_deadline: datetime
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.close_early(new_deadline, now, self.uow.holidays(campaign.regime))
            calendar = self.uow.calendar()
            calendar.schedule(str(campaign.id), next_due(campaign, now))
            return campaign.id, [campaign, calendar]

        return self.uow.run(decide)

    def _founder_step(
        self, founder_id: UUID | str, campaign_id: UUID | str,
        step: Callable[[Campaign, datetime], None],
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            step(campaign, now)
            return campaign.id, [campaign]

        return self.uow.run(decide)

    def approve(
        self, officer_id: UUID | str, campaign_id: UUID | str,
        checklist: ReviewChecklist | None = None,
    ) -> Written[UUID]:
        def decide(now: datetime) -> Decision[UUID]:
            self.uow.require_role(officer_id, Role.RISK_OFFICER, "approve campaigns")
            campaign = self.uow.campaign(campaign_id)
            campaign.approve(str(officer_id), checklist)
            return campaign.id, [campaign]

        return self.uow.run(decide)

    def reject(
        self, officer_id: UUID | str, campaign_id: UUID | str, reason: str,
        checklist: ReviewChecklist | None = None,
    ) -> Written[UUID]:
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            self.uow.require_role(officer_id, Role.RISK_OFFICER, "reject campaigns")
            campaign = self.uow.campaign(campaign_id)
            campaign.reject(str(officer_id), reason, checklist)
            return campaign.id, [campaign]

        return self.uow.run(decide)

    def cancel(
        self, actor_id: UUID | str, campaign_id: UUID | str, reason: str
    ) -> Written[UUID]:
        """The founder, a risk officer or an admin withdraws the offering; backers are refunded."""
        reason = require_reason(reason)

        def decide(now: datetime) -> Decision[UUID]:
            actor = self.uow.user(actor_id)
            campaign = self.uow.campaign(campaign_id)
            staff = actor.acts_as(Role.RISK_OFFICER) or actor.acts_as(Role.ADMIN)
            if not staff:
                campaign.require_founder(str(actor.id))
            campaign.cancel(str(actor.id), reason, now)
            calendar = self.uow.calendar()
            if campaign.open_pledges:
                calendar.schedule(str(campaign.id), now)
            else:
                calendar.unschedule(str(campaign.id))
            return campaign.id, [campaign, calendar]

        written = self.uow.run(decide)
        last = self.due.run_for(written.value)
        return Written(written.value, max(written.position, last))

    def post_update(
        self, founder_id: UUID | str, campaign_id: UUID | str, title: str, body: str,
        material: bool = False,
    ) -> Written[str]:
        """An update to backers. `material`: the founder says it is a material change
        (227.304(c)), so every open pledge must be reconfirmed, as after an amendment."""
        title, body = title.strip(), body.strip()
        if not title or len(title) > limits.UPDATE_TITLE:
            raise ValidationError(
                f"The update needs a title of 1 to {limits.UPDATE_TITLE} characters.", "title"
            )
        if not body or len(body) > limits.UPDATE_BODY:
            raise ValidationError(
                f"The update needs a body of 1 to {limits.UPDATE_BODY} characters.", "body"
            )

        def decide(now: datetime) -> Decision[str]:
            campaign = self.uow.campaign(campaign_id)
            campaign.require_founder(str(founder_id))
            campaign.require_status(
                CampaignStatus.LIVE, CampaignStatus.FUNDED, CampaignStatus.SETTLED,
                doing="post an update",
            )
            touched: list[Aggregate] = [campaign]
            if material:
                campaign.flag_material_update(now, self.uow.holidays(campaign.regime))
            update_id = str(uuid4())
            campaign.post_update(update_id=update_id, title=title, body=body, material=material)
            if material:
                touched += self._request_reconfirmations(campaign, None, now)
            return update_id, touched

        return self.uow.run(decide)

    # Distributions -------------------------------------------------------------------

    def declare_distribution(
        self, founder_id: UUID | str, campaign_id: UUID | str, total: object
    ) -> Written[DeclaredDistribution]:
        """Pays `total` out pro rata; answers with each backer's payout as declared."""
        amount = parse_amount(total, "total")

        def decide(now: datetime) -> Decision[DeclaredDistribution]:
            table = self._distributable(founder_id, campaign_id)
            return table.declare_distribution(str(uuid4()), amount), [table]

        return self.uow.run(decide)

    def preview_distribution(
        self, founder_id: UUID | str, campaign_id: UUID | str, total: object
    ) -> dict[str, Decimal]:
        """Each backer's payout if the founder declared `total` now, by the same checks and
        the same rule as `declare_distribution`; nothing is written."""
        amount = parse_amount(total, "total")

        def decide(now: datetime) -> Decision[dict[str, Decimal]]:
            return self._distributable(founder_id, campaign_id).payouts_for(amount), []

        return self.uow.run(decide).value

    def _distributable(self, founder_id: UUID | str, campaign_id: UUID | str) -> CapTable:
        """The cap table of the founder's settled campaign."""
        campaign = self.uow.campaign(campaign_id)
        campaign.require_founder(str(founder_id))
        campaign.require_status(CampaignStatus.SETTLED, doing="declare a distribution")
        table = self.uow.cap_table(campaign.id)
        if table is None:
            raise InvalidStateError("No shares have been issued yet.", "NO_SHAREHOLDERS")
        return table
