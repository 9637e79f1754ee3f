"""A separate OS process that places pledges, for the multi-process race in test_races.py.

    python pledge_worker.py '{"url": ..., "now": ..., "start_at": ..., "pledges": [...]}'

Each pledge is [backer_id, campaign_id, amount, idempotency_key]. The worker opens its own
`Crowdfund` on the database URL, waits until the wall-clock instant `start_at` (so that all
workers start together), places its pledges one by one, and prints one JSON object:
{"accepted": [[pledge_id, amount], ...], "refused": [[error class, amount, detail], ...],
 "conflicts": n}.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any


def main(spec: dict[str, Any]) -> dict[str, Any]:
    from application.clock import SettableClock
    from crowdfund.bootstrap import open_application
    from crowdfund.settings import Settings
    from domain.errors import ConcurrencyConflict, DomainError

    env = dict(CREATE_TABLE="n", POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="1",
               POSTGRES_CONNECT_TIMEOUT="30")
    settings = Settings(database_url=spec["url"], data_dir=spec["data_dir"])
    app = open_application(
        settings, SettableClock(datetime.fromisoformat(spec["now"])), env=env
    )
    result: dict[str, Any] = {"accepted": [], "refused": [], "conflicts": 0}
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    for backer, campaign, amount, key in spec["pledges"]:
        for _ in range(50):
            try:
                written = app.pledges.place(backer, campaign, amount, key, True)
            except ConcurrencyConflict:
                result["conflicts"] += 1
                continue
            except DomainError as error:
                detail = str(getattr(error, "remaining", error.code))
                result["refused"].append([type(error).__name__, amount, detail])
            else:
                result["accepted"].append([str(written.value), amount])
            break
    app.close()
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
