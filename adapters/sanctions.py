"""OFAC's Specially Designated Nationals list, read from its published `sdn.csv`, and
a fuzzy, explainable name matcher over it (implements `application.screening.ScreeningList`).

The file: 12 columns, no header (ent_num, SDN_Name, SDN_Type, Program, Title,
Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks), `-0-` for
empty, programs joined as "SDGT] [IRGC", individuals written "LAST, First Middle".
Its version is the file's SHA-256. Investors are natural persons, so they are
screened against the list's individuals (entities, vessels and aircraft are
kept, for the record, but not compared).

Scoring (0 to 1), per docs/aml.md: both names are folded and put in given-name-first
order (`domain.names`); particles (al, bin, de, van...) are left out; every word of
the shorter name is paired with its most similar unpaired word of the longer one
(similarity: rapidfuzz's normalised Indel similarity, raised to 0.9 when the two
words sound alike by Metaphone, or when one is the other's initial); the score is
the mean similarity over the shorter name's words, less 0.08 for each word of the
longer name left unpaired (one missing middle name or second surname still
matches, two do not), and at most 0.8 when the shorter name has a single word.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jellyfish
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from domain.names import PARTICLES, name_tokens
from domain.screening import ScreeningMatch

LIST_NAME = "OFAC-SDN"
EMPTY = "-0-"
COLUMNS = 12
INDIVIDUAL = "individual"
# The sample shipped with the package (real published entries and marked fictitious
# ones); operators point CROWDFUND_SCREENING_LIST at the full file.
SAMPLE = "sdn_sample.csv"

SOUNDS_ALIKE = 0.9
INITIAL = 0.9
UNPAIRED_PENALTY = 0.08
SINGLE_WORD_CAP = 0.8
# Candidates for detailed scoring: a cheap whole-name comparison first.
PREFILTER_CUTOFF = 45.0
PREFILTER_LIMIT = 40


@dataclass(frozen=True)
class SdnEntry:
    entry_id: str
    name: str
    sdn_type: str
    programs: tuple[str, ...]


def read_sdn_csv(data: bytes) -> list[SdnEntry]:
    """Parse sdn.csv (OFAC publishes it in UTF-8; older files were Windows-1252)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue  # OFAC ends the file with a blank line (and sometimes a control char)
        if len(row) != COLUMNS:
            if len(row) == 1 and not row[0].strip().isdigit():
                continue
            raise ValueError(f"sdn.csv line {number}: {len(row)} columns, expected {COLUMNS}")
        cells = [_cell(c) for c in row]
        entries.append(SdnEntry(
            entry_id=cells[0], name=cells[1], sdn_type=cells[2].lower(),
            programs=_programs(cells[3]),
        ))
    return entries


def _cell(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY else value


def _programs(value: str) -> tuple[str, ...]:
    return tuple(p.strip(" []") for p in value.split("] [") if p.strip(" []"))


# --- scoring ---------------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def _sound(word: str) -> str:
    """Metaphone, with a leading vowel (or Y) as A and inner Ys dropped: Usama/Osama,
    Yevgeny/Evgeny, Zhuravlyov/Zhuravlev sound alike."""
    key = jellyfish.metaphone(word)
    if key and key[0] in "AEIOUY":
        key = "A" + key[1:]
    return key[:1] + key[1:].replace("Y", "")


def word_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    best = Indel.normalized_similarity(a, b)
    if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        best = max(best, INITIAL)
    elif min(len(a), len(b)) >= 3 and len(_sound(a)) >= 2 and _sound(a) == _sound(b):
        best = max(best, SOUNDS_ALIKE)
    return best


def _significant(tokens: Sequence[str]) -> tuple[str, ...]:
    """The words that identify: particles out, unless that leaves fewer than two
    ("Abu Abbas": Abu is the given name)."""
    kept = tuple(t for t in tokens if t not in PARTICLES)
    return kept if len(kept) >= 2 else tuple(tokens)


def name_score(query: Sequence[str], entry: Sequence[str]) -> float:
    """How alike two names are (tokens from `domain.names.name_tokens`), 0 to 1."""
    a, b = _significant(query), _significant(entry)
    if not a or not b:
        return 0.0
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    pairs = sorted(
        ((word_similarity(s, w), i, j)
         for i, s in enumerate(shorter) for j, w in enumerate(longer)),
        reverse=True,
    )
    used_short: set[int] = set()
    used_long: set[int] = set()
    total = 0.0
    for similarity, i, j in pairs:
        if i in used_short or j in used_long:
            continue
        used_short.add(i)
        used_long.add(j)
        total += similarity
    score = total / len(shorter) - UNPAIRED_PENALTY * (len(longer) - len(shorter))
    if len(shorter) == 1:
        score = min(score, SINGLE_WORD_CAP)
    return round(max(0.0, min(1.0, score)), 3)


class SanctionsList:
    """One version of the list, parsed and indexed for screening."""

    def __init__(self, entries: Iterable[SdnEntry], version: str, name: str = LIST_NAME) -> None:
        self.name = name
        self.version = version
        self.entries = list(entries)
        self._people = [e for e in self.entries if e.sdn_type == INDIVIDUAL]
        self._tokens = [name_tokens(e.name) for e in self._people]
        self._keys = [" ".join(t) for t in self._tokens]
        # Entries by how their words sound: a transliteration the whole-name prefilter
        # ranks low still shares a sound with its entry.
        self._by_sound: dict[str, set[int]] = {}
        for index, tokens in enumerate(self._tokens):
            for word in _significant(tokens):
                self._by_sound.setdefault(_sound(word), set()).add(index)

    @classmethod
    def from_bytes(cls, data: bytes) -> SanctionsList:
        return cls(read_sdn_csv(data), hashlib.sha256(data).hexdigest())

    @classmethod
    def from_file(cls, path: Path) -> SanctionsList:
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def sample(cls) -> SanctionsList:
        return cls.from_bytes(resources.files("adapters").joinpath("data", SAMPLE).read_bytes())

    def scores(self, legal_name: str) -> list[tuple[SdnEntry, float]]:
        """Every individual the name could be, best first, with its score."""
        tokens = name_tokens(legal_name)
        if not tokens:
            return []
        found = process.extract(
            " ".join(tokens), self._keys, scorer=fuzz.token_set_ratio,
            score_cutoff=PREFILTER_CUTOFF, limit=PREFILTER_LIMIT,
        )
        candidates = {i for _, _, i in found}
        for word in _significant(tokens):
            candidates |= self._by_sound.get(_sound(word), set())
        scored = [(self._people[i], name_score(tokens, self._tokens[i])) for i in candidates]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0].entry_id))

    def search(self, legal_name: str, threshold: float) -> list[ScreeningMatch]:
        return [
            ScreeningMatch(self.name, entry.entry_id, entry.name, score, entry.programs)
            for entry, score in self.scores(legal_name) if score >= threshold
        ]
