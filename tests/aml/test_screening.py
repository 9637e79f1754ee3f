"""Sanctions screening in the commands: every profile is screened before it is stored,
a possible match holds KYC with a SANCTIONS_MATCH alert, risk officers decide alerts,
and a new list version re-screens verified investors (the scheduler's due work)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from adapters.sanctions import SanctionsList
from application.clock import SettableClock
from application.crowdfund import Crowdfund
from crowdfund.bootstrap import open_application
from crowdfund.settings import Settings
from domain.aml_alert import AlertRule, AlertStatus, AmlAlert, alert_id_for
from domain.errors import InvalidStateError, NotAllowedError, ValidationError
from domain.screening import ScreeningStatus
from tests.conftest import START, Store
from tests.scenario import (
    Staff,
    live_campaign,
    pass_knowledge_tests,
    pledge,
    register,
    staff,
    verified_backer,
)

SANCTIONED = "Ottoline Beatrix Quartermaine-Voss"  # fictitious entry 9900005 of the sample


def submit(app: Crowdfund, user: object, name: str, born: str = "1980-01-01") -> None:
    app.accounts.submit_investor_profile(
        user, legal_name=name, date_of_birth=born, country="US", annual_income="90000",
        net_worth="90000", accredited=True, knowledge_test_passed=True,
    )
    pass_knowledge_tests(app, user)  # type: ignore[arg-type]


def alert_of(app: Crowdfund, user: object) -> AmlAlert:
    (hold,) = app.user(user).holds
    return app.aml.alert(hold)


@pytest.mark.fast
def test_a_clear_profile_is_screened_and_verified(memory_app: Crowdfund) -> None:
    team = staff(memory_app)
    backer = verified_backer(memory_app, team)
    screening = memory_app.aml.screening_of(backer)
    assert screening is not None and screening.status is ScreeningStatus.CLEAR
    assert screening.list_name == "OFAC-SDN" and screening.matches == ()
    assert screening.list_version == SanctionsList.sample().version
    assert screening.screened_at == START


@pytest.mark.fast
def test_a_possible_match_holds_kyc_until_dismissed(memory_app: Crowdfund) -> None:
    team = staff(memory_app)
    user = register(memory_app, "backer")
    submit(memory_app, user, SANCTIONED)
    screening = memory_app.aml.screening_of(user)
    assert screening is not None and screening.status is ScreeningStatus.POSSIBLE_MATCH
    (match,) = screening.matches
    assert (match.entry_id, match.name, match.programs) == (
        "9900005", "QUARTERMAINE-VOSS, Ottoline Beatrix", ("SAMPLE",))
    alert = alert_of(memory_app, user)
    assert alert.rule is AlertRule.SANCTIONS_MATCH and alert.subject_id == str(user)
    assert "9900005 (1.00)" in alert.details and "Ottoline" not in alert.details
    with pytest.raises(InvalidStateError) as held:
        memory_app.accounts.verify_investor(team.risk_officer, user)
    assert held.value.code == "SCREENING_HOLD"
    with pytest.raises(ValidationError):
        memory_app.aml.decide_alert(team.risk_officer, alert.id, AlertStatus.DISMISSED, "  ")
    memory_app.aml.decide_alert(team.risk_officer, alert.id, "DISMISSED",
                                "Date of birth differs from the entry's; passport checked.")
    assert memory_app.user(user).holds == []
    memory_app.accounts.verify_investor(team.risk_officer, user)
    decided = memory_app.aml.alert(alert.id)
    assert decided.status is AlertStatus.DISMISSED and decided.decided_by == str(team.risk_officer)
    # The same person resubmitting matches the same entry: no second review of it.
    submit(memory_app, user, SANCTIONED)
    assert memory_app.user(user).holds == []


@pytest.mark.fast
def test_escalation_freezes_pledging_and_a_later_dismissal_lifts_it(memory_app: Crowdfund) -> None:
    team = staff(memory_app)
    campaign = live_campaign(memory_app, team)
    user = register(memory_app, "backer")
    submit(memory_app, user, SANCTIONED)
    alert = alert_of(memory_app, user)
    memory_app.aml.decide_alert(team.risk_officer, alert.id, AlertStatus.ESCALATED,
                                "Same date of birth as the entry: reported.")
    with pytest.raises(InvalidStateError) as frozen:
        memory_app.accounts.verify_investor(team.risk_officer, user)
    assert frozen.value.code == "ACCOUNT_FROZEN"
    with pytest.raises(InvalidStateError) as decided:
        memory_app.aml.decide_alert(team.risk_officer, alert.id, AlertStatus.ESCALATED, "again")
    assert decided.value.code == "ALERT_DECIDED"
    memory_app.aml.decide_alert(team.risk_officer, alert.id, AlertStatus.DISMISSED,
                                "OFAC confirmed it is not the listed person.")
    memory_app.accounts.verify_investor(team.risk_officer, user)
    pledge(memory_app, user, campaign, "100.00")


@pytest.mark.fast
def test_who_may_decide(memory_app: Crowdfund) -> None:
    team = staff(memory_app)
    officer = team.risk_officer  # officers invest too: their own profile is screened
    submit(memory_app, officer, SANCTIONED)
    own = alert_of(memory_app, officer)
    with pytest.raises(NotAllowedError) as refused:
        memory_app.aml.decide_alert(officer, own.id, AlertStatus.DISMISSED, "It is not me.")
    assert refused.value.code == "OWN_ALERT"
    backer = register(memory_app, "backer")
    submit(memory_app, backer, SANCTIONED)
    theirs = alert_of(memory_app, backer)
    with pytest.raises(NotAllowedError):
        memory_app.aml.decide_alert(backer, theirs.id, AlertStatus.DISMISSED, "Not me.")
    with pytest.raises(NotAllowedError):  # the admin is not a risk officer
        memory_app.aml.decide_alert(team.admin, theirs.id, AlertStatus.DISMISSED, "No.")
    with pytest.raises(ValidationError):
        memory_app.aml.decide_alert(officer, theirs.id, "OPEN", "Reopened.")


@pytest.mark.fast
def test_raising_an_alert_again_changes_nothing(memory_app: Crowdfund) -> None:
    team = staff(memory_app)
    args = (AlertRule.VELOCITY, str(team.founder), "trigger-1", "What the rule saw.")
    first = memory_app.aml.raise_alert(*args)
    head = memory_app.head_position()
    again = memory_app.aml.raise_alert(*args)
    assert first.value == again.value == alert_id_for(AlertRule.VELOCITY, "trigger-1")
    assert memory_app.head_position() == head


def open_with_list(store: Store, clock: SettableClock, path: Path | None) -> Crowdfund:
    settings = Settings(database_url=store.url, data_dir=store.directory, screening_list=path)
    app = open_application(settings, clock)
    store.apps.append(app)
    return app


def test_a_new_list_version_rescreens_verified_investors_and_freezes_new_hits(
    sqlite_store: Store, tmp_path: Path,
) -> None:
    clock = SettableClock(START)
    before = open_with_list(sqlite_store, clock, None)  # the sample list
    team: Staff = staff(before)
    campaign = live_campaign(before, team)
    listed = register(before, "backer")
    submit(before, listed, "Peregrine Alaric Thistlewood")
    before.accounts.verify_investor(team.risk_officer, listed)
    bystander = verified_backer(before, team)
    pledge(before, listed, campaign, "100.00")
    assert before.due.run() == 0  # verified against this version already: nothing to do

    # Operators publish a new sdn.csv naming the investor.
    sample = SanctionsList.sample()
    newer = tmp_path / "sdn.csv"
    extra = ('9900099,"THISTLEWOOD, Peregrine Alaric","individual","SAMPLE"' + ",-0- " * 7
             + ',"FICTITIOUS"\n')
    newer.write_bytes(
        resources.files("adapters").joinpath("data", "sdn_sample.csv").read_bytes()
        + extra.encode()
    )
    after = open_with_list(sqlite_store, clock, newer)
    assert after.aml.list.version != sample.version
    assert after.due.run() > 0  # the scheduler's pass re-screens
    screening = after.aml.screening_of(listed)
    assert screening is not None and screening.list_version == after.aml.list.version
    assert [m.entry_id for m in screening.matches] == ["9900099"]
    assert after.aml.screening_of(bystander).status is ScreeningStatus.CLEAR  # type: ignore[union-attr]
    with pytest.raises(InvalidStateError) as frozen:
        pledge(after, listed, campaign, "100.00")
    assert frozen.value.code == "ACCOUNT_FROZEN"
    assert "compliance review" in frozen.value.message and "sanction" not in frozen.value.message
    pledge(after, bystander, campaign, "100.00")
    alert = alert_of(after, listed)
    after.aml.decide_alert(team.risk_officer, alert.id, "DISMISSED", "A namesake, born 1951.")
    pledge(after, listed, campaign, "100.00")
    # Once done, a restart on the same version scans nothing and writes nothing.
    again = open_with_list(sqlite_store, clock, newer)
    head = again.head_position()
    assert again.due.run() == 0 and again.head_position() == head
