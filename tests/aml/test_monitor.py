"""The AML monitor over a real event store: each rule from the events a platform writes,
its near misses, cross-stream rules in either order, alerts raised once, and a rebuild
that finds the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from application.clock import SettableClock
from application.crowdfund import Crowdfund
from domain.aml_alert import AlertRule, AlertStatus
from domain.rulebook import Regime
from projections.rebuild import rebuild
from projections.source import StoreLog
from tests.aml.monitoring import PARTITIONS, Monitor
from tests.conftest import Store
from tests.scenario import Staff, live_campaign, pass_knowledge_tests, pledge, register, staff

pytestmark = pytest.mark.fast


@pytest.fixture
def monitor(memory_app: Crowdfund, tmp_path: Path) -> Iterator[Monitor]:
    running = Monitor(memory_app, tmp_path)
    yield running
    running.close()


def investor(app: Crowdfund, team: Staff, name: str | None = None,
             born: str = "1980-01-01", user: UUID | None = None, **finances: object) -> UUID:
    """A verified investor; each of another person unless a name is given."""
    user = user or register(app, "backer")
    name = name or f"Investor {uuid4().hex[:10]}"
    profile = {"annual_income": "40000", "net_worth": "40000", "accredited": True,
               "sophisticated": False, **finances}
    app.accounts.submit_investor_profile(
        user, legal_name=name, date_of_birth=born, country="US", knowledge_test_passed=True,
        **profile,  # type: ignore[arg-type]
    )
    pass_knowledge_tests(app, user)  # type: ignore[arg-type]
    app.accounts.verify_investor(team.risk_officer, user)
    return user


def test_self_dealing_by_the_founder_and_by_their_second_account(
    memory_app: Crowdfund, monitor: Monitor
) -> None:
    team = staff(memory_app)
    campaign = live_campaign(memory_app, team, max_target="100000.00")
    investor(memory_app, team, "Marguerite Okonkwo-Hale", "1975-05-05", user=team.founder)
    namesake = investor(memory_app, team, "Marguerite Okonkwo-Hale", "1975-06-05")
    pledge(memory_app, namesake, campaign, "100.00")  # same name, another birthday
    monitor.run()
    assert monitor.rules() == []
    pledge(memory_app, team.founder, campaign, "100.00")
    twin = investor(memory_app, team, "OKONKWO-HALE, Marguerite", "1975-05-05")
    pledge(memory_app, twin, campaign, "200.00")
    pledge(memory_app, twin, campaign, "300.00")  # one alert per backer and campaign
    monitor.run()
    found = {f["subject_id"]: f for f in monitor.findings() if f["rule"] == "SELF_DEALING"}
    assert set(found) == {str(team.founder), str(twin)}
    assert found[str(twin)]["related_user_ids"] == str(team.founder)
    assert found[str(twin)]["campaign_id"] == str(campaign)
    assert "Okonkwo" not in found[str(twin)]["details"]  # no personal data in what it saw


def test_self_dealing_is_found_whichever_fact_comes_last(
    memory_app: Crowdfund, monitor: Monitor
) -> None:
    """The backer pledged before the founder's profile (and identity) existed."""
    team = staff(memory_app)
    campaign = live_campaign(memory_app, team)
    twin = investor(memory_app, team, "Ignatius Ferreira-Lund", "1969-09-09")
    pledge(memory_app, twin, campaign, "100.00")
    monitor.run()
    assert "SELF_DEALING" not in monitor.rules()
    investor(memory_app, team, "Ignatius Ferreira Lund", "1969-09-09", user=team.founder)
    monitor.run()
    assert monitor.rules() == ["DUPLICATE_IDENTITY", "SELF_DEALING"]


def test_duplicate_identity_names_the_newer_account(
    memory_app: Crowdfund, monitor: Monitor
) -> None:
    team = staff(memory_app)
    first = investor(memory_app, team, "Søren Aabye Kierkegaard-Lind", "1983-05-05")
    investor(memory_app, team, "Soren Aabye Kierkegaard-Lind", "1983-05-06")  # near miss
    monitor.run()
    assert monitor.rules() == []
    second = investor(memory_app, team, "KIERKEGAARD-LIND, Soren Aabye", "1983-05-05")
    monitor.run()
    (finding,) = monitor.findings()
    assert finding["rule"] == "DUPLICATE_IDENTITY"
    assert (finding["subject_id"], finding["related_user_ids"]) == (str(second), str(first))
    alert = memory_app.aml.alert(finding["alert_id"])
    assert alert.rule is AlertRule.DUPLICATE_IDENTITY and alert.related_user_ids == [str(first)]
    # The other account's owner is involved: as an officer they could not decide it.
    assert alert.involves(str(first)) and alert.involves(str(second))


def test_structuring_velocity_and_cancel_cycles_from_pledges(
    memory_app: Crowdfund, monitor: Monitor, clock: SettableClock
) -> None:
    team = staff(memory_app)
    usd = live_campaign(memory_app, team, max_target="1000000.00")
    eur = live_campaign(memory_app, team, regime=Regime.ECSP, max_target="1000000.00")
    eur2 = live_campaign(memory_app, team, regime=Regime.ECSP, max_target="1000000.00")
    rich = investor(memory_app, team, annual_income="1000000", net_worth="1000000")
    structurer = investor(memory_app, team, annual_income="1000000", net_worth="1000000")
    careful = investor(memory_app, team, net_worth="50000", sophisticated=False)
    fast = investor(memory_app, team, annual_income="40000", net_worth="40000")
    cycler = investor(memory_app, team)
    pledge(memory_app, rich, usd, "9500.00")  # just under, but alone
    pledge(memory_app, structurer, usd, "9500.00")
    pledge(memory_app, structurer, usd, "9000.00")
    pledge(memory_app, careful, eur, "2300.00")  # under its ECSP risk threshold of 2,500
    pledge(memory_app, careful, eur2, "2200.00")
    pledge(memory_app, fast, usd, "6000.00")
    for _ in range(3):
        memory_app.pledges.cancel(cycler, pledge(memory_app, cycler, usd, "100.00"))
    monitor.run()
    by_subject = {(f["rule"], f["subject_id"]) for f in monitor.findings()}
    assert by_subject == {
        ("STRUCTURING", str(structurer)), ("STRUCTURING", str(careful)),
        ("RAPID_CANCEL_CYCLE", str(cycler)),
    }
    clock.advance(hours=23)
    pledge(memory_app, fast, usd, "4500.00")  # 10,500 in 24 h: above a quarter of 40,000
    monitor.run()
    assert ("VELOCITY", str(fast)) in {(f["rule"], f["subject_id"]) for f in monitor.findings()}


def test_alerts_are_raised_once_and_a_rebuild_finds_the_same(
    memory_app: Crowdfund, monitor: Monitor, memory_store: Store
) -> None:
    team = staff(memory_app)
    campaign = live_campaign(memory_app, team, max_target="100000.00")
    investor(memory_app, team, "Anneliese Brackwater", "1970-01-01", user=team.founder)
    pledge(memory_app, team.founder, campaign, "100.00")
    cycler = investor(memory_app, team)
    for _ in range(3):
        memory_app.pledges.cancel(cycler, pledge(memory_app, cycler, campaign, "100.00"))
    monitor.run()
    before = monitor.findings()
    assert {f["rule"] for f in before} == {"SELF_DEALING", "RAPID_CANCEL_CYCLE"}
    head = memory_app.head_position()
    monitor.run()  # nothing new: nothing raised again
    assert memory_app.head_position() == head
    report = rebuild(monitor.url, StoreLog(memory_app), monitor.consumer,
                     monitor.consumer.models, PARTITIONS)
    assert report.events > 0
    assert monitor.findings() == before
    monitor.run()
    assert memory_app.head_position() == head
    for finding in before:
        assert memory_app.aml.alert(finding["alert_id"]).status is AlertStatus.OPEN
