"""Pro-rata distributions by largest remainder: exact to the cent, deterministic ties."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cap_table import CapTable, cap_table_id
from domain.clock import business_time
from domain.distribution import pro_rata

pytestmark = pytest.mark.fast  # no database: aggregates, rules, the in-memory store

D = Decimal


def test_an_even_split() -> None:
    assert pro_rata(D("90.00"), {"a": 1, "b": 1, "c": 1}) == {
        "a": D("30.00"), "b": D("30.00"), "c": D("30.00"),
    }


def test_one_cent_left_over_goes_to_the_first_holder_id_on_a_tie() -> None:
    assert pro_rata(D("100.00"), {"c": 1, "b": 1, "a": 1}) == {
        "a": D("33.34"), "b": D("33.33"), "c": D("33.33"),
    }


def test_two_cents_left_over_go_to_the_first_two_ids_on_a_tie() -> None:
    assert pro_rata(D("0.02"), {"z": 5, "y": 5, "x": 5}) == {
        "x": D("0.01"), "y": D("0.01"), "z": D("0.00"),
    }


def test_largest_remainder_wins_before_the_id() -> None:
    # 10.00 by 1:2:3 is 1.666.., 3.333.., 5.00: "a" has the largest remainder.
    assert pro_rata(D("10.00"), {"c": 3, "b": 2, "a": 1}) == {
        "a": D("1.67"), "b": D("3.33"), "c": D("5.00"),
    }
    # The holder with the larger remainder gets the cent even with a later id.
    assert pro_rata(D("1.00"), {"a": 1, "z": 2}) == {"a": D("0.33"), "z": D("0.67")}


def test_a_single_cent_among_many() -> None:
    payouts = pro_rata(D("0.01"), {f"h{i:02d}": 1 for i in range(10)})
    assert payouts["h00"] == D("0.01")
    assert sum(payouts.values()) == D("0.01")


def test_uneven_holdings_and_an_awkward_total() -> None:
    holdings = {"alice": 7, "bob": 13, "carol": 29, "dave": 1}
    payouts = pro_rata(D("1234.57"), holdings)
    assert sum(payouts.values()) == D("1234.57")
    # exact: 172.8398, 320.9882, 716.0506, 24.6914; floors sum to 1234.55, so the two
    # cents left go to the largest remainders (alice .98, bob .82), not carol (.06).
    assert payouts == {
        "alice": D("172.84"), "bob": D("320.99"), "carol": D("716.05"), "dave": D("24.69"),
    }


def test_holders_without_shares_get_nothing_and_are_left_out() -> None:
    assert pro_rata(D("10.00"), {"a": 0, "b": 4}) == {"b": D("10.00")}


@pytest.mark.parametrize(
    ("total", "holdings"),
    [(D("10.00"), {}), (D("10.00"), {"a": 0}), (D("10.001"), {"a": 1})],
)
def test_refuses_what_cannot_be_split_exactly(total: Decimal, holdings: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        pro_rata(total, holdings)


holders = st.dictionaries(
    keys=st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8),
    values=st.integers(min_value=0, max_value=10**6),
    min_size=1,
    max_size=40,
).filter(lambda h: any(v > 0 for v in h.values()))
totals = st.decimals(min_value=D("0.01"), max_value=D("99999999.99"), places=2)


@given(total=totals, holdings=holders)
def test_payouts_always_sum_exactly_to_the_total(total: Decimal, holdings: dict[str, int]) -> None:
    payouts = pro_rata(total, holdings)
    assert sum(payouts.values()) == total
    assert set(payouts) == {h for h, n in holdings.items() if n > 0}
    all_shares = sum(holdings.values())
    for holder, amount in payouts.items():
        assert amount == amount.quantize(D("0.01")) and amount >= 0
        exact = total * holdings[holder] / all_shares
        assert abs(amount - exact) < D("0.01")  # never more than a cent off the exact share


@given(total=totals, holdings=holders, seed=st.integers())
def test_payouts_do_not_depend_on_input_order(
    total: Decimal, holdings: dict[str, int], seed: int
) -> None:
    items = list(holdings.items())
    random.Random(seed).shuffle(items)
    assert pro_rata(total, dict(items)) == pro_rata(total, holdings)


@given(total=totals, holdings=holders)
def test_more_shares_never_get_less(total: Decimal, holdings: dict[str, int]) -> None:
    payouts = pro_rata(total, holdings)
    for a, pa in payouts.items():
        for b, pb in payouts.items():
            if holdings[a] > holdings[b]:
                assert pa >= pb


def test_a_cap_tables_preview_is_what_its_declaration_pays_and_records_nothing() -> None:
    with business_time(datetime(2027, 3, 1, tzinfo=UTC)):
        table = CapTable(  # type: ignore[call-arg]  # id goes to the aggregate metaclass
            campaign_id="c", price_per_share=D("10.00"), currency="USD", id=cap_table_id("c"))
        table.issue_shares([
            {"pledge_id": "p1", "backer_id": "b", "shares": 2, "amount": "20.00"},
            {"pledge_id": "p2", "backer_id": "a", "shares": 1, "amount": "10.00"},
            {"pledge_id": "p3", "backer_id": "c", "shares": 4, "amount": "40.00"},
        ])
        pending = len(table.pending_events)
        preview = table.payouts_for(D("10.00"))
        assert len(table.pending_events) == pending  # a preview declares nothing
        assert table.declare_distribution("d1", D("10.00")).payouts == preview
    assert sum(preview.values()) == D("10.00")
