"""The sanctions list adapter: OFAC's sdn.csv parsed as published, and the name matcher
measured on the labelled variants (tests/aml/name_variants.py, reported in docs/aml.md)."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from adapters.sanctions import SanctionsList, name_score, read_sdn_csv
from domain.names import identity_digest, name_tokens
from domain.screening import MATCH_THRESHOLD
from tests.aml.name_variants import VARIANTS

pytestmark = pytest.mark.fast

# What docs/aml.md states and this suite holds the matcher to.
MIN_PRECISION = 0.95
MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def sample() -> SanctionsList:
    return SanctionsList.sample()


def test_the_sample_list_parses_as_ofac_publishes_it(sample: SanctionsList) -> None:
    data = resources.files("adapters").joinpath("data", "sdn_sample.csv").read_bytes()
    assert sample.version == hashlib.sha256(data).hexdigest()
    by_id = {e.entry_id: e for e in sample.entries}
    assert len(by_id) == len(sample.entries) == 22
    nasrallah = by_id["2686"]
    assert (nasrallah.name, nasrallah.sdn_type) == ("NASRALLAH, Hasan", "individual")
    assert nasrallah.programs == ("SDGT", "SYRIA")  # "SDGT] [SYRIA"
    assert by_id["36"].sdn_type == ""  # "-0- ": an entity has no type
    assert by_id["4632"].programs == ("IRAN", "SDGT", "IRGC", "IFSR")
    assert by_id["4238"].sdn_type == "vessel"
    fictitious = [e for e in sample.entries if e.entry_id.startswith("99000")]
    assert all(e.programs == ("SAMPLE",) for e in fictitious) and len(fictitious) == 6


def test_only_individuals_are_screened(sample: SanctionsList) -> None:
    people = {e.entry_id for e in sample.entries if e.sdn_type == "individual"}
    for name in ("Aerocaribbean Airlines", "Mar Azul", "Praxis Meridian Holdings"):
        assert {m.entry_id for m in sample.search(name, 0.0)} <= people


def test_a_malformed_file_is_refused_and_windows_1252_is_read() -> None:
    with pytest.raises(ValueError, match="3 columns"):
        read_sdn_csv(b'1,"DOE, John","individual"\n')
    row = '7,"MU\xd1OZ, Jos\xe9","individual","SDNT"' + ",-0- " * 8 + "\r\n"
    (entry,) = read_sdn_csv(row.encode("cp1252"))
    assert entry.name == "MUÑOZ, José" and entry.programs == ("SDNT",)


def test_names_normalise_case_accents_order_and_titles() -> None:
    assert name_tokens("AL ZAWAHIRI, Dr. Ayman") == ("ayman", "al", "zawahiri")
    assert name_tokens("Miguel Ángel Rodríguez-Orejuela") == name_tokens(
        "RODRIGUEZ OREJUELA, Miguel Angel")
    assert name_tokens("Łukasz Żółć-O'Brien") == ("lukasz", "zolc", "obrien")


def test_scores_are_explainable_numbers() -> None:
    assert name_score(("hasan", "nasrallah"), ("hasan", "nasrallah")) == 1.0
    # One middle name missing costs 0.08; two cost 0.16 (below the threshold).
    assert name_score(("julio", "nasser", "david"), ("julio", "cesar", "nasser", "david")) == 0.92
    assert name_score(("julio", "david"), ("julio", "cesar", "nasser", "david")) == 0.84
    # A single word never matches on its own.
    assert name_score(("nasrallah",), ("hasan", "nasrallah")) == 0.8


def measure(sample: SanctionsList, threshold: float) -> tuple[float, float, list[str]]:
    true_positives = false_positives = false_negatives = 0
    wrong = []
    for name, entry in VARIANTS:
        found = {m.entry_id for m in sample.search(name, threshold)}
        hit = entry is not None and entry in found
        true_positives += hit
        false_negatives += entry is not None and not hit
        false_positives += len(found - {entry})
        if (entry is not None and not hit) or found - {entry}:
            wrong.append(f"{name!r}: expected {entry}, found {sorted(found)}")
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / (true_positives + false_negatives)
    return precision, recall, wrong


def test_precision_and_recall_on_the_labelled_variants(sample: SanctionsList) -> None:
    positives = sum(1 for _, entry in VARIANTS if entry is not None)
    assert positives >= 50 and len(VARIANTS) - positives >= 30
    precision, recall, wrong = measure(sample, MATCH_THRESHOLD)
    assert precision >= MIN_PRECISION, wrong
    assert recall >= MIN_RECALL, wrong


def test_the_threshold_is_where_it_should_be(sample: SanctionsList) -> None:
    """Lower lets different people through as matches, higher loses variants."""
    assert measure(sample, MATCH_THRESHOLD - 0.05)[0] < 1.0
    assert measure(sample, MATCH_THRESHOLD + 0.05)[1] < measure(sample, MATCH_THRESHOLD)[1]


def test_identity_digests_compare_people_not_spellings() -> None:
    one = identity_digest("k", "Zoë Ann Müller", "1990-04-30")
    assert one == identity_digest("k", "MULLER, Zoe Ann", "1990-04-30")
    assert one != identity_digest("k", "Zoe Ann Muller", "1990-04-29")
    assert one != identity_digest("other key", "Zoe Ann Muller", "1990-04-30")
    assert "zoe" not in one and len(one) == 64
