"""Seeded, deterministic workloads: streams of protocol operations for the model (or any
implementation) to run.

A workload is a generator of operations::

    ("alloc", cpu, order, gfp_names)
    ("free", cpu, pfn, order, cold)
    ("drain", cpu)

Frees need blocks that are really in use, so each generator keeps its own small "live set"
and is told the outcome of every ``alloc`` through ``send()``: the pfn, or ``None`` when the
allocation failed.  (``next()`` counts as ``send(None)``.)  :func:`drive` runs a workload
on an :class:`~rmqueue.model.allocator.Allocator`.  Nothing here has global state: the only
randomness is a ``random.Random(seed)`` private to each generator, so the same arguments give
the same stream.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .allocator import Allocator
    from .record import Transition

# ("alloc", cpu, order, gfp_names) | ("free", cpu, pfn, order, cold) | ("drain", cpu)
Op = tuple[Any, ...]
Workload = Generator[Op, "int | None", None]

UNMOVABLE = ("GFP_KERNEL",)
RECLAIMABLE = ("GFP_TEMPORARY",)
MOVABLE = ("GFP_HIGHUSER_MOVABLE",)
UNMOVABLE_COLD = ("GFP_KERNEL", "__GFP_COLD")
MOVABLE_COLD = ("GFP_HIGHUSER_MOVABLE", "__GFP_COLD")
RECLAIMABLE_COLD = ("GFP_TEMPORARY", "__GFP_COLD")
ALL_CLASSES = (UNMOVABLE, RECLAIMABLE, MOVABLE, UNMOVABLE_COLD, RECLAIMABLE_COLD, MOVABLE_COLD)
CMA_CLASSES = (MOVABLE,) * 4 + (MOVABLE_COLD, UNMOVABLE, RECLAIMABLE)


class LiveSet:
    """Blocks in use, with O(1) add and O(1) removal of a random one (swap with the last).

    Kept as one flat array of ``pfn << 5 | order`` rather than a list of tuples, so a big live
    set is a single object (no per-block garbage for the cyclic collector to walk).
    """

    __slots__ = ("packed", "pages")

    def __init__(self) -> None:
        self.packed = array("q")
        self.pages = 0

    def __len__(self) -> int:
        return len(self.packed)

    @property
    def blocks(self) -> list[tuple[int, int]]:
        """(pfn, order) of every live block, oldest first unless removals swapped them."""
        return [(v >> 5, v & 31) for v in self.packed]

    def add(self, pfn: int, order: int) -> None:
        self.packed.append(pfn << 5 | order)
        self.pages += 1 << order

    def pop_random(self, rng: random.Random) -> tuple[int, int]:
        packed = self.packed
        i = int(rng.random() * len(packed))
        v = packed[i]
        last = packed.pop()
        if i < len(packed):
            packed[i] = last
        order = v & 31
        self.pages -= 1 << order
        return v >> 5, order


def pcp_churn(seed: int, cpus: int, ops: int, live_target: int = 256) -> Workload:
    """Order-0 allocs and frees that mostly hit the pcp lists.

    Several CPUs; mostly MOVABLE, some UNMOVABLE and RECLAIMABLE; about one op in six is
    cold.  The number of pages in use hovers around ``live_target``, so the pcp lists refill
    and trim at their realistic high/batch marks but most operations are pcp hits.  One op in
    2000 drains a CPU.
    """
    rng = random.Random(seed)
    rand = rng.random
    live = LiveSet()
    classes = (MOVABLE,) * 6 + (UNMOVABLE,) * 2 + (RECLAIMABLE, MOVABLE_COLD, UNMOVABLE_COLD)
    nclasses = len(classes)
    for _ in range(ops):
        cpu = int(rand() * cpus)
        r = rand()
        if r < 0.0005:
            yield ("drain", cpu)
        elif live.pages < live_target * (0.5 + r):
            gfp = classes[int(rand() * nclasses)]
            pfn = yield ("alloc", cpu, 0, gfp)
            if pfn is not None:
                live.add(pfn, 0)
        else:
            pfn, order = live.pop_random(rng)
            yield ("free", cpu, pfn, order, r > 0.85)


ORDER_WEIGHTS = (400, 120, 80, 60, 40, 20, 12, 8, 6, 4, 3)


def mixed(
    seed: int,
    cpus: int,
    ops: int,
    pages: int,
    fill: float = 0.85,
    classes: tuple[tuple[str, ...], ...] = ALL_CLASSES,
) -> Workload:
    """Orders 0-10 of every gfp class, with frees, under memory pressure.

    Allocations outnumber frees until about ``fill`` of the zone is in use; then the mix
    turns over, so the free lists of each type run dry and migratetype fallback, stealing,
    the CMA and RESERVE retries and failed allocations all happen.  ``classes`` are the gfp
    name lists to draw from (default: every class, hot and cold).  One op in 1000 drains a
    CPU.
    """
    rng = random.Random(seed)
    rand = rng.random
    live = LiveSet()
    orders = rng.choices(range(11), weights=ORDER_WEIGHTS, k=4096)
    nclasses = len(classes)
    target = pages * fill
    k = 0
    for _ in range(ops):
        cpu = int(rand() * cpus)
        r = rand()
        if r < 0.001:
            yield ("drain", cpu)
        elif live.pages < target * (0.6 + 0.8 * r) or not live:
            order = orders[k & 4095]
            k += 1
            gfp = classes[int(rand() * nclasses)]
            pfn = yield ("alloc", cpu, order, gfp)
            if pfn is not None:
                live.add(pfn, order)
        else:
            pfn, order = live.pop_random(rng)
            yield ("free", cpu, pfn, order, r > 0.9)


def fragment(seed: int, cpus: int, ops: int, pages: int) -> Workload:
    """Fragmentation: phases of many small mixed-type allocations, freeing every other one,
    then bursts of high-order requests that must fall back, steal or fail."""
    rng = random.Random(seed)
    rand = rng.random
    done = 0
    phase_len = max(16, min(pages // 4, ops // 8))
    kept: list[tuple[int, int]] = []
    while done < ops:
        holes: list[tuple[int, int]] = []
        for i in range(phase_len):
            if done >= ops:
                return
            order = int(rand() * 3)
            gfp = ALL_CLASSES[int(rand() * 6)]
            pfn = yield ("alloc", int(rand() * cpus), order, gfp)
            done += 1
            if pfn is not None:
                (holes if i & 1 else kept).append((pfn, order))
        for pfn, order in holes:  # every other small block goes back: holes everywhere
            if done >= ops:
                return
            yield ("free", int(rand() * cpus), pfn, order, False)
            done += 1
        for order in (9, 8, 7, 6, 5, 4, 3, 10):
            if done >= ops:
                return
            gfp = (MOVABLE, UNMOVABLE, RECLAIMABLE)[order % 3]
            pfn = yield ("alloc", int(rand() * cpus), order, gfp)
            done += 1
            if pfn is not None:
                kept.append((pfn, order))
        rng.shuffle(kept)
        half = len(kept) // 2
        for pfn, order in kept[:half]:
            if done >= ops:
                return
            yield ("free", int(rand() * cpus), pfn, order, rand() < 0.2)
            done += 1
        kept = kept[half:]


def reserve_exhaustion(seed: int, cpus: int, ops: int) -> Workload:
    """Allocate until the zone is empty (so the RESERVE retry and then failures happen),
    free everything, drain, and start over with another mix of types and orders."""
    rng = random.Random(seed)
    rand = rng.random
    done = 0
    while done < ops:
        live = LiveSet()
        failures = 0
        while failures < 8 and done < ops:
            order = rng.choice((0, 0, 1, 2, 3, 5))
            gfp = ALL_CLASSES[int(rand() * 6)]
            pfn = yield ("alloc", int(rand() * cpus), order, gfp)
            done += 1
            if pfn is None:
                failures += 1
            else:
                live.add(pfn, order)
        while live and done < ops:
            pfn, order = live.pop_random(rng)
            yield ("free", int(rand() * cpus), pfn, order, rand() < 0.5)
            done += 1
        for cpu in range(cpus):
            if done >= ops:
                return
            yield ("drain", cpu)
            done += 1


def random_ops(seed: int, cpus: int, ops: int) -> Workload:
    """Uniformly random operations: any order, any gfp class, frees of random live blocks,
    drains of random CPUs."""
    rng = random.Random(seed)
    rand = rng.random
    live = LiveSet()
    for _ in range(ops):
        cpu = int(rand() * cpus)
        r = rand()
        if r < 0.02:
            yield ("drain", cpu)
        elif r < 0.55 or not live:
            gfp = ALL_CLASSES[int(rand() * 6)]
            order = int(rand() * 11)
            pfn = yield ("alloc", cpu, order, gfp)
            if pfn is not None:
                live.add(pfn, order)
        else:
            pfn, order = live.pop_random(rng)
            yield ("free", cpu, pfn, order, rand() < 0.5)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A named workload: its one-line description and how to build its generator."""

    name: str
    doc: str
    build: Callable[[int, int, int, int], Workload]  # (seed, cpus, ops, pages)


WORKLOADS: dict[str, WorkloadSpec] = {
    w.name: w
    for w in (
        WorkloadSpec(
            "pcp-churn",
            "order-0 alloc/free on every CPU, mostly pcp hits (hot and cold)",
            lambda seed, cpus, ops, pages: pcp_churn(seed, cpus, ops),
        ),
        WorkloadSpec(
            "mixed",
            "orders 0-10, every gfp class, ~85% of the zone in use: fallback, steal",
            lambda seed, cpus, ops, pages: mixed(seed, cpus, ops, pages),
        ),
        WorkloadSpec(
            "fragment",
            "small mixed-type allocations, every other one freed, then high-order bursts",
            lambda seed, cpus, ops, pages: fragment(seed, cpus, ops, pages),
        ),
        WorkloadSpec(
            "cma",
            "MOVABLE-heavy mixed load at ~90% use, so MOVABLE requests reach the CMA lists",
            lambda seed, cpus, ops, pages: mixed(seed, cpus, ops, pages, 0.9, CMA_CLASSES),
        ),
        WorkloadSpec(
            "reserve-exhaustion",
            "allocate until the zone is empty (RESERVE retry, failures), free all, repeat",
            lambda seed, cpus, ops, pages: reserve_exhaustion(seed, cpus, ops),
        ),
        WorkloadSpec(
            "random",
            "uniformly random alloc/free/drain of any order and gfp class",
            lambda seed, cpus, ops, pages: random_ops(seed, cpus, ops),
        ),
    )
}


def drive(
    allocator: Allocator,
    workload: Workload,
    on_step: Callable[[Op, Transition], object] | None = None,
) -> int:
    """Run ``workload`` on ``allocator``; returns the number of operations performed.

    ``on_step(op, transition)`` is called after each operation (progress bars, checkers).
    """
    alloc = allocator.alloc
    free = allocator.free
    drain = allocator.drain
    send = workload.send
    n = 0
    result: int | None = None
    try:
        op = next(workload)
        while True:
            kind = op[0]
            if kind == "alloc":
                rec = alloc(op[1], op[2], op[3])
                result = rec.pfn
            elif kind == "free":
                rec = free(op[1], op[2], op[3], op[4])
                result = None
            else:
                rec = drain(op[1])
                result = None
            n += 1
            if on_step is not None:
                on_step(op, rec)
            op = send(result)
    except StopIteration:
        pass
    return n
