"""``rmqueue prove``: run every proof obligation, print a table, exit 0 only if all hold."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from typing import Any

from .frame import frame_lemmas
from .obligations import Obligation, rows
from .replay import ROUTE_STATE, Sensitivity, sensitivity
from .runner import LEMMA, Job, JobResult, RowResult, jobs_for, rows_from, run_jobs
from .state import LINUX, Geometry
from .transitions import TRANSITIONS

DEFAULT = LINUX


def _geometry(text: str) -> Geometry:
    if text == "linux":
        return LINUX
    try:
        mo, pb = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"geometry must be 'linux' or MAX_ORDER/PAGEBLOCK_ORDER such as 4/2 (got {text!r})"
        ) from None
    if not 2 <= mo <= 20 or not 1 <= pb <= mo - 1:
        raise argparse.ArgumentTypeError(
            f"geometry {text}: need 2 <= MAX_ORDER <= 20 and 1 <= PAGEBLOCK_ORDER < MAX_ORDER"
        )
    return Geometry(mo, pb)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prove",
        help="machine-check that every transition keeps the buddy invariants",
        description=(
            "Prove with Z3, for a symbolic zone (64-bit pfns, any start and size, any order\n"
            "below MAX_ORDER, any pcp batch and high), that every transition kind of the\n"
            "Linux 4.3 allocation and free paths keeps every invariant of rmqueue.specs.\n"
            "One row per (transition, invariant), at Linux's geometry (MAX_ORDER 11,\n"
            "pageblock_order 9) unless --geometry says otherwise: about a minute on 2 cores.\n"
            "The helper lemmas the rows assume are proved in the same run, and every phase's\n"
            "hypotheses are shown satisfiable (no vacuous proof).  Z3 'unknown' or a timeout\n"
            "is a failure; the exit status is 0 only if everything is proved."
        ),
        epilog=(
            "examples:\n"
            "  rmqueue prove                          # every row at 11/9, 2 processes\n"
            "  rmqueue prove --geometry 4/2 --bugs    # small geometry, planted bugs too\n"
            "  rmqueue prove --only 'pcp_refill:*' --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="parallel prover processes (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="time budget per job (phase and invariant), in seconds (default 60)")
    p.add_argument("--only", metavar="PATTERN", default="*",
                   help="run the rows whose 'transition:invariant' matches this glob")
    p.add_argument("--geometry", type=_geometry, default=DEFAULT, metavar="MO/PB",
                   help="MAX_ORDER/pageblock_order, or 'linux' (11/9, the default)")
    p.add_argument("--witness", action="store_true",
                   help="print the witness state of every phase (non-vacuity)")
    p.add_argument("--bugs", action="store_true",
                   help="also plant each transition's bug: the proof must fail, and the "
                        "counterexample's pre-state, moved into the model, must break it for "
                        "real when the operation runs (a seeded search is the fallback)")
    p.set_defaults(func=run)


def select(pattern: str, geo: Geometry) -> list[Obligation]:
    chosen = [ob for ob in rows((geo,))
              if fnmatch.fnmatchcase(f"{ob.transition}:{ob.invariant}", pattern)]
    return chosen


def run(args: argparse.Namespace) -> int:
    chosen = select(args.only, args.geometry)
    if not chosen:
        print(f"rmqueue prove: no obligation matches {args.only!r}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    jobs = jobs_for(chosen)
    results: dict[Job, JobResult] = {}
    for r in run_jobs(jobs, max(1, args.jobs), args.timeout):
        results[r.job] = r
    table = rows_from(chosen, results)
    helpers = {j.invariant: r for j, r in results.items() if j.phase == LEMMA}
    frames = frame_lemmas(args.geometry, int(args.timeout * 1000))
    bugs = [sensitivity(t, args.geometry.max_order, args.geometry.pageblock_order,
                        args.timeout) for t in TRANSITIONS] if args.bugs else []
    wall = time.monotonic() - t0
    ok = all(r.ok for r in table) and all(v == "proved" for v in frames.values()) \
        and all(r.status == "proved" for r in helpers.values()) and all(b.ok for b in bugs)
    if args.json:
        out = _json(table, results, wall, args.geometry)
        out["frame_lemma"] = frames
        out["lemmas"] = {n: {"result": r.status, "seconds": round(r.seconds, 3),
                             "queries": r.queries} for n, r in helpers.items()}
        out["planted_bugs"] = [_bug_json(b) for b in bugs]
        out["ok"] = ok
        print(json.dumps(out, indent=1))
    else:
        _print(table, results, wall, args.geometry, args.witness)
        print("\nhelper lemmas (proved here, assumed by the rows):")
        for name, r in helpers.items():
            print(f"  lemma:{name:<32} {r.status} ({r.seconds:.2f} s, {r.queries} queries)")
        print("\nframe lemma (record checks keep the whole state's invariants):")
        for name, v in frames.items():
            print(f"  frame:{name:<32} {v}")
        if bugs:
            print("\nplanted bugs (the proof must fail; the model must show it for real):")
        for b in bugs:
            print(f"  bug {b.transition}/{b.bug}: proof {b.proof}; {_bug_line(b)}")
        print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


def _bug_line(b: Sensitivity) -> str:
    if b.invariant is None:
        return "NOT replayed"
    if b.route == ROUTE_STATE and b.transfer is not None:
        t = b.transfer
        op = t.state.get("operation", [])
        return (f"model violates {b.invariant} {b.route} (tier {t.tier}, zone of {t.pages} "
                f"pages, then {op[0]}{tuple(op[1:])!r})")
    n = len(b.replay.program) - 1 if b.replay else 0
    return f"model violates {b.invariant} {b.route} (after {n} ops)"


def _bug_json(b: Sensitivity) -> dict[str, Any]:
    t = b.transfer
    return {
        "transition": b.transition, "bug": b.bug, "proof": b.proof,
        "replayed_violation": b.invariant, "route": b.route,
        "transfer": None if t is None else {
            "phase": t.phase, "invariant": t.invariant, "counterexample": t.witness,
            "tier": t.tier, "pages": t.pages,
            "assumes": t.assumes, "sound": t.sound, "violation": t.violation,
            "state": {**t.state, "pages": {str(k): v for k, v in
                                           t.state.get("pages", {}).items()}},
            "notes": t.notes},
        "program": b.replay.program if b.replay else (t.program if t else []),
    }


def _json(table: list[RowResult], results: dict[Job, JobResult], wall: float,
          geo: Geometry) -> dict[str, Any]:
    return {
        "geometry": {"max_order": geo.max_order, "pageblock_order": geo.pageblock_order},
        "wall_seconds": round(wall, 2),
        "ok": all(r.ok for r in table),
        "obligations": [
            {"transition": r.obligation.transition, "invariant": r.obligation.invariant,
             "result": r.status, "seconds": round(r.seconds, 3), "phase": r.phase,
             "detail": r.detail, "vacuous": r.vacuous}
            for r in table
        ],
        "phases": [
            {"phase": j.phase, "invariant": j.invariant or "(hypotheses)",
             "result": r.status, "seconds": round(r.seconds, 3), "queries": r.queries,
             "witness": r.witness}
            for j, r in sorted(results.items(), key=lambda kv: (kv[0].phase, kv[0].invariant))
        ],
    }


def _print(table: list[RowResult], results: dict[Job, JobResult], wall: float,
           geo: Geometry, witness: bool) -> None:
    width = max(len(f"{r.obligation.transition}:{r.obligation.invariant}") for r in table)
    print(f"{'obligation':<{width}}  {'result':<14}  seconds")
    for r in table:
        name = f"{r.obligation.transition}:{r.obligation.invariant}"
        if not r.vacuous:
            status = r.status
        else:
            status = "VACUOUS" if any("vacuous" in v for v in r.vacuous) else "no-witness"
        print(f"{name:<{width}}  {status:<14}  {r.seconds:7.2f}")
    by_t: dict[str, float] = {}
    for r in table:
        by_t[r.obligation.transition] = by_t.get(r.obligation.transition, 0.0) + r.seconds
    print()
    print("per transition (sum of its rows' solver seconds):")
    for t, s in by_t.items():
        print(f"  {t:<22} {s:8.2f}")
    wits = [w for j, w in results.items() if not j.invariant]
    sat = sum(1 for w in wits if w.status == "satisfiable")
    print(f"hypotheses satisfiable: {sat}/{len(wits)} phases")
    if witness:
        for w in sorted(wits, key=lambda w: w.job.phase):
            print(f"  witness {w.job.phase}: {json.dumps(w.witness)}")
    bad = [r for r in table if not r.ok]
    for r in bad:
        print(f"\nFAILED {r.obligation.transition}:{r.obligation.invariant} "
              f"({r.status} in phase {r.phase}) {'; '.join(r.vacuous)}")
        if r.detail:
            print("  " + r.detail.replace("\n", "\n  "))
    proved = sum(1 for r in table if r.ok)
    print(f"\n{proved}/{len(table)} obligations proved at max_order {geo.max_order}, "
          f"pageblock_order {geo.pageblock_order}, in {wall:.1f} s wall")


__all__ = ["register", "run"]
