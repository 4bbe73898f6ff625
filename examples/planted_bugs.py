#!/usr/bin/env python3
"""Run the oracle on every planted bug of examples/buddy/buddy.py and print a table:
bug, found or not (and by which check), seconds to find (to the first failing example),
seconds in all (shrinking included, at most about a minute), shrunk trace length.

    python examples/planted_bugs.py                 # state level, child processes
    python examples/planted_bugs.py --black-box     # hide the state: black-box checks only
    python examples/planted_bugs.py --inprocess     # drive the allocator in-process (faster)
    python examples/planted_bugs.py --json          # one JSON object instead of the table

Exits 1 unless every bug is found and the correct allocator passes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "buddy"))

import buddy  # noqa: E402

from rmqueue.oracle.fuzz import fuzz  # noqa: E402


def run_one(bug: str | None, args: argparse.Namespace) -> dict[str, Any]:
    impl: Any
    if args.inprocess:
        impl = partial(buddy.BuddyAllocator, bug, args.black_box)
    else:
        impl = f"{sys.executable} {HERE / 'buddy' / 'buddy.py'}" + (
            f" --bug {bug}" if bug else "") + (" --black-box" if args.black_box else "")
    start = time.monotonic()
    result = fuzz(impl, max_examples=args.max_examples, steps=args.steps, seed=args.seed,
                  timeout=args.timeout, database=None,
                  report_dir=Path(args.report) / (bug or "correct") if args.report else None)
    return {
        "bug": bug or "(none: correct)",
        "found": result.verdict.kind != "pass",
        "check": result.verdict.name,
        "seconds_to_find": result.extra.get("seconds_to_find"),
        "seconds": round(time.monotonic() - start, 2),
        "trace_length": len(result.trace.ops) if result.trace else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--black-box", action="store_true")
    p.add_argument("--inprocess", action="store_true")
    p.add_argument("--max-examples", type=int, default=300)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--report", metavar="DIR", help="keep each bug's trace and report here")
    p.add_argument("--bugs", nargs="*", default=list(buddy.BUGS), metavar="BUG")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = [run_one(None, args)] + [run_one(bug, args) for bug in args.bugs]
    correct, planted = rows[0], rows[1:]
    found = [r for r in planted if r["found"]]
    lengths = [r["trace_length"] for r in found]
    summary = {
        "level": "black-box" if args.black_box else "state",
        "found": len(found), "planted": len(planted),
        "median_trace_length": statistics.median(lengths) if lengths else None,
        "correct_passes": not correct["found"],
    }
    if args.json:
        print(json.dumps({"rows": rows, **summary}, indent=1))
    else:
        print(f"{'bug':26s} {'found':6s} {'check':24s} {'to find':>8s} {'total s':>8s} "
              f"{'trace':>6s}")
        for r in rows:
            length = "-" if r["trace_length"] is None else r["trace_length"]
            find = "-" if r["seconds_to_find"] is None else f"{r['seconds_to_find']:.2f}"
            print(f"{r['bug']:26s} {'yes' if r['found'] else 'no':6s} {r['check'] or '-':24s} "
                  f"{find:>8s} {r['seconds']:8.2f} {length:>6}")
        print(f"\nlevel {summary['level']}: {len(found)}/{len(planted)} planted bugs found, "
              f"median shrunk trace {summary['median_trace_length']} operations; correct "
              f"allocator {'passes' if summary['correct_passes'] else 'FLAGGED'}")
    ok = len(found) == len(planted) and summary["correct_passes"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
