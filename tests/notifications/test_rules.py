"""The notification rules as pure functions: no database, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from application.mail import MailNotice, Recipient, compose, footer, message_id
from application.notification_rules import (
    CampaignFacts,
    Cause,
    Facts,
    NotificationKind,
    notice_id,
    notices_for,
    when,
)

pytestmark = pytest.mark.fast

AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DEADLINE = AT + timedelta(days=30)


def campaign(regime: str = "REG_CF", currency: str = "USD", status: str = "LIVE"
             ) -> CampaignFacts:
    return CampaignFacts("camp-1", "Solar Roofs", regime, currency, "founder-1", status,
                         DEADLINE, Decimal("10.00"), Decimal("1000.00"),
                         issuer_name="Acme <b>Solar</b> Inc.")


def cause(type_: str, payload: dict[str, object], at: datetime = AT, version: int = 7
          ) -> Cause:
    return Cause("stream-1", version, 42, type_, at, payload)


def placed(at: datetime, regime: str = "REG_CF", until: datetime | None = None
           ) -> list:  # type: ignore[type-arg]
    """A PledgePlaced event as the pledge's stream has it (stream id: the pledge's id)."""
    currency = "USD" if regime == "REG_CF" else "EUR"
    if until is None and regime == "REG_CF" and at < DEADLINE - timedelta(hours=48):
        until = DEADLINE - timedelta(hours=48)
    payload = {"campaign_id": "camp-1", "backer_id": "b-1", "regime": regime,
               "currency": currency, "amount": "250.00", "shares": 25,
               "pledged_at": at.isoformat(), "terms_version": 1, "risk_acknowledged": False,
               "cancellable_until": until.isoformat() if until else None}
    return notices_for(Cause("p-1", 1, 42, "PledgePlaced", at, payload),
                       Facts(campaign=campaign(regime, currency)))


def test_a_pledge_confirmation_says_what_227_303_d_requires() -> None:
    (notice,) = placed(AT)
    assert notice.kind is NotificationKind.PLEDGE_CONFIRMED and notice.recipient_id == "b-1"
    assert "USD 250.00" in notice.body and "25 at USD 10.00 per share" in notice.body
    assert "Issuer: Acme <b>Solar</b> Inc." in notice.body  # text, escaped only where shown
    assert f"until {when(DEADLINE - timedelta(hours=48))}" in notice.body
    assert "entry 42 of the platform's public log" in notice.body
    assert notice.pledge_id == "p-1" and notice.campaign_id == "camp-1"


def test_within_the_last_48_hours_a_reg_cf_pledge_cannot_be_cancelled() -> None:
    (notice,) = placed(DEADLINE - timedelta(hours=47))
    assert "can no longer be cancelled" in notice.body


def test_an_ecsp_pledge_names_its_reflection_period_as_recorded() -> None:
    # Recorded at placement in the investor's time zone (domain.cancellation), even past
    # the deadline: the notice says exactly that instant.
    ends = DEADLINE + timedelta(days=3, hours=1)
    (late,) = placed(DEADLINE - timedelta(days=1), "ECSP", until=ends)
    assert f"until {when(ends)}" in late.body and "EUR 250.00" in late.body
    assert "reflection period" in late.body


def test_instants_name_their_zone() -> None:
    assert when("2027-03-01T13:00:00+01:00") == "Monday 1 March 2027, 12:00 UTC"


def test_ids_are_one_per_cause_kind_and_recipient() -> None:
    c = cause("X", {})
    ids = {notice_id(c, k, r) for k in NotificationKind for r in ("a", "b")}
    assert len(ids) == 2 * len(NotificationKind)
    assert notice_id(c, NotificationKind.KYC_VERIFIED, "a") == notice_id(
        cause("X", {}), NotificationKind.KYC_VERIFIED, "a")
    assert notice_id(cause("X", {}, version=8), NotificationKind.KYC_VERIFIED, "a") != \
        notice_id(c, NotificationKind.KYC_VERIFIED, "a")


def test_campaign_wide_notices_go_to_each_backer_once_with_their_money() -> None:
    facts = Facts(campaign=campaign(), backers={"b-1": Decimal("300.00"),
                                                "b-2": Decimal("100.00")})
    failed = notices_for(cause("CampaignFailed", {"raised": "400.00"}), facts)
    assert [(n.kind.value, n.recipient_id) for n in failed] == [
        ("CAMPAIGN_FAILED", "b-1"), ("CAMPAIGN_FAILED", "b-2"), ("DEADLINE_REACHED", "founder-1")]
    assert "USD 300.00 is returned" in failed[0].body
    assert "short of its minimum target of USD 1,000.00" in failed[0].body


def test_released_pledges_tell_cancellation_lapse_and_refund_apart() -> None:
    def released(reason: str, status: str = "LIVE") -> NotificationKind:
        (notice,) = notices_for(cause("PledgeReleased", {
            "pledge_id": "p", "backer_id": "b", "amount": "50.00", "reason": reason}),
            Facts(campaign=campaign(status=status)))
        return notice.kind

    assert released("cancelled") is NotificationKind.PLEDGE_CANCELLED
    assert released("not reconfirmed by the deadline") is NotificationKind.PLEDGE_AUTO_CANCELLED
    assert released("refunded", "FAILED") is NotificationKind.REFUND_ISSUED


def test_a_founder_cancelling_is_not_told_but_staff_cancelling_tells_them() -> None:
    facts = Facts(campaign=campaign(), backers={"b-1": Decimal("10.00")})
    own = notices_for(cause("CampaignCancelled", {"by": "founder-1", "reason": "r"}), facts)
    staff = notices_for(cause("CampaignCancelled", {"by": "officer", "reason": "r"}), facts)
    assert [n.recipient_id for n in own] == ["b-1"]
    assert [n.recipient_id for n in staff] == ["b-1", "founder-1"]


def test_questions_reach_the_founder_and_answers_the_asker_not_themselves() -> None:
    asked = {"campaign_id": "camp-1", "asker_id": "u", "founder_id": "founder-1",
             "by_founder": False, "body": "Why?"}
    (notice,) = notices_for(cause("QuestionAsked", asked), Facts(campaign=campaign()))
    assert notice.recipient_id == "founder-1" and "Why?" in notice.body
    own = {**asked, "asker_id": "founder-1", "by_founder": True}
    assert notices_for(cause("QuestionAsked", own), Facts()) == []
    answered = notices_for(cause("QuestionAnswered", {"answerer_id": "founder-1", "body": "Yes"}),
                           Facts(asker_id="u", question_campaign_id="camp-1"))
    assert [(n.recipient_id, n.campaign_id) for n in answered] == [("u", "camp-1")]


def test_a_material_change_update_is_not_also_a_campaign_update() -> None:
    facts = Facts(campaign=campaign(), backers={"b-1": Decimal("10.00")})
    material = {"update_id": "u", "title": "t", "body": "b", "material": True}
    assert notices_for(cause("UpdatePosted", material), facts) == []
    plain = notices_for(cause("UpdatePosted", {**material, "material": False}), facts)
    assert [n.kind for n in plain] == [NotificationKind.CAMPAIGN_UPDATE]


def test_events_without_a_rule_make_nothing() -> None:
    assert notices_for(cause("PledgeSettled", {}), Facts(campaign=campaign())) == []


def test_the_mail_carries_the_notice_a_footer_and_an_escaped_html_part() -> None:
    (notice,) = placed(AT)
    mail = compose(MailNotice(notice.id, notice.kind, notice.subject, notice.body,
                              notice.position, notice.created_at),
                   Recipient("backer@example.test", "Bea <Backer>"), "notices@cf.example",
                   receipt="Signed tree head 43 ...")
    assert mail["Message-ID"] == message_id(notice.id, "notices@cf.example") == \
        f"<{notice.id}@cf.example>"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert notice.body in text and "Signed tree head 43" in text
    assert footer(notice.kind) in text and "227.303(d)" in footer(notice.kind)
    assert "unsubscribe" in footer(notice.kind)
    assert "Acme &lt;b&gt;Solar&lt;/b&gt; Inc." in html and "<b>Solar" not in html
    assert mail["To"].addresses[0].addr_spec == "backer@example.test"


def test_a_material_change_says_what_changed_even_when_no_term_did() -> None:
    facts = Facts(campaign=campaign(), backers={"b-1": Decimal("10.00")})
    by = (AT + timedelta(days=5)).isoformat()
    (amended,) = notices_for(cause("MaterialChangeMade", {
        "changes": {"max_target": "2000.00"}, "reconfirm_by": by}), facts)
    assert "- maximum target: now USD 2,000.00" in amended.body
    # A new offering statement or an update flagged material changes no term.
    (filed,) = notices_for(cause("MaterialChangeMade", {"changes": {}, "reconfirm_by": by}),
                           facts)
    lines = filed.body.splitlines()
    listed = lines[lines.index(next(x for x in lines if "changed materially" in x)) + 1]
    assert listed.startswith("- the offering statement or a founder's update marked material")
