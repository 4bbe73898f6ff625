"""The proofs' symbolic transitions agree with the executable model on concrete states
(issue 4, item 3): random model states, each operation's phases run by Z3 from the model's
pre-state with the model's choices, the post-state compared with the model's by Z3
(:mod:`rmqueue.proofs.agreement`); and a planted disagreement makes the check fail."""

from __future__ import annotations

import random
from collections import Counter
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rmqueue.model.fallback as m_fallback
import rmqueue.model.rmqueue as m_rmqueue
from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.proofs.agreement import Disagreement, agree, plan
from rmqueue.proofs.concrete import differences, from_zone
from rmqueue.proofs.replay import _expand_keeps_upper, planted
from rmqueue.proofs.state import SMALL, Geometry
from rmqueue.proofs.transitions import PHASES

# 32 pages at MAX_ORDER 4 / pageblock_order 2: a RESERVE pageblock, a CMA max-order block,
# pcp trims at 4 pages (batch 2), so every path of the allocator is reachable.
CONFIG = ZoneConfig(start_pfn=32, pages=32, max_order=4, pageblock_order=2, cpus=1,
                    pcp_high=4, pcp_batch=2, mobility_grouping=True, reserve_pageblocks=1,
                    cma_pageblocks=(6, 7))
# the same zone with mobility grouping off (every request UNMOVABLE, every steal claims)
UNGROUPED = ZoneConfig(start_pfn=32, pages=32, max_order=4, pageblock_order=2, cpus=1,
                       pcp_high=4, pcp_batch=2, mobility_grouping=False,
                       reserve_pageblocks=1, cma_pageblocks=(6, 7))
# Linux's MAX_ORDER 11 / pageblock_order 9: 32 pages across a pageblock boundary
LINUX_ZONE = ZoneConfig(start_pfn=496, pages=32, max_order=11, pageblock_order=9, cpus=1,
                        pcp_high=4, pcp_batch=2, mobility_grouping=True, reserve_pageblocks=1)
GFP = (("GFP_KERNEL",), ("GFP_TEMPORARY",), ("GFP_HIGHUSER_MOVABLE",),
       ("GFP_KERNEL", "__GFP_COLD"))

# (kind, a, b): alloc of order a with GFP[b]; free of the a-th held block (cold if b); drain
Op = tuple[str, int, int]
OPS = st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 3), st.integers(0, len(GFP) - 1)),
    st.tuples(st.just("free"), st.integers(0, 63), st.integers(0, 1)),
    st.tuples(st.just("drain"), st.just(0), st.just(0)),
)


def _step(a: Allocator, held: list[tuple[int, int]], op: Op) -> Transition | None:
    kind, x, y = op
    if kind == "alloc":
        rec = a.alloc(0, x, GFP[y])
        if rec.pfn is not None:
            held.append((rec.pfn, x))
        return rec
    if kind == "free":
        if not held:
            return None
        pfn, order = held.pop(x % len(held))
        return a.free(0, pfn, order, cold=bool(y))
    return a.drain(0)


def _check(a: Allocator, held: list[tuple[int, int]], op: Op,
           geo: Geometry) -> list[str] | None:
    before = from_zone(a.zone, geo)
    rec = _step(a, held, op)
    if rec is None:
        return None
    return agree(geo, before, rec, from_zone(a.zone, geo))


def _run(ops: list[Op], config: ZoneConfig = CONFIG) -> Counter[str]:
    a = Allocator(config)
    geo = Geometry(config.max_order, config.pageblock_order)
    held: list[tuple[int, int]] = []
    seen: Counter[str] = Counter()
    for op in ops:
        seen.update(_check(a, held, op, geo) or [])
    return seen


@settings(max_examples=6)
@given(st.lists(OPS, min_size=1, max_size=8))
def test_random_operations_agree(ops: list[Op]) -> None:
    _run(ops)


@settings(max_examples=3)
@given(st.lists(OPS, min_size=1, max_size=8))
def test_random_operations_agree_without_mobility_grouping(ops: list[Op]) -> None:
    _run(ops, UNGROUPED)


@settings(max_examples=3)
@given(st.lists(OPS, min_size=1, max_size=8))
def test_random_operations_agree_linux_geometry(ops: list[Op]) -> None:
    _run(ops, LINUX_ZONE)


@pytest.mark.slow
@settings(max_examples=60)
@given(st.lists(OPS, min_size=1, max_size=30), st.booleans())
def test_random_operations_agree_long(ops: list[Op], grouped: bool) -> None:
    _run(ops, CONFIG if grouped else UNGROUPED)


def _seeded(seed: int, n: int) -> list[Op]:
    rng = random.Random(seed)
    out: list[Op] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            out.append(("free", rng.randrange(64), rng.randrange(2)))
        elif r < 0.45:
            out.append(("drain", 0, 0))
        else:
            out.append(("alloc", rng.randrange(4), rng.randrange(len(GFP))))
    return out


def test_every_phase_is_covered() -> None:
    """A seeded run of the model in which every phase of the proofs runs at least once,
    each in agreement with the model: pcp hit, refill along all four ``__rmqueue`` paths,
    ``expand``, fallback with stealing, CMA, RESERVE, frees with merging, pcp frees with a
    trim, drains."""
    scripted: list[Op] = ([("alloc", 0, 0)] + [("alloc", 0, 2)] * 4 + [("free", 0, 0)] * 4
                          + [("drain", 0, 0)])
    seen = _run(scripted + _seeded(1, 15))
    assert set(PHASES) <= set(seen), sorted(set(PHASES) - set(seen))


def test_planted_expand_keeps_lower_half_disagrees() -> None:
    """A planted disagreement: the model's ``expand()`` puts the lower half on the free list
    and keeps the upper one.  The first split must make the check fail."""
    a = Allocator(CONFIG)
    before = from_zone(a.zone, SMALL)
    with mock.patch.object(m_rmqueue, "expand", _expand_keeps_upper), \
            mock.patch.object(m_fallback, "expand", _expand_keeps_upper):
        rec = a.alloc(0, 1, GFP[2])
    assert rec.free_add, "the allocation split no block"
    with pytest.raises(Disagreement) as exc:
        agree(SMALL, before, rec, from_zone(a.zone, SMALL))
    # the phases admit the model's choices, but end elsewhere than the model: the halves
    assert exc.value.phase == "finish_alloc"
    assert "differs from the model's" in exc.value.what
    assert any("on_free" in d for d in exc.value.details), exc.value.details


def test_planted_pcp_count_disagrees() -> None:
    """A second planted disagreement, on the pcp side: a hit that leaves ``pcp.count``."""
    a = Allocator(CONFIG)
    a.alloc(0, 0, GFP[2])
    before = from_zone(a.zone, SMALL)
    with planted("pcp_hit_forgets_count"):
        rec = a.alloc(0, 0, GFP[2])
    assert [r.phase for r in plan(rec, SMALL) or []] == ["pcp_hit"]
    with pytest.raises(Disagreement) as exc:
        agree(SMALL, before, rec, from_zone(a.zone, SMALL))
    assert exc.value.phase == "pcp_hit"
    assert any("pcp[0].count" in d for d in exc.value.details), exc.value.details


def test_unchanged_state_has_no_differences() -> None:
    """The comparison itself: a state equals itself, and one changed counter is found."""
    a = Allocator(CONFIG)
    s = from_zone(a.zone, SMALL)
    assert differences(s, s) == []
    t = from_zone(a.zone, SMALL)
    t.counters[0] += 1
    d = differences(s, t)
    assert len(d) == 1 and d[0].startswith("vm_stat[0]: "), d
