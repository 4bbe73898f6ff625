"""The allocation side, run symbolically: ``__rmqueue()`` and its four ways to find a block.

Each function mirrors the model function of the same name in :mod:`rmqueue.model.rmqueue` /
:mod:`rmqueue.model.fallback` on a :class:`~rmqueue.proofs.state.Step`.  Every decision the
model takes through a dual kernel of :mod:`rmqueue.model.buddy` (``can_steal_fallback``,
``claims_pageblock``, ``pageblock_start``, ``block_end``) is that very kernel run on Z3 words.
What the model decides by walking lists becomes a guard on the lengths: "the head of list L"
is any member of L (list order is not observable by the invariants), "the first non-empty
order" is an order whose smaller lists are empty.  Scans over orders are unrolled to
``max_order``; ``expand()`` itself is a loop invariant (:mod:`rmqueue.proofs.loops`).
"""

from __future__ import annotations

from rmqueue.model.buddy import block_end, can_steal_fallback, claims_pageblock, pageblock_start
from rmqueue.model.types import (
    FALLBACKS,
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RESERVE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
)

from ._z3 import BV, OPS, Bool, word
from .state import Step, SymState

o_ = OPS


def len_at(s: SymState, k: int, t: BV) -> BV:
    """``free_area[k].free_list[t]``'s length for a symbolic type ``t``."""
    v = o_.val(0)
    for tt in range(MIGRATE_TYPES):
        v = o_.ite(o_.eq(t, o_.val(tt)), s.free_len(k, tt), v)
    return v


def in_zone(s: SymState, p: BV) -> Bool:
    """``zone_spans_pfn()``."""
    return o_.and_(o_.ule(s.start, p), o_.ult(p, s.end))


def list_empty_from(s: SymState, order: BV, t: BV, upto: BV | None = None) -> Bool:
    """Every ``free_list[t]`` of order in ``[order, upto)`` (``upto`` = max_order) is empty."""
    clauses = []
    for k in range(s.max_order):
        kk = o_.val(k)
        inside = o_.ule(order, kk) if upto is None else o_.and_(o_.ule(order, kk),
                                                                o_.ult(kk, upto))
        clauses.append(o_.or_(o_.not_(inside), o_.eq(len_at(s, k, t), o_.val(0))))
    return o_.and_(*clauses)


def fallback_types(mt: BV) -> tuple[BV, BV]:
    """``fallbacks[mt]`` (first and second choice) for a pcp type ``mt``, read from the
    model's own table."""
    first, second = o_.val(FALLBACKS[0][0]), o_.val(FALLBACKS[0][1])
    for t in range(1, MIGRATE_PCPTYPES):
        first = o_.ite(o_.eq(mt, o_.val(t)), o_.val(FALLBACKS[t][0]), first)
        second = o_.ite(o_.eq(mt, o_.val(t)), o_.val(FALLBACKS[t][1]), second)
    return first, second


def no_fallback_at(s: SymState, k: int, mt: BV) -> Bool:
    """``find_suitable_fallback()`` finds nothing at order ``k``."""
    f1, f2 = fallback_types(mt)
    return o_.or_(
        o_.eq(s.nr_free(k), o_.val(0)),
        o_.and_(o_.eq(len_at(s, k, f1), o_.val(0)), o_.eq(len_at(s, k, f2), o_.val(0))),
    )


def take_block(st: Step, tag: str, order: BV, o: BV, list_mt: BV) -> BV:
    """A block ``h`` of order ``o`` at the head of ``free_area[o].free_list[list_mt]``."""
    s = st.s
    h = st.pfn(f"{tag}page")
    st.assume(
        o_.ule(order, o),
        o_.ult(o, o_.val(s.max_order)),
        s.on_free(h),
        o_.eq(s.free_order(h), o),
        o_.eq(s.free_mt(h), list_mt),
    )
    st.touch(h)
    return h


def rmqueue_smallest(st: Step, tag: str, order: BV, mt: BV, bug: str | None) -> tuple[BV, BV]:
    """Mirror of ``__rmqueue_smallest()`` up to ``expand()``, when it succeeds: the head of
    the smallest non-empty ``mt`` list of order >= ``order`` leaves its list."""
    o = word(f"{tag}current_order")
    st.assume(list_empty_from(st.s, order, mt, o))
    h = take_block(st, tag, order, o, mt)
    st.free_del(h, o_.bool_(True), clear_buddy=bug != "reserve_keeps_buddy")
    st.nr_free_add(o, -1, o_.bool_(True))
    return h, o


def steal_suitable_fallback(st: Step, tag: str, h: BV, o: BV, mt: BV, fmt: BV,
                            bug: str | None) -> None:
    """Mirror of ``steal_suitable_fallback()`` (with ``move_freepages_block()`` and
    ``change_pageblock_range()``), run when ``can_steal_fallback()`` said yes.

    ``move_freepages`` moves every free block of the pageblock: its effect on the per-page
    maps is a range update; its effect on the lengths is carried by ghost counts
    ``moved[k][t]`` (blocks of order k moved off type t's list), bounded by the lengths.  Those
    counts are the record's ``free_del``/``free_add`` pairs.  The pageblock holds no CMA or
    ISOLATE block (its free block ``h`` is on a pcp-type list, see ``cma_lists_match_
    pageblocks``) and no block of pageblock order or more (``h`` is smaller and inside it).
    """
    s = st.s
    pbo = s.geo.pageblock_order
    nr = o_.val(1) << o_.val(pbo)
    set_mt = o_.ite(s.mobility_disabled, o_.val(MIGRATE_UNMOVABLE), mt)
    can = can_steal_fallback(o_, o, mt, o_.val(pbo), s.mobility_disabled)
    whole = o_.and_(can, o_.ule(o_.val(pbo), o))
    # change_pageblock_range(): every pageblock of [h, h + 2^o).
    h_end = block_end(o_, h, o)
    new_pbmt = s.a_block_mt.update(
        lambda x: o_.and_(whole, o_.ule(h, x), o_.ult(x, h_end)), lambda x: set_mt)
    # move_freepages_block()
    first = pageblock_start(o_, h, o_.val(pbo))
    last = first + nr - o_.val(1)
    scan_from = o_.ite(in_zone(s, first), first, h)
    moving = o_.and_(can, o_.ult(o, o_.val(pbo)), in_zone(s, last))
    st.notes["moving"] = o_.ite(moving, o_.val(1), o_.val(0))
    new_free_mt = s.a_free_mt.update(
        lambda y: o_.and_(moving, s.on_free(y), o_.ule(scan_from, y), o_.ule(y, last)),
        lambda y: mt)
    moved = [[word(f"{tag}moved[{k}][{t}]") for t in range(MIGRATE_TYPES)]
             for k in range(s.max_order)]
    total = o_.val(0)
    lens = []
    for k in range(s.max_order):
        row = []
        for t in range(MIGRATE_TYPES):
            m = moved[k][t]
            if t in (MIGRATE_CMA, MIGRATE_ISOLATE) or k >= pbo:
                st.assume(o_.eq(m, o_.val(0)))
            st.assume(o_.ule(m, s.free_len(k, t)))
            total = total + (m << o_.val(k))
        st.assume(o_.or_(o_.not_(moving), o_.not_(o_.eq(o, o_.val(k))),
                         o_.ule(o_.val(1), len_at_list(moved[k], fmt))))
        into = o_.val(0)
        for t in range(MIGRATE_TYPES):
            into = into + moved[k][t]
        for t in range(MIGRATE_TYPES):
            is_dst = o_.eq(mt, o_.val(t))
            new_len = o_.ite(is_dst, s.free_len(k, t) - moved[k][t] + into,
                             s.free_len(k, t) - moved[k][t])
            row.append(o_.ite(moving, new_len, s.free_len(k, t)))
        lens.append(tuple(row))
    if bug == "steal_counts_moved":
        st.counter_add(0, total, moving)  # NR_FREE_PAGES += pages moved
    claim = o_.and_(moving, claims_pageblock(o_, total, o_.val(pbo), s.mobility_disabled))
    new_pbmt = new_pbmt.store(first, set_mt, claim)
    st.set(a_block_mt=new_pbmt, a_free_mt=new_free_mt, c_free_len=tuple(lens))
    st.touch(first)


def len_at_list(row: list[BV], t: BV) -> BV:
    v = o_.val(0)
    for tt, x in enumerate(row):
        v = o_.ite(o_.eq(t, o_.val(tt)), x, v)
    return v


def rmqueue_fallback(st: Step, tag: str, order: BV, mt: BV,
                     bug: str | None) -> tuple[BV, BV]:
    """Mirror of ``__rmqueue_fallback()`` up to ``expand()``, when it succeeds at
    ``current_order``: nothing suitable above it, the first non-empty fallback type at it;
    steal when ``can_steal_fallback()`` says so, then take the block off its list."""
    s = st.s
    o = word(f"{tag}current_order")
    for k in range(s.max_order):
        st.assume(o_.or_(o_.not_(o_.ult(o, o_.val(k))), no_fallback_at(s, k, mt)))
    f1, f2 = fallback_types(mt)
    fmt = f2
    for k in range(s.max_order):
        fmt = o_.ite(o_.eq(o, o_.val(k)),
                     o_.ite(o_.eq(len_at(s, k, f1), o_.val(0)), f2, f1), fmt)
    st.assume(o_.not_(o_.eq(s.nr_free_at(o), o_.val(0))))
    h = take_block(st, tag, order, o, fmt)
    steal_suitable_fallback(st, tag, h, o, mt, fmt, bug)
    st.nr_free_add(o, -1, o_.bool_(True))
    st.free_del(h, o_.bool_(True))
    return h, o


CASES = ("smallest", "cma", "fallback", "reserve")


def rmqueue_take(st: Step, tag: str, order: BV, mt: BV, case: str,
                 bug: str | None) -> tuple[BV, BV, BV]:
    """Mirror of ``__rmqueue()`` (v4.3, with the RESERVE retry) up to ``expand()``, along
    path ``case``: ``smallest`` (own lists), ``cma`` (MOVABLE only), ``fallback``,
    ``reserve`` (all else failed).  The guards say that every earlier path found nothing.
    Returns the block ``(page, current_order)`` and the type it is split and cached as.
    ``bug == "cma_expands_to_movable"`` splits a CMA block onto the MOVABLE lists."""
    s = st.s
    if case == "smallest":
        return (*rmqueue_smallest(st, tag, order, mt, bug), mt)
    st.assume(list_empty_from(s, order, mt))
    is_movable = o_.eq(mt, o_.val(MIGRATE_MOVABLE))
    if case == "cma":
        st.assume(is_movable)
        as_mt = o_.val(MIGRATE_MOVABLE if bug == "cma_expands_to_movable" else MIGRATE_CMA)
        return (*rmqueue_smallest(st, tag, order, o_.val(MIGRATE_CMA), bug), as_mt)
    st.assume(o_.or_(o_.not_(is_movable), list_empty_from(s, order, o_.val(MIGRATE_CMA))))
    if case == "fallback":
        return (*rmqueue_fallback(st, tag, order, mt, bug), mt)
    for k in range(s.max_order):
        st.assume(o_.or_(o_.ult(o_.val(k), order), no_fallback_at(s, k, mt)))
    reserve = o_.val(MIGRATE_RESERVE)
    return (*rmqueue_smallest(st, tag, order, reserve, bug), reserve)


__all__ = ["CASES", "in_zone", "rmqueue_take"]
