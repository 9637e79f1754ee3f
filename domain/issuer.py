"""An issuer: the company whose securities campaigns offer (the "project owner" of
ECSP). The offering limit is the issuer's, over 12 months and every campaign of the
regime: 17 CFR 227.100(a)(1), Reg. (EU) 2020/1503 Art. 1(2)(c).

One stream per issuer, its id derived from the legal name (case, spacing and
punctuation ignored) and the jurisdiction: saving a new issuer with its first
campaign makes the pair unique, as the e-mail index does for addresses. The stream
holds what the limit needs: each open offering's maximum target (LIVE or FUNDED) and
each sale (a settled campaign) with its date. Saved with the campaign whose launch,
amendment or settlement changes them, so two launches cannot both squeeze under
the limit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain import limits
from domain.chain import ChainedAggregate
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.money import ZERO
from domain.rulebook import ISSUER_LOOKBACK_MONTHS, RULEBOOKS, Regime, months_before

# For a campaign drafted without an issuer: one named after its founder, in the
# regime's home jurisdiction.
DEFAULT_JURISDICTION = {Regime.REG_CF: "US", Regime.ECSP: "DE"}


def normalized_name(legal_name: str) -> str:
    """The name issuers are told apart by: letters and digits only, case folded
    ("Acme, Inc." and "ACME INC" are one issuer)."""
    folded = unicodedata.normalize("NFKC", legal_name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def issuer_id(legal_name: str, jurisdiction: str) -> UUID:
    key = f"{normalized_name(legal_name)}/{jurisdiction.strip().upper()}"
    return uuid5(NAMESPACE_URL, f"/crowdfund/issuers/{key}")


def check_issuer(legal_name: str, jurisdiction: str, website: str | None) -> tuple[
    str, str, str | None
]:
    """Clean, valid issuer details, or the field that is wrong."""
    legal_name = " ".join(legal_name.split())
    if not normalized_name(legal_name) or len(legal_name) > limits.ISSUER_NAME:
        raise ValidationError(
            f"Give the issuer's legal name: 1 to {limits.ISSUER_NAME} characters, with "
            "letters or digits.", "issuer.legalName",
        )
    jurisdiction = jurisdiction.strip().upper()
    if len(jurisdiction) != 2 or not jurisdiction.isascii() or not jurisdiction.isalpha():
        raise ValidationError(
            "The issuer's jurisdiction must be an ISO 3166-1 alpha-2 code such as US or DE.",
            "issuer.jurisdiction",
        )
    website = (website or "").strip() or None
    if website is not None and (
        len(website) > limits.ISSUER_WEBSITE or not website.startswith(("https://", "http://"))
        or any(ch.isspace() for ch in website)
    ):
        raise ValidationError(
            f"The issuer's website must be an http(s) address of at most "
            f"{limits.ISSUER_WEBSITE} characters.", "issuer.website",
        )
    return legal_name, jurisdiction, website


@dataclass(frozen=True)
class Offering:
    """An open offering of the issuer (LIVE or FUNDED): its maximum target counts."""

    campaign_id: str
    regime: str
    max_target: Decimal


@dataclass(frozen=True)
class Sale:
    """A settled campaign: what the issuer sold, and when."""

    campaign_id: str
    regime: str
    amount: Decimal
    sold_at: datetime


class Issuer(ChainedAggregate):
    id: UUID

    @event("IssuerRegistered")
    def __init__(
        self, registered_name: str, jurisdiction: str, website: str | None, founder_id: str
    ) -> None:
        # Not `legal_name`: a company's name is not personal data and may travel.
        self.registered_name = registered_name
        self.jurisdiction = jurisdiction
        self.website = website
        self.founder_id = founder_id
        self.offerings: dict[str, Offering] = {}
        self.sales: dict[str, Sale] = {}

    def require_founder(self, founder_id: str) -> None:
        """A founder raises only for an issuer they registered."""
        if founder_id != self.founder_id:
            raise NotAllowedError(
                f"The issuer {self.registered_name} ({self.jurisdiction}) was registered by "
                "another founder; only they can raise for it.", "ISSUER_OF_ANOTHER_FOUNDER",
            )

    def sold_since(self, regime: Regime, since: datetime) -> Decimal:
        return sum(
            (s.amount for s in self.sales.values()
             if s.regime == regime.value and s.sold_at > since),
            ZERO,
        )

    def sold_last_12_months(self, regime: Regime, now: datetime) -> Decimal:
        return self.sold_since(regime, months_before(now, ISSUER_LOOKBACK_MONTHS))

    def others_open(self, campaign_id: str, regime: Regime) -> Decimal:
        """The maximum targets of the issuer's other open offerings under the regime."""
        return sum(
            (o.max_target for o in self.offerings.values()
             if o.regime == regime.value and o.campaign_id != campaign_id),
            ZERO,
        )

    def room_for(self, campaign_id: str, regime: Regime, now: datetime) -> Decimal:
        """The largest maximum target the campaign may have under the issuer limit now."""
        others = self.others_open(campaign_id, regime)
        sold = self.sold_last_12_months(regime, now)
        return max(ZERO, RULEBOOKS[regime].offering_limit - others - sold)

    def require_room(
        self, campaign_id: str, regime: Regime, max_target: Decimal, now: datetime
    ) -> None:
        """This campaign's max target, plus the max targets of the issuer's other open
        offerings, plus what it sold in the 12 months before, must fit the limit."""
        rules = RULEBOOKS[regime]
        others = self.others_open(campaign_id, regime)
        sold = self.sold_last_12_months(regime, now)
        room = self.room_for(campaign_id, regime, now)
        if max_target > room:
            raise InvalidStateError(
                f"Under {regime.value} an issuer may sell at most {rules.currency} "
                f"{rules.offering_limit} in 12 months. {self.registered_name} has "
                f"{rules.currency} {others} in other open offerings and sold "
                f"{rules.currency} {sold} in the last 12 months: this campaign's maximum "
                f"target can be at most {rules.currency} {room}.", "ISSUER_LIMIT_EXCEEDED",
            )

    def open_offering(
        self, campaign_id: str, regime: Regime, max_target: Decimal, now: datetime
    ) -> None:
        """Launch, or raise a live offering's maximum target, within the limit."""
        current = self.offerings.get(campaign_id)
        if current is not None and max_target <= current.max_target:
            if max_target < current.max_target:
                self._offering_opened(campaign_id, regime.value, max_target)
            return
        self.require_room(campaign_id, regime, max_target, now)
        self._offering_opened(campaign_id, regime.value, max_target)

    @event("OfferingOpened")
    def _offering_opened(self, campaign_id: str, regime: str, max_target: Decimal) -> None:
        self.offerings[campaign_id] = Offering(campaign_id, regime, max_target)

    def close_offering(self, campaign_id: str) -> None:
        """The campaign failed or was cancelled: nothing was sold."""
        if campaign_id in self.offerings:
            self._offering_closed(campaign_id)

    @event("OfferingClosed")
    def _offering_closed(self, campaign_id: str) -> None:
        del self.offerings[campaign_id]

    def record_sale(self, campaign_id: str, amount: Decimal, now: datetime) -> None:
        """The campaign settled: what it raised was sold at `now`."""
        offering = self.offerings.get(campaign_id)
        if offering is not None and campaign_id not in self.sales:
            self._sold(campaign_id, offering.regime, amount, now)

    @event("SecuritiesSold")
    def _sold(self, campaign_id: str, regime: str, amount: Decimal, sold_at: datetime) -> None:
        self.offerings.pop(campaign_id, None)
        self.sales[campaign_id] = Sale(campaign_id, regime, amount, sold_at)
