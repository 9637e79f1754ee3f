"""An investor's headroom under each regime, on the User aggregate alone (no store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.clock import business_time
from domain.rulebook import Regime
from domain.user import User

D = Decimal
NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _business_time() -> Iterator[None]:
    with business_time(NOW):  # the instant events carry; commitments carry their own
        yield


def investor(*, other_reg_cf: str = "0.00") -> User:
    user = User(email="ann@example.test", display_name="Ann", password_hash="x",  # type: ignore[call-arg]  # id goes to the aggregate metaclass
                roles=["BACKER"], id=uuid4())
    user.submit_profile(
        legal_name="Ann Example", date_of_birth="1990-01-01", country="US",
        annual_income=D("50000.00"), net_worth=D("60000.00"), accredited=False,
        sophisticated=False, other_reg_cf_investments_12m=D(other_reg_cf),
        knowledge_test_passed=True,
    )
    return user


def test_each_regime_counts_only_its_own_commitments_of_the_last_12_months() -> None:
    """Open commitments count in full; settled ones until 12 months after settlement."""
    user = investor(other_reg_cf="100.00")
    user.commit_investment("p1", "c1", "REG_CF", D("500.00"), NOW - timedelta(days=30))
    user.commit_investment("p2", "c2", "ECSP", D("700.00"), NOW - timedelta(days=30))
    user.commit_investment("p3", "c3", "ECSP", D("900.00"), NOW - timedelta(days=800))
    user.settle_investment("p3", NOW - timedelta(days=400))  # sold over a year ago
    user.commit_investment("p4", "c4", "ECSP", D("50.00"), NOW - timedelta(days=400))  # open
    reg_cf = user.headroom(Regime.REG_CF, NOW)
    assert (reg_cf.limit, reg_cf.used, reg_cf.remaining) == (
        D("3000.00"), D("600.00"), D("2400.00"))  # 5% of 60,000; other platforms count
    ecsp = user.headroom(Regime.ECSP, NOW)
    assert (ecsp.limit, ecsp.used, ecsp.remaining) == (None, D("750.00"), None)
    assert user.reg_cf_headroom(NOW) == reg_cf


def test_a_released_commitment_no_longer_counts() -> None:
    user = investor()
    user.commit_investment("p1", "c1", "ECSP", D("700.00"), NOW - timedelta(days=1))
    user.release_investment("p1")
    assert user.headroom(Regime.ECSP, NOW).used == 0
