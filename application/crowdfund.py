"""The application: the event store's unit of work and, over it, the platform's
commands in groups (accounts and KYC, offerings, pledges, anti-money-laundering, the
public Q&A, and the work that falls due: deadlines, reconfirmation expiry, reminders,
settlement, refunds, re-screening after a sanctions list change).

    app = Crowdfund(env, clock)          # built by crowdfund.bootstrap
    app.offerings.upload_document(founder_id, campaign_id, "FORM_C", "form-c.pdf", pdf)
    app.offerings.launch(founder_id, campaign_id)
    app.pledges.place(backer_id, campaign_id, "250.00", idempotency_key)
    app.campaign(campaign_id)            # reads of the write model: the unit of work's
"""

from __future__ import annotations

from collections.abc import Mapping

from application.accounts import AccountCommands
from application.aml import AmlCommands, InvestorFacts
from application.documents import DocumentStore
from application.due_work import DueWork
from application.offerings import OfferingCommands
from application.pledges import PledgeCommands
from application.questions import QuestionCommands
from application.screening import EmptyList, ScreeningList
from application.unit_of_work import UnitOfWork
from domain.clock import Clock
from domain.rulebook import BusinessCalendar


class Crowdfund(UnitOfWork):
    # The library names tables and settings after the application: a subclass (tests
    # inject interleavings that way) must keep this name to use the same tables.
    name = "Crowdfund"

    def __init__(
        self, env: dict[str, str] | None = None, clock: Clock | None = None,
        business_calendars: Mapping[str, BusinessCalendar] | None = None, *,
        screening_list: ScreeningList | None = None, identity_key: str | None = None,
        documents: DocumentStore | None = None,
    ) -> None:
        super().__init__(env, clock, business_calendars)
        # Where uploaded documents' bytes are kept (None: uploads are refused).
        self.documents = documents
        self.aml = AmlCommands(self, screening_list or EmptyList())
        # The transaction monitor's window on investors (keyed identity hashes, limits).
        self.investor_facts = InvestorFacts(self, identity_key or self.email_key or "")
        self.accounts = AccountCommands(self, self.aml)
        self.due = DueWork(self, self.aml.rescreen_due)
        self.offerings = OfferingCommands(self, self.due, documents)
        self.pledges = PledgeCommands(self, self.due)
        self.questions = QuestionCommands(self)
