"""The notifier's invariants after a fault run: every notice the log owes is in the
app exactly once, and every one of them was mailed, once.

What the log owes comes from tests/notifications/oracle.py (one pass over the whole
log, independent of the notifier). Mail: the sink writes each message to a file named
by its Message-ID (derived from the notice id) and logs every message received. A
notifier SIGKILLed after the server accepted a message and before it recorded that
sends it again with the same Message-ID: the receiver sees a repeat it can recognise.
Such repeats are counted and reported, and there can be at most one per notifier kill.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from application.crowdfund import Crowdfund
from crowdfund.mail_sink import read_message, received
from projections.notices import Outbox
from tests.notifications.conftest import stored_notices
from tests.notifications.oracle import owed_by_log, stored_as_owed


@dataclass(frozen=True)
class MailCount:
    notices: int
    mailed: int  # distinct messages in the sink
    received: int  # messages the sink received, repeats included

    @property
    def repeats(self) -> int:
        return self.received - self.mailed


def mailed_ids(directory: Path) -> Counter[str]:
    """notice id -> how many message files name it (1 each: the file is its Message-ID)."""
    return Counter(str(read_message(p)["X-Crowdfund-Notification"]).split()[1]
                   for p in directory.glob("*.eml"))


def count(url: str, directory: Path) -> MailCount:
    return MailCount(len(stored_notices(url)), sum(mailed_ids(directory).values()),
                     len(received(directory)))


def converged(app: Crowdfund, url: str, directory: Path) -> bool:
    """Every notice owed is stored and every stored notice mailed."""
    notices = stored_notices(url)
    if stored_as_owed(notices) != owed_by_log(app):
        return False
    return set(mailed_ids(directory)) == {n["id"] for n in notices}


def notices_owed_once(app: Crowdfund, url: str) -> list[str]:
    stored = stored_as_owed(stored_notices(url))
    owed = owed_by_log(app)
    problems = [f"{key}: owed {n}, stored {stored.get(key, 0)}" for key, n in owed.items()
                if stored.get(key, 0) != n]
    problems += [f"{key}: stored {n}, owed none" for key, n in stored.items() if key not in owed]
    return problems[:20]


def mail_sent_once(url: str, directory: Path, notifier_kills: int) -> list[str]:
    notices = {n["id"] for n in stored_notices(url)}
    files = mailed_ids(directory)
    problems = [f"notice {i} not mailed" for i in sorted(notices - set(files))][:10]
    problems += [f"mail for no notice: {i}" for i in sorted(set(files) - notices)][:10]
    outbox = Outbox(url)
    try:
        sent = outbox.delivered()
    finally:
        outbox.close()
    problems += [f"notice {i} mailed but not marked sent" for i in sorted(set(files) - set(sent))
                 ][:10]
    repeats = sum(n - 1 for n in Counter(received(directory)).values())
    if repeats > notifier_kills:
        problems.append(f"{repeats} messages received twice, more than the {notifier_kills} "
                        "notifier kills explain")
    return problems


def check(app: Crowdfund, url: str, directory: Path, notifier_kills: int
          ) -> tuple[list[str], list[str]]:
    """(problems, the names of the checks that passed), as `invariants.check_all`."""
    problems: list[str] = []
    passed: list[str] = []
    for name, found in (
        ("every notice owed is present once", notices_owed_once(app, url)),
        ("every e-mail sent once", mail_sent_once(url, directory, notifier_kills)),
    ):
        problems.extend(f"[{name}] {p}" for p in found)
        if not found:
            passed.append(name)
    return problems, passed
