"""The fault-injection run as a soak: `python -m tests.faults.soak --seconds 300`.

Runs tests/faults/run.py for as long as asked (default: CROWDFUND_SOAK_SECONDS or 300 s
of load), prints the figures docs/reliability.md records (pledges acknowledged, faults
injected by kind, invariant checks passed, duration, seed) and exits 1 if any invariant
failed. `--seed N` replays a run's fault schedule and load choices (timing still varies).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from pathlib import Path

from tests.faults.run import fault_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("CROWDFUND_SOAK_SECONDS") or 300))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="keep the processes' logs here (default: a temporary dir)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="crowdfund-soak-"))
    print(f"soak: seed {seed}, {args.seconds:.0f}s of load, logs in {run_dir}", flush=True)
    report = asyncio.run(fault_run(run_dir, args.seconds, seed,
                                   concurrency=args.concurrency,
                                   log=lambda line: print(line, flush=True)))
    print(report.text())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
