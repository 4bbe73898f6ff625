"""Shared helpers of tests/specs: a small zone config and a mixed workload."""

from __future__ import annotations

import random

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.specs.check import StepChecker

SMALL = ZoneConfig.kernel_default(
    2048, cma_pageblocks=[2, 3], reserve_pageblocks=1, pcp={"high": 12, "batch": 3},
    mobility_grouping=True,
)


def workload(
    a: Allocator, chk: StepChecker | None, n: int, seed: int, pressure: bool = False
) -> list[tuple[int, int]]:
    """A mixed alloc/free/drain run; returns the live blocks.  With ``pressure``, every 200
    steps one type is allocated until it fails (fallback, CMA, RESERVE), then half freed."""
    rnd = random.Random(seed)
    live: list[tuple[int, int]] = []
    gfps = (["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"],
            ["GFP_KERNEL", "__GFP_COLD"])
    for step in range(n):
        if pressure and step % 200 == 199:
            gfp = gfps[(step // 200) % 3]
            while True:
                rec = a.alloc(0, 0, gfp)
                if chk is not None:
                    chk.check(rec)
                if rec.pfn is None:
                    break
                live.append((rec.pfn, 0))
            del_from = len(live) // 2
            while len(live) > del_from:
                p, o = live.pop(rnd.randrange(len(live)))
                rec = a.free(1, p, o, False)
                if chk is not None:
                    chk.check(rec)
        r = rnd.random()
        if r < 0.55 or not live:
            o = 0 if rnd.random() < 0.7 else rnd.randrange(1, a.config.max_order)
            rec = a.alloc(rnd.randrange(a.config.cpus), o, rnd.choice(gfps))
            if rec.pfn is not None:
                live.append((rec.pfn, o))
        elif r < 0.97:
            p, o = live.pop(rnd.randrange(len(live)))
            rec = a.free(rnd.randrange(a.config.cpus), p, o, rnd.random() < 0.3)
        else:
            rec = a.drain(rnd.randrange(a.config.cpus))
        if chk is not None:
            chk.check(rec)
    return live


# the step checker's evaluators: "fast" (C record checks where a compiler exists),
# "fast-python" (the same instances in generated Python), "z3" (the solver)
BACKENDS = ["fast", "fast-python", "z3"]


def make_checker(a: Allocator, backend: str, **kw: int) -> StepChecker:
    """A step checker on ``a`` with one of :data:`BACKENDS`."""
    if backend == "fast-python":
        return StepChecker(a, backend="fast", native=False, **kw)
    return StepChecker(a, backend=backend, **kw)
