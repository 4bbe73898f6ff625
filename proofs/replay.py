"""Planted bugs replayed in the executable model: the violation, for real.

Each bug of :data:`rmqueue.proofs.transitions.BUGS` has a twin here that patches the model
(``unittest.mock.patch`` on the module attribute the caller looks up).  :func:`sensitivity`
first moves the Z3 counterexample's pre-state into the model and runs its operation there
(:func:`rmqueue.proofs.concretize.transfer`); only if that shows nothing does it fall back to
:func:`replay`, which takes the counterexample's operation parameters (order, migratetype)
and drives a small booted zone with them, the bug patched in, until the specs' whole-state
check (:meth:`rmqueue.specs.check.StepChecker.full_check`) raises; it returns the failing
invariant and a replayable program.  The patched functions are copies of the model's own
code with the one planted change, never kernel code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import rmqueue.model.drain as m_drain
import rmqueue.model.fallback as m_fallback
import rmqueue.model.free as m_free
import rmqueue.model.rmqueue as m_rmqueue
from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import RmqueueError
from rmqueue.model.record import Transition
from rmqueue.model.types import MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_RESERVE, MIGRATE_TYPES
from rmqueue.model.vmstat import NR_FREE_PAGES
from rmqueue.model.zone import Zone
from rmqueue.specs.check import StepChecker
from rmqueue.specs.errors import InvariantViolation

from .concretize import Transfer, transfer

GFP_FOR_MT = {0: ("GFP_KERNEL",), 1: ("GFP_TEMPORARY",), 2: ("GFP_HIGHUSER_MOVABLE",)}

# A zone small enough to search, with every path of the allocator present: RESERVE and
# CMA pageblocks, pcp trims (high 4, batch 2), several pageblocks per max-order block.
REPLAY_CONFIG = ZoneConfig(
    start_pfn=64, pages=64, max_order=4, pageblock_order=2, cpus=1, pcp_high=4,
    pcp_batch=2, mobility_grouping=True, reserve_pageblocks=1, cma_pageblocks=(14, 15),
)


def _expand_keeps_upper(zone: Zone, rec: Transition, pfn: int, low: int, high: int,
                        mt: int) -> None:
    start = zone.zone_start_pfn
    size = 1 << high
    cur = pfn
    while high > low:
        high -= 1
        size >>= 1
        zone.list_add(cur - start, high * MIGRATE_TYPES + mt)
        zone.free_area[high].nr_free += 1
        zone.buddy_order[cur - start] = high
        rec.free_add.append((cur, high, mt))
        cur += size


def _merge_wrong_buddy(zone: Zone, rec: Transition, pfn: int, order: int, mt: int) -> None:
    m_free.mod_zone_freepage_state(zone, rec, 1 << order, mt)
    start, end = zone.zone_start_pfn, zone.zone_start_pfn + zone.spanned_pages
    while order < zone.max_order - 1:
        buddy = pfn ^ (2 << order)  # the planted bug
        if not (start <= buddy < end and zone.buddy_order[buddy - start] == order):
            break
        bidx = buddy - start
        rec.free_del.append((buddy, order, zone.list_of[bidx] % MIGRATE_TYPES))
        zone.list_del(bidx)
        zone.free_area[order].nr_free -= 1
        zone.buddy_order[bidx] = -1
        pfn &= buddy
        order += 1
    zone.buddy_order[pfn - start] = order
    zone.list_add(pfn - start, order * MIGRATE_TYPES + mt)
    zone.free_area[order].nr_free += 1
    rec.free_add.append((pfn, order, mt))


@contextmanager
def planted(bug: str) -> Iterator[None]:
    """The model with ``bug`` planted."""
    with ExitStack() as stack:

        def patch(module: Any, name: str, new: Callable[..., Any]) -> None:
            stack.enter_context(mock.patch.object(module, name, new))

        if bug == "pcp_hit_forgets_count":
            orig_b = m_rmqueue.buffered_rmqueue

            def hit(zone: Zone, rec: Transition, cpu: int, order: int, gfp: int,
                    mt: int) -> int | None:
                page = orig_b(zone, rec, cpu, order, gfp, mt)
                if page is not None and order == 0:
                    zone.pageset[cpu].count += 1
                return page

            import rmqueue.model.allocator as m_alloc

            patch(m_alloc, "buffered_rmqueue", hit)
        elif bug == "refill_forgets_nr_free":
            orig_bulk = m_rmqueue.rmqueue_bulk

            def bulk(zone: Zone, rec: Transition, order: int, *a: Any) -> int:
                got = orig_bulk(zone, rec, order, *a)
                zone.vm_stat[NR_FREE_PAGES] += got << order
                return got

            patch(m_rmqueue, "rmqueue_bulk", bulk)
        elif bug == "expand_keeps_upper":
            patch(m_rmqueue, "expand", _expand_keeps_upper)
            patch(m_fallback, "expand", _expand_keeps_upper)
        elif bug == "steal_counts_moved":
            orig_move = m_fallback.move_freepages

            def move(zone: Zone, rec: Transition, *a: Any) -> int:
                moved = orig_move(zone, rec, *a)
                zone.vm_stat[NR_FREE_PAGES] += moved
                return moved

            patch(m_fallback, "move_freepages", move)
        elif bug == "cma_expands_to_movable":
            orig_exp = vars(m_rmqueue)["expand"]

            def cma(zone: Zone, rec: Transition, order: int) -> int | None:
                def exp(z: Zone, r: Transition, pfn: int, lo: int, hi: int, mt: int) -> None:
                    orig_exp(z, r, pfn, lo, hi, MIGRATE_MOVABLE)

                with mock.patch.object(m_rmqueue, "expand", exp):
                    page = m_rmqueue.rmqueue_smallest(zone, rec, order, MIGRATE_CMA)
                if page is not None:
                    zone.cached_mt[page - zone.zone_start_pfn] = MIGRATE_MOVABLE
                return page

            patch(m_rmqueue, "rmqueue_cma_fallback", cma)
        elif bug == "reserve_keeps_buddy":
            orig_small = m_rmqueue.rmqueue_smallest

            def small(zone: Zone, rec: Transition, order: int, mt: int) -> int | None:
                page = orig_small(zone, rec, order, mt)
                if page is not None and mt == MIGRATE_RESERVE:
                    taken = next(o for p, o, _ in reversed(rec.free_del) if p == page)
                    zone.buddy_order[page - zone.zone_start_pfn] = taken
                return page

            patch(m_rmqueue, "rmqueue_smallest", small)
        elif bug == "pcp_free_forgets_count":
            orig_free = m_free.free_hot_cold_page

            def free(zone: Zone, rec: Transition, cpu: int, pfn: int, cold: bool) -> None:
                orig_free(zone, rec, cpu, pfn, cold)
                if any(e[2] == pfn for e in rec.pcp_add):
                    zone.pageset[cpu].count -= 1

            import rmqueue.model.allocator as m_alloc2

            patch(m_alloc2, "free_hot_cold_page", free)
        elif bug == "trim_frees_extra":
            orig_fb = m_free.free_pcppages_bulk

            def trim(zone: Zone, rec: Transition, count: int, pcp: Any) -> None:
                orig_fb(zone, rec, min(count + 1, pcp.count), pcp)

            patch(m_free, "free_pcppages_bulk", trim)
        elif bug == "merge_wrong_buddy":
            patch(m_free, "free_one_page_locked", _merge_wrong_buddy)
        elif bug == "drain_frees_one_less":
            orig_db = vars(m_drain)["free_pcppages_bulk"]

            def drain(zone: Zone, rec: Transition, count: int, pcp: Any) -> None:
                if count > 1:
                    orig_db(zone, rec, count - 1, pcp)

            patch(m_drain, "free_pcppages_bulk", drain)
        else:
            raise ValueError(f"unknown planted bug {bug!r}")
        yield


@dataclass(frozen=True, slots=True)
class Replay:
    """A real violation: the program that shows it, and what the checker said."""

    bug: str
    invariant: str
    message: str
    program: list[str]
    seed: int


def _ops(rng: random.Random, held: list[tuple[int, int]], order: int, mt: int,
         op: str) -> tuple[str, tuple[Any, ...]]:
    """One operation, biased towards the counterexample's kind and parameters."""
    roll = rng.random()
    if op == "drain" and roll < 0.3:
        return "drain", (0,)
    if op == "free" and held and roll < 0.5:
        pfn, o = held[rng.randrange(len(held))]
        return "free", (0, pfn, o)
    if roll < 0.55:
        return "alloc", (0, order, GFP_FOR_MT[mt])
    if held and roll < 0.8:
        pfn, o = held[rng.randrange(len(held))]
        return "free", (0, pfn, o)
    return "alloc", (0, rng.randrange(REPLAY_CONFIG.max_order), GFP_FOR_MT[rng.randrange(3)])


def replay(bug: str, order: int, mt: int, op: str, seeds: int = 200,
           length: int = 40) -> Replay | None:
    """Drive the model with ``bug`` planted, from boot, with operations like the
    counterexample's (``op`` ``alloc``/``free``/``drain``, its ``order`` and pcp type ``mt``),
    until the whole-state check fails; ``None`` if no seed shows it."""
    order = min(order, REPLAY_CONFIG.max_order - 1)
    mt = mt if mt in GFP_FOR_MT else 0
    with planted(bug):
        for seed in range(seeds):
            rng = random.Random(seed)
            a = Allocator(REPLAY_CONFIG)
            checker = StepChecker(a)
            program = [f"a = Allocator({REPLAY_CONFIG!r})"]
            held: list[tuple[int, int]] = []
            for _ in range(length):
                kind, args = _ops(rng, held, order, mt, op)
                program.append(f"a.{kind}{args!r}")
                try:
                    rec = getattr(a, kind)(*args)
                    if kind == "alloc" and rec.pfn is not None:
                        held.append((rec.pfn, args[1]))
                    elif kind == "free":
                        held.remove((args[1], args[2]))
                    checker.check(rec)
                    checker.full_check()
                except InvariantViolation as exc:
                    return Replay(bug, exc.invariant, str(exc), program, seed)
                except RmqueueError:
                    break  # the bug wrecked the lists past what the model can run
    return None


# Where each transition's planted bug shows in the proof (phase, invariant) and which
# model operation replays it.
BUG_SITES: dict[str, tuple[str, str, str]] = {
    "pcp_hit": ("pcp_hit", "pcp_count_matches", "alloc"),
    "pcp_refill": ("refill_exit", "free_pages_conserved", "alloc"),
    "rmqueue_smallest": ("expand_step", "step_conditions", "alloc"),
    "rmqueue_fallback": ("take_fallback", "free_pages_conserved", "alloc"),
    "rmqueue_cma_fallback": ("take_cma", "free_cma_pages_conserved", "alloc"),
    "rmqueue_reserve": ("take_reserve", "buddy_flag_on_free_heads", "alloc"),
    "free_hot_cold_page": ("free_push", "pcp_count_matches", "free"),
    "free_pcppages_bulk": ("trim_exit", "pcp_count_matches", "free"),
    "free_pages_ok": ("merge_step", "block_aligned", "free"),
    "drain_pages_zone": ("drain_exit", "pcp_count_matches", "drain"),
}


ROUTE_STATE = "from the counterexample state"
ROUTE_SEARCH = "by search"


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """A planted bug: did the proof fail (and how), and did the model show it for real:
    ``route`` says how (:data:`ROUTE_STATE`: the counterexample's pre-state transferred to
    the model, :mod:`rmqueue.proofs.concretize`; :data:`ROUTE_SEARCH`: the seeded search of
    :func:`replay`, the fallback), ``invariant`` what the specs' checker reported."""

    transition: str
    bug: str
    proof: str
    counterexample: str
    replay: Replay | None
    route: str = ""
    invariant: str | None = None
    transfer: Transfer | None = None

    @property
    def ok(self) -> bool:
        return self.proof == "counterexample" and self.invariant is not None


def sensitivity(transition: str, max_order: int = 4, pageblock_order: int = 2,
                budget_s: float = 60.0, cap: int | None = None,
                search: bool = True) -> Sensitivity:
    """Plant ``transition``'s bug, prove the phase it breaks (expect a counterexample), move
    the counterexample's pre-state into a model zone of at most ``cap`` pages (default
    ``2^max_order``: two max-order blocks) and run its operation with the same bug
    (:func:`rmqueue.proofs.concretize.transfer`); if that shows nothing, fall back to the
    seeded search with the counterexample's operation parameters (``search``)."""
    from .state import Geometry
    from .transitions import BUGS

    bug = BUGS[transition][0]
    cap = (1 << max_order) if cap is None else cap
    tr = transfer(transition, Geometry(max_order, pageblock_order), cap, budget_s)
    if tr.proof != "counterexample":
        return Sensitivity(transition, bug, tr.proof, tr.detail, None, transfer=tr)
    if tr.violation is not None:
        return Sensitivity(transition, bug, tr.proof, tr.detail, None, ROUTE_STATE,
                           tr.violation, tr)
    if not search:
        return Sensitivity(transition, bug, tr.proof, tr.detail, None, transfer=tr)
    op = BUG_SITES[transition][2]
    order = int(tr.witness.get("order", tr.witness.get("low", 0)))
    mt = int(tr.witness.get("migratetype", tr.witness.get("request", 0)))
    rep = replay(bug, order, mt, op)
    return Sensitivity(transition, bug, tr.proof, tr.detail, rep,
                       ROUTE_SEARCH if rep else "", rep.invariant if rep else None, tr)


__all__ = ["BUG_SITES", "REPLAY_CONFIG", "ROUTE_SEARCH", "ROUTE_STATE", "Replay", "Sensitivity",
           "planted", "replay", "sensitivity"]
