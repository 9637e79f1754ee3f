"""Personal names as a screening officer compares them: case, accents, punctuation,
titles and the list's "LAST, First Middle" order do not make two names differ.

One normalisation serves sanctions screening (`adapters.sanctions` scores the
tokens) and identity keys (`identity_digest`: two accounts of one person).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

# Letters that Unicode does not decompose into a base letter and a mark.
_FOLD = str.maketrans({
    "ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "Œ": "oe", "ł": "l",
    "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "\u0131": "i",
    # Apostrophes join (O'Brien, Ma'ruf): U+02BC, U+02BB, U+2019, U+2018, ', `.
    "\u02bc": "", "\u02bb": "", "\u2019": "", "\u2018": "", "'": "", "`": "",
})
# Honorifics and titles that the SDN list keeps inside names ("AL ZAWAHIRI, Dr. Ayman").
TITLES = frozenset({
    "dr", "mr", "mrs", "ms", "miss", "prof", "sir", "shaykh", "sheikh", "sheik", "shaikh",
    "haji", "hajji", "mullah", "maulana", "imam", "general", "gen", "col", "colonel",
})
# Particles of Arabic, Romance and Germanic names: they carry little of a name's identity.
PARTICLES = frozenset({
    "al", "el", "ul", "bin", "ibn", "bint", "abu", "ben", "de", "del", "della", "der", "di",
    "da", "dos", "das", "du", "la", "le", "van", "von", "y",
})
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case, accents and apostrophes removed, every other mark a space."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", plain.casefold().translate(_FOLD)).strip()


def name_tokens(name: str) -> tuple[str, ...]:
    """The words of a personal name in given-name-first order, folded, without titles.

    "RODRIGUEZ OREJUELA, Miguel Angel" and "Miguel Ángel Rodríguez-Orejuela" give
    the same tokens: a comma means the list's "LAST, First Middle" form.
    """
    last, comma, first = name.partition(",")
    ordered = f"{first} {last}" if comma else name
    return tuple(t for t in fold(ordered).split() if t not in TITLES)


def identity_digest(key: str, legal_name: str, date_of_birth: str) -> str:
    """A keyed hash of a person's legal name and date of birth: equal for two accounts
    of one person however the name's words are ordered or accented, and meaningless
    without the key (so it can be compared, stored and indexed, never reversed)."""
    words = " ".join(sorted(name_tokens(legal_name)))
    message = f"{words}|{date_of_birth.strip()}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
