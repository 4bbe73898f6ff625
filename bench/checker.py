"""Throughput of the model unchecked and checked by both evaluators of rmqueue.specs.

    python bench/checker.py [--ops N] [--sizes 65536,4194304]

Prints one JSON object: ``unchecked_ops_per_s``, ``fast_checked_ops_per_s`` and
``z3_checked_ops_per_s``, each a map from zone size in pages to transitions per second, all
measured in this run on the same recorded workload (the same operations replayed on a fresh
zone each time; only the allocator and checker calls are timed).  Unchecked and fast-checked
runs are interleaved (``--rounds``) and the best of each kept; ``fast_ratio`` is their ratio
per size, ``fast_check_us_per_step`` what the check adds to a step, and
``fast_check_cost_growth`` that cost at the last size over the first (the flatness target).
``fast_evaluator`` says whether the C record checks were built (``c``) or not (``python``).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.specs.check import StepChecker

GFPS = (["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"], ["GFP_ATOMIC"],
        ["GFP_KERNEL", "__GFP_COLD"], ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"])

Op = tuple[Any, ...]


def record_workload(config: ZoneConfig, n: int, seed: int) -> list[Op]:
    """A deterministic mix: order-0 heavy allocs of every class, hot/cold frees, drains,
    high-order churn; recorded against the model so every free names a live block."""
    a = Allocator(config)
    rnd = random.Random(seed)
    live: list[tuple[int, int]] = []
    ops: list[Op] = []
    for _ in range(n):
        r = rnd.random()
        cpu = rnd.randrange(config.cpus)
        if r < 0.55 or not live:
            order = 0 if rnd.random() < 0.8 else rnd.randrange(1, config.max_order)
            gfp = rnd.choice(GFPS)
            ops.append(("alloc", cpu, order, gfp))
            rec = a.alloc(cpu, order, gfp)
            if rec.pfn is not None:
                live.append((rec.pfn, order))
        elif r < 0.99:
            pfn, order = live.pop(rnd.randrange(len(live)))
            cold = rnd.random() < 0.3
            ops.append(("free", cpu, pfn, order, cold))
            a.free(cpu, pfn, order, cold)
        else:
            ops.append(("drain", cpu))
            a.drain(cpu)
    return ops


def replay(config: ZoneConfig, ops: list[Op], backend: str | None,
           native: bool | None = None) -> float:
    a = Allocator(config)
    chk = StepChecker(a, backend=backend, native=native) if backend else None
    alloc, free, drain = a.alloc, a.free, a.drain
    t0 = time.perf_counter()
    if chk is None:
        for op in ops:
            if op[0] == "alloc":
                alloc(op[1], op[2], op[3])
            elif op[0] == "free":
                free(op[1], op[2], op[3], op[4])
            else:
                drain(op[1])
    else:
        check = chk.check
        for op in ops:
            if op[0] == "alloc":
                check(alloc(op[1], op[2], op[3]))
            elif op[0] == "free":
                check(free(op[1], op[2], op[3], op[4]))
            else:
                check(drain(op[1]))
        chk.flush()
    return len(ops) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--sizes", default="65536,4194304")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved unchecked/checked rounds; the best of each is kept")
    ap.add_argument("--python", action="store_true",
                    help="the fast evaluator in Python only (no C record checks)")
    args = ap.parse_args()
    native = False if args.python else None
    out: dict[str, Any] = {"unchecked_ops_per_s": {}, "fast_checked_ops_per_s": {},
                           "z3_checked_ops_per_s": {}, "ops": args.ops}
    probe = StepChecker(Allocator(ZoneConfig.kernel_default(1 << 12)), native=native)
    out["fast_evaluator"] = "c" if probe.native else "python"
    out["fast_ratio"] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        # the same pcp sizing at every zone size, so only the size differs
        cfg = ZoneConfig.kernel_default(size, pcp={"high": 186, "batch": 31})
        ops = record_workload(cfg, args.ops, args.seed)
        key = str(size)
        # unchecked and fast-checked runs interleaved, best of each: the machine is shared,
        # and a ratio is only meaningful between runs that saw the same load
        plain: list[float] = []
        fast: list[float] = []
        for _ in range(args.rounds):
            plain.append(replay(cfg, ops, None))
            fast.append(replay(cfg, ops, "fast", native))
        out["unchecked_ops_per_s"][key] = round(max(plain))
        out["fast_checked_ops_per_s"][key] = round(max(fast))
        out["fast_ratio"][key] = round(max(fast) / max(plain), 3)
        out["z3_checked_ops_per_s"][key] = round(replay(cfg, ops, "z3"))
        # what checking adds to one step, for the flatness target (cost at the largest
        # size over the cost at the smallest)
        out.setdefault("fast_check_us_per_step", {})[key] = round(
            1e6 / max(fast) - 1e6 / max(plain), 3)
    costs = list(out["fast_check_us_per_step"].values())
    out["fast_check_cost_growth"] = round(costs[-1] / costs[0], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
