"""The due-diligence checklist of a campaign review (domain.review): an approval with an
unticked item is refused, the answers travel in the approval or rejection event, the
history reads them back, and an approval stored before the checklist existed still
loads and verifies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from application.audit import audit_trail, verify_chains
from application.crowdfund import Crowdfund
from application.reviews import review_history
from domain.campaign import CampaignStatus
from domain.chain import ENVELOPE_FIELDS, chain_hash, hash_of, jsonable
from domain.clock import business_time
from domain.errors import NotAllowedError, ValidationError
from domain.review import ReviewChecklist
from tests.scenario import Staff, draft_campaign, staff

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

ALL_TICKED = ReviewChecklist(True, True, True, True)


@pytest.fixture
def app(memory_app: Crowdfund) -> Crowdfund:  # rules: the in-memory store (fast tier)
    return memory_app


@pytest.fixture
def team(app: Crowdfund) -> Staff:
    return staff(app)


def in_review(app: Crowdfund, team: Staff) -> UUID:
    campaign = draft_campaign(app, team)
    app.offerings.submit(team.founder, campaign)
    return campaign


def last_payload(app: Crowdfund, campaign: UUID) -> dict[str, Any]:
    payload: dict[str, Any] = audit_trail(app, campaign)[-1].payload
    return payload


def test_an_approval_with_every_item_ticked_records_the_answers(
    app: Crowdfund, team: Staff
) -> None:
    campaign = in_review(app, team)
    app.offerings.approve(team.risk_officer, campaign, ALL_TICKED)
    assert app.campaign(campaign).status is CampaignStatus.APPROVED
    assert last_payload(app, campaign) == {
        "officer_id": str(team.risk_officer),
        "checklist": {"founders_identified": True, "offering_statement_consistent": True,
                      "issuer_limit_checked": True, "bad_actor_declaration": True},
    }
    history = review_history(app, campaign)
    assert [s.action.value for s in history] == ["SUBMITTED", "APPROVED"]
    assert history[-1].checklist == ALL_TICKED
    assert history[-1].reviewer_id == str(team.risk_officer)


@pytest.mark.parametrize(("unticked", "field"), [
    ("founders_identified", "checklist.foundersIdentified"),
    ("offering_statement_consistent", "checklist.offeringStatementConsistent"),
    ("issuer_limit_checked", "checklist.issuerLimitChecked"),
    ("bad_actor_declaration", "checklist.badActorDeclaration"),
])
def test_an_approval_with_an_unticked_item_is_refused_and_nothing_is_written(
    app: Crowdfund, team: Staff, unticked: str, field: str
) -> None:
    campaign = in_review(app, team)
    before = app.head_position()
    answers = {**ALL_TICKED.as_event(), unticked: False}
    with pytest.raises(ValidationError) as refused:
        app.offerings.approve(team.risk_officer, campaign, ReviewChecklist(**answers))
    assert refused.value.code == "DUE_DILIGENCE_INCOMPLETE"
    assert refused.value.field == field
    assert "reject the campaign with a reason" in refused.value.message
    assert app.campaign(campaign).status is CampaignStatus.IN_REVIEW
    assert app.head_position() == before


def test_a_rejection_records_the_reason_and_whatever_was_answered(
    app: Crowdfund, team: Staff
) -> None:
    campaign = in_review(app, team)
    answers = ReviewChecklist(True, True, True, bad_actor_declaration=False)
    app.offerings.reject(team.risk_officer, campaign, "No bad-actor declaration on file.",
                         answers)
    assert app.campaign(campaign).status is CampaignStatus.REJECTED
    assert last_payload(app, campaign)["checklist"]["bad_actor_declaration"] is False
    step = review_history(app, campaign)[-1]
    assert (step.action.value, step.reason, step.checklist) == (
        "REJECTED", "No bad-actor declaration on file.", answers)


def test_without_a_checklist_an_approval_is_recorded_as_having_none(
    app: Crowdfund, team: Staff
) -> None:
    campaign = in_review(app, team)
    app.offerings.approve(team.risk_officer, campaign)
    assert last_payload(app, campaign)["checklist"] is None
    assert review_history(app, campaign)[-1].checklist is None


def test_the_founder_cannot_approve_their_own_campaign_even_with_a_checklist(
    app: Crowdfund, team: Staff
) -> None:
    campaign = in_review(app, team)
    with pytest.raises(NotAllowedError):
        app.campaign(campaign).approve(str(team.founder), ALL_TICKED)


def test_the_history_lists_every_review_round_and_stops_at_the_launch(
    app: Crowdfund, team: Staff
) -> None:
    campaign = in_review(app, team)
    app.offerings.reject(team.risk_officer, campaign, "The Form C lacks the financials.")
    app.offerings.submit(team.founder, campaign)
    app.offerings.approve(team.risk_officer, campaign, ALL_TICKED)
    app.offerings.launch(team.founder, campaign)
    app.offerings.post_update(team.founder, campaign, "Hello", "First update.", False)
    assert [s.action.value for s in review_history(app, campaign)] == [
        "SUBMITTED", "REJECTED", "SUBMITTED", "APPROVED"]


def test_an_approval_stored_before_the_checklist_existed_loads_and_verifies(
    app: Crowdfund, team: Staff
) -> None:
    """An old CampaignApproved has no `checklist` in its stored state, and its hash was
    computed without one: it must load (status APPROVED, checklist null) and verify."""
    campaign_id = in_review(app, team)
    campaign = app.campaign(campaign_id)
    with business_time(app.clock.now()):
        campaign.approve(str(team.risk_officer))
    (new,) = campaign.collect_events()
    state = {k: v for k, v in vars(new).items() if k != "checklist"}
    payload = {k: jsonable(v) for k, v in state.items() if k not in ENVELOPE_FIELDS}
    assert payload == {"officer_id": str(team.risk_officer)}  # what the old code hashed
    state["hash"] = chain_hash(campaign_id, new.originator_version, "CampaignApproved",
                               new.timestamp, payload, new.prev_hash)
    old = object.__new__(type(new))
    object.__setattr__(old, "__dict__", state)
    stored = app.mapper.to_stored_event(old)
    assert b"checklist" not in app.mapper.transcoder.encode(
        {k: v for k, v in state.items() if k not in ("originator_id", "originator_version")})
    app.recorder.insert_events([stored])
    app.evict([campaign_id])  # as another process would: loaded from the store

    loaded = app.mapper.to_domain_event(app.recorder.select_events(campaign_id)[-1])
    assert "checklist" not in vars(loaded)
    assert hash_of(loaded) == loaded.hash
    assert verify_chains(app).ok
    assert app.campaign(campaign_id).status is CampaignStatus.APPROVED
    assert review_history(app, campaign_id)[-1].checklist is None
    # The campaign goes on from the old event: the chain continues.
    app.offerings.launch(team.founder, campaign_id)
    assert app.campaign(campaign_id).status is CampaignStatus.LIVE
    assert verify_chains(app).ok
