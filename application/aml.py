"""Anti-money-laundering commands: sanctions screening of investor profiles, the alerts
that screening and the transaction monitor raise, risk officers' decisions on them,
and re-screening every verified investor when the list changes (docs/aml.md).

    app.aml.decide_alert(officer_id, alert_id, AlertStatus.DISMISSED, "Checked: ...")
    app.aml.raise_alert(AlertRule.VELOCITY, backer_id, trigger, details)   # the monitor
    app.aml.screening_of(user_id)                                          # the KYC queue
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from application.screening import ScreeningList
from application.unit_of_work import Decision, UnitOfWork, Written
from domain.aml_alert import AlertRule, AlertStatus, AmlAlert, alert_id_for, require_note
from domain.errors import NotFoundError, ValidationError
from domain.input import parse_id
from domain.names import identity_digest
from domain.rulebook import ecsp_risk_threshold
from domain.screening import MATCH_THRESHOLD, Screening, ScreeningMatch
from domain.screening_ledger import LEDGER_ID, ScreeningLedger
from domain.user import KycStatus, Role, User

_VERIFIED_TOPIC = get_topic(User.InvestorVerified)  # type: ignore[attr-defined]  # made by @event
_SCAN = 1000


class AmlCommands:
    def __init__(self, uow: UnitOfWork, screening_list: ScreeningList) -> None:
        self.uow = uow
        self.list = screening_list
        # The list version this process has re-screened verified investors against.
        self._covered: str | None = None

    # Screening -----------------------------------------------------------------------

    def search(self, legal_name: str) -> list[ScreeningMatch]:
        """The list entries a legal name resembles at or above the match threshold."""
        return self.list.search(legal_name, MATCH_THRESHOLD)

    def screen(self, user: User, matches: list[ScreeningMatch], now: datetime) -> list[Aggregate]:
        """Inside a decision that has just changed `user`'s profile: record its screening
        (the aggregates to save: the user, and the alert a possible match raises)."""
        screening = Screening.of(matches, self.list.name, self.list.version, now)
        # The alert is named by the screening event it comes with.
        alert_id = alert_id_for(AlertRule.SANCTIONS_MATCH, f"{user.id}/{user.version + 1}")
        if not user.record_screening(screening, str(alert_id)):
            return [user]
        alert = AmlAlert(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            rule=AlertRule.SANCTIONS_MATCH.value, subject_id=str(user.id), campaign_id=None,
            details=screening.summary(), related_user_ids=[], raised_at=now, id=alert_id,
        )
        return [user, alert]

    def is_current(self, user: User) -> bool:
        return user.screening is not None and user.screening.list_version == self.list.version

    def rescreen(self, user_id: UUID | str, *, statuses: Sequence[KycStatus] = (
        KycStatus.VERIFIED,
    )) -> Written[bool]:
        """Screen the user's profile against the current list, unless it already was
        (or the user's KYC is not in `statuses`). True if a screening was recorded."""

        def decide(now: datetime) -> Decision[bool]:
            user = self.uow.user(user_id)
            if user.profile is None or user.kyc_status not in statuses or self.is_current(user):
                return False, []
            return True, self.screen(user, self.search(user.profile.legal_name), now)

        return self.uow.run(decide)

    def rescreen_due(self) -> int:
        """After a list change, re-screen every verified investor once (the scheduler's
        work: safe to repeat or race). The last log position written; 0 if none.

        Checked once per process (the list is read at start-up): the ledger records a
        version whose re-screen wrote something, so the next start skips the scan."""
        if self._covered == self.list.version:
            return 0
        ledger = self._ledger()
        last, count = 0, 0
        if ledger is None or not ledger.covers(self.list.version):
            for user_id in self._verified_investors():
                written = self.rescreen(user_id)
                if written.value:
                    last, count = max(last, written.position), count + 1
        if count:
            self.uow.run(partial(self._record_rescreen, count))
        self._covered = self.list.version
        return last

    def _record_rescreen(self, count: int, now: datetime) -> Decision[bool]:
        ledger = self._ledger() or ScreeningLedger(id=LEDGER_ID)  # type: ignore[call-arg]  # id goes to the aggregate metaclass
        if ledger.covers(self.list.version):
            return False, []
        ledger.rescreened(self.list.name, self.list.version, count)
        return True, [ledger]

    def _ledger(self) -> ScreeningLedger | None:
        try:
            ledger = self.uow.load(ScreeningLedger, LEDGER_ID, "screening ledger")
        except NotFoundError:
            return None
        if self.uow.refresh_if_stale([(ledger.id, ledger.version)]):
            ledger = self.uow.load(ScreeningLedger, LEDGER_ID, "screening ledger")
        return ledger

    def _verified_investors(self) -> Iterator[str]:
        """Everyone ever verified, from the log (rare work: a list change)."""
        seen: set[str] = set()
        start = 0
        recorder = self.uow.recorder
        while True:
            notes = recorder.select_notifications(
                start, _SCAN, topics=[_VERIFIED_TOPIC], inclusive_of_start=False
            )
            for note in notes:
                user_id = str(note.originator_id)
                if user_id not in seen:
                    seen.add(user_id)
                    yield user_id
            if len(notes) < _SCAN:
                return
            start = notes[-1].id

    def screening_of(self, user_id: UUID | str) -> Screening | None:
        """The latest screening of the user's profile (the KYC queue shows it)."""
        return self.uow.user(user_id).screening

    # Alerts --------------------------------------------------------------------------

    def raise_alert(
        self, rule: AlertRule, subject_id: str, trigger: str, details: str, *,
        campaign_id: str | None = None, related_user_ids: Sequence[str] = (),
    ) -> Written[UUID]:
        """The alert `rule` raises for `trigger`; raising it again changes nothing."""
        alert_id = alert_id_for(rule, trigger)

        def decide(now: datetime) -> Decision[UUID]:
            try:
                self.uow.load(AmlAlert, alert_id, "AML alert")
                return alert_id, []
            except NotFoundError:
                pass
            self.uow.user(subject_id)  # the subject exists
            alert = AmlAlert(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                rule=rule.value, subject_id=subject_id, campaign_id=campaign_id,
                details=details, related_user_ids=list(related_user_ids), raised_at=now,
                id=alert_id,
            )
            return alert_id, [alert]

        return self.uow.run(decide)

    def decide_alert(
        self, officer_id: UUID | str, alert_id: UUID | str, decision: AlertStatus | str,
        note: str,
    ) -> Written[UUID]:
        """A risk officer's decision: DISMISSED lifts the hold or freeze the alert put on
        its subject; ESCALATED freezes the subject's pledging."""
        status = _decision(decision)
        note = require_note(note)

        def decide(now: datetime) -> Decision[UUID]:
            self.uow.require_role(officer_id, Role.RISK_OFFICER, "decide AML alerts")
            alert = self.alert(alert_id)
            alert.decide(str(officer_id), status, note)
            subject = self.uow.user(alert.subject_id)
            if status is AlertStatus.ESCALATED:
                subject.freeze(str(alert.id))
            else:
                subject.lift(str(alert.id))
            return alert.id, [alert, subject]

        return self.uow.run(decide)

    def alert(self, alert_id: UUID | str) -> AmlAlert:
        return self.uow.load(AmlAlert, parse_id(alert_id, "AML alert"), "AML alert")


def _decision(value: AlertStatus | str) -> AlertStatus:
    try:
        return value if isinstance(value, AlertStatus) else AlertStatus(str(value))
    except ValueError:
        raise ValidationError("Decide DISMISSED or ESCALATED.", "decision") from None


class InvestorFacts:
    """What the transaction monitor may learn of an investor, read from the event store
    as of a version of the investor's stream (so that a replay learns the same): a keyed
    hash of their identity, and figures derived from their declared finances. Personal
    data itself never leaves this class."""

    def __init__(self, uow: UnitOfWork, identity_key: str, cache_size: int = 10_000) -> None:
        self.uow = uow
        self.key = identity_key
        self._user_at = lru_cache(maxsize=cache_size)(self._load_user_at)

    def _load_user_at(self, user_id: str, version: int) -> User | None:
        try:
            found: Any = self.uow.repository.get(UUID(user_id), version=version)
        except AggregateNotFoundError:  # an unknown stream: nothing to learn
            return None
        return found if isinstance(found, User) else None

    def identity_key(self, user_id: str, version: int) -> str | None:
        user = self._user_at(user_id, version)
        if user is None or user.profile is None:
            return None
        return identity_digest(self.key, user.profile.legal_name, user.profile.date_of_birth)

    def declared_means(self, user_id: str, version: int) -> Decimal | None:
        """The greater of declared annual income and net worth (Reg CF's basis)."""
        user = self._user_at(user_id, version)
        if user is None or user.profile is None:
            return None
        return max(user.profile.annual_income, user.profile.net_worth)

    def ecsp_risk_threshold(self, user_id: str, version: int) -> Decimal | None:
        """Art. 21(7)'s threshold for this investor (None: sophisticated, no threshold)."""
        user = self._user_at(user_id, version)
        if user is None or user.profile is None or user.profile.sophisticated:
            return None
        return ecsp_risk_threshold(user.profile.net_worth)
