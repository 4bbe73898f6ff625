"""Pageblock types in the per-step checker: ``retype_keeps_cma_isolate`` on every retyped
pageblock (fast and z3 backends), the shadow of the pageblock types, and the model's own
retypes passing.

A retype changes ``block_mt`` at every pfn of the pageblock; the checker instantiates no
pageblock invariant there but judges the retype itself, so each planted bad retype must be
named by the predicate, with the pageblock and its first pfn.
"""

from __future__ import annotations

from typing import Any

import pytest
from specs_helpers import workload

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.model.types import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
)
from rmqueue.specs import InvariantViolation
from rmqueue.specs._retype import RetypeShadow
from rmqueue.specs._shapes import shape_of
from rmqueue.specs.check import StepChecker

# 8 pageblocks of 512 pages: RESERVE, MOVABLE x3, CMA x2 (one max-order block), MOVABLE x2
CFG = ZoneConfig.kernel_default(4096, cma_pageblocks=[4, 5], reserve_pageblocks=1,
                                pcp={"high": 12, "batch": 3}, mobility_grouping=True)
M, U, R, C, ISO = MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_CMA, \
    MIGRATE_ISOLATE


def counting(a: Allocator) -> list[Transition]:
    """Record every alloc's record that retypes a pageblock."""
    seen: list[Transition] = []
    alloc = a.alloc

    def wrapped(*args: Any, **kw: Any) -> Transition:
        rec = alloc(*args, **kw)
        if rec.retyped:
            seen.append(rec)
        return rec

    a.alloc = wrapped  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("backend", ["fast", "z3"])
def test_model_retypes_pass(backend: str) -> None:
    """Fallback steals retype pageblocks; every such step passes, and so does the full check
    (the shadow of the pageblock types followed every retype)."""
    a = Allocator(CFG)
    seen = counting(a)
    chk = StepChecker(a, backend=backend)
    workload(a, chk, 600, 8, pressure=True)
    chk.full_check()
    assert len(seen) >= 3
    assert list(a.zone.pageblock_mt) != list(Allocator(CFG).zone.pageblock_mt)
    assert chk._retype.types == a.zone.pageblock_mt


# case: (pageblock, type set in the state, the record's (index, old, new) entries)
BAD: dict[str, tuple[int | None, int | None, Any]] = {
    "cma_to_movable": (4, M, (4, C, M)),
    "movable_to_cma": (2, C, (2, M, C)),
    "to_isolate": (2, ISO, (2, M, ISO)),
    "old_not_the_type_before": (2, U, (2, R, U)),
    "new_not_the_type_after": (2, U, (2, M, R)),
    "outside_the_zone": (None, None, (8, M, U)),
    "broken_chain": (2, R, [(2, M, U), (2, M, R)]),
}


@pytest.mark.parametrize("shaped", [True, False], ids=["pcp_hit", "general"])
@pytest.mark.parametrize("backend", ["fast", "z3"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_retype_is_named(case: str, backend: str, shaped: bool) -> None:
    """The record retypes a pageblock badly; the step is a pcp hit (whose shape check a
    retyping record must not take) or a general one."""
    a = Allocator(CFG)
    chk = StepChecker(a, backend=backend, batch=1)
    if shaped:
        chk.check(a.alloc(0, 0, ["GFP_HIGHUSER_MOVABLE"]))  # refills the pcp list
        rec = a.alloc(0, 0, ["GFP_HIGHUSER_MOVABLE"])
        assert shape_of(rec, len(a.zone.pageset)) is not None
    else:
        rec = a.alloc(0, 3, ["GFP_HIGHUSER_MOVABLE"])
    index, state_type, entries = BAD[case]
    if index is not None:
        a.zone.pageblock_mt[index] = state_type
    rec.retyped.extend(entries if isinstance(entries, list) else [entries])
    with pytest.raises(InvariantViolation) as exc:
        chk.check(rec)
        chk.flush()
    err = exc.value
    assert err.invariant == "retype_keeps_cma_isolate", str(err)
    assert err.kernel_ref
    first = rec.retyped[-1][0]
    assert first in err.details["pageblocks"], err.details
    want = CFG.start_pfn + first * 512 if first else CFG.start_pfn
    assert want in err.details["pfns"], err.details


@pytest.mark.parametrize("backend", ["fast", "z3"])
def test_legal_retypes_pass_and_advance_the_shadow(backend: str) -> None:
    a = Allocator(CFG)
    chk = StepChecker(a, backend=backend, batch=1)
    rec = a.alloc(0, 3, ["GFP_HIGHUSER_MOVABLE"])
    a.zone.pageblock_mt[2] = R
    a.zone.pageblock_mt[3] = U
    rec.retyped.extend([(2, M, U), (2, U, R), (3, M, U)])  # a chain, then another block
    chk.check(rec)
    chk.flush()
    chk.full_check()
    assert list(chk._retype.types)[2:4] == [R, U]


@pytest.mark.parametrize("backend", ["fast", "z3"])
def test_unrecorded_retype_is_a_frame_failure(backend: str) -> None:
    """A legal-looking type change the records never named: the steps cannot see it (it is
    off every record), the full check's frame comparison does."""
    a = Allocator(CFG)
    chk = StepChecker(a, backend=backend, batch=1)
    a.zone.pageblock_mt[6] = U
    chk.check(a.alloc(0, 3, ["GFP_HIGHUSER_MOVABLE"]))
    chk.flush()
    with pytest.raises(InvariantViolation) as exc:
        chk.full_check()
    assert exc.value.invariant == "frame"
    assert exc.value.details["pageblocks"] == [6]


def test_retype_instances_coalesce_chains() -> None:
    a = Allocator(CFG)
    shadow = RetypeShadow(a.zone)
    rec = Transition("alloc", 0, 0)
    rec.retyped.extend([(2, M, U), (2, U, R), (0, 3, U)])
    got = shadow.instances(rec)
    assert [(r.index, r.p, r.was, r.old, r.new) for r in got] == [
        (2, 1024, M, M, R), (0, CFG.start_pfn, 3, 3, U)]
    assert list(shadow.types)[:3] == [U, M, R]
    rec = Transition("alloc", 0, 0)
    rec.retyped.extend([(1, M, U), (1, M, R)])  # the second entry's old is not U
    got = shadow.instances(rec)
    assert [(r.was, r.old, r.new) for r in got] == [(M, M, U), (U, M, R)]


PAGEBLOCK_MUTANTS = [
    # (id, module, function, old, new, invariants that may report it)
    ("steal_from_cma", "rmqueue.model.fallback", "find_suitable_fallback",
     "for fallback_mt in FALLBACKS[migratetype]:",
     "for fallback_mt in (*FALLBACKS[migratetype], 4):",
     {"retype_keeps_cma_isolate", "cma_lists_match_pageblocks"}),
    ("steal_isolates", "rmqueue.model.fallback", "set_pageblock_migratetype",
     "    index = zone.pageblock_index(pfn)\n",
     "    mt = 5 if mt == MIGRATE_UNMOVABLE else mt\n    index = zone.pageblock_index(pfn)\n",
     {"retype_keeps_cma_isolate"}),
    ("cma_page_caches_movable", "rmqueue.model.free", "free_hot_cold_page",
     "    zone.cached_mt[idx] = mt\n",
     "    zone.cached_mt[idx] = MIGRATE_MOVABLE if mt == 4 else mt\n",
     {"cma_lists_match_pageblocks"}),
]


@pytest.mark.parametrize("backend", ["fast", "z3"])
@pytest.mark.parametrize("mid,module,func,old,new,names", PAGEBLOCK_MUTANTS,
                         ids=[m[0] for m in PAGEBLOCK_MUTANTS])
def test_step_checker_stops_pageblock_mutant(
    mid: str, module: str, func: str, old: str, new: str, names: set[str], backend: str
) -> None:
    """Model bugs about pageblock types are stopped at the step that makes them."""
    from test_mutants import mutant

    with mutant(module, func, old, new):
        a = Allocator(CFG)
        chk = StepChecker(a, backend=backend, batch=1)
        with pytest.raises(InvariantViolation) as exc:
            workload(a, chk, 1500, 3, pressure=True)
            chk.flush()
            chk.full_check()
    assert exc.value.invariant in names, str(exc.value)
    assert exc.value.step is not None, str(exc.value)
