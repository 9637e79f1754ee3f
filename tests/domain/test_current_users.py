"""`CurrentUsers`: the user a request is authenticated as is the store's, even when
another process (another API replica) changed it after this one cached it."""

from __future__ import annotations

from application.clock import SettableClock
from application.sessions import CurrentUsers
from domain.user import Role
from tests.conftest import Store
from tests.scenario import staff, verified_backer


def test_a_role_granted_by_another_process_is_seen_by_the_next_request(
    store: Store, clock: SettableClock
) -> None:
    here, there = store.open(clock), store.open(clock)
    team = staff(here)
    backer = verified_backer(here, team)
    users = CurrentUsers(here)
    assert Role.AUDITOR.value not in users.user(backer).roles  # now cached here
    there.accounts.grant_role(team.admin, backer, Role.AUDITOR)
    # This process's cache trusts itself: without the check the grant is not seen.
    assert Role.AUDITOR.value not in here.user(backer).roles
    assert Role.AUDITOR.value in users.user(backer).roles
    assert Role.AUDITOR.value in here.user(backer).roles  # the stale copy was replaced


def test_each_request_asks_the_store(store: Store, clock: SettableClock) -> None:
    app = store.open(clock)
    backer = verified_backer(app, staff(app))
    users = CurrentUsers(app)
    for _ in range(3):
        assert users.user(backer).id == backer
    assert users.reads == 3  # one after the other: nothing to share
