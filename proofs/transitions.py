"""The transition kinds the proofs cover, each a sequence of inductive *phases*.

A :class:`Phase` is one inductive step: assume the invariants on ``pre`` (a havocked state,
or a view of one) and the guards, prove them on ``post``.  The phases:

* ``pcp_hit``, ``free_push``: one step each (order-0 allocation from a non-empty pcp list,
  order-0 free onto a pcp list).
* ``take_smallest`` / ``take_cma`` / ``take_fallback`` / ``take_reserve``: ``__rmqueue()``
  along each of its paths up to ``expand()``; ``expand_step`` (loop invariant,
  :mod:`rmqueue.proofs.loops`); ``finish_alloc`` (``buffered_rmqueue`` order >= 1) or
  ``finish_refill`` (one page of ``rmqueue_bulk``) and ``refill_exit``.
* ``free_entry`` (``__free_pages_ok``) or ``bulk_entry`` (one page of
  ``free_pcppages_bulk``); ``merge_step`` / ``merge_exit`` (loop invariant); ``trim_exit``
  / ``drain_exit``.

Loops of unbounded length (``rmqueue_bulk`` refills ``batch`` pages, a trim frees ``batch``,
a drain ``count``) are carried by loop invariants: the registry's invariants on a *view* in
which the bookkeeping the kernel does after the loop is already done for the pages handled
so far; the exit phase turns the view into the real state.

Every builder takes ``bug``: ``None`` for the model's behaviour, or the name of a planted bug
(:data:`BUGS`) that the proofs must catch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rmqueue.model.types import MIGRATE_CMA, MIGRATE_PCPTYPES
from rmqueue.model.vmstat import (
    NR_ALLOC_BATCH,
    NR_FREE_CMA_PAGES,
    NR_FREE_PAGES,
    NUMA_HIT,
    NUMA_LOCAL,
    PGALLOC,
)

from ._z3 import BV, OPS, Bool, sle, word
from .alloc import rmqueue_take
from .free import free_hot_cold_page_push, free_pages_ok_entry, free_pcppages_bulk_entry
from .loops import (
    expand_step,
    from_view,
    in_flight,
    in_flight_ok,
    merge_exit,
    merge_step,
    taken_for,
    to_view,
)
from .state import Geometry, Step, SymState, fresh

o_ = OPS


@dataclass(frozen=True, slots=True)
class Phase:
    """One inductive step of a transition (see the module docstring)."""

    name: str
    pre: SymState
    post: SymState
    guards: tuple[Bool, ...]
    touched: tuple[BV, ...]
    side: tuple[tuple[str, Bool], ...]
    terms: tuple[tuple[str, BV], ...]
    splits: tuple[tuple[BV, int], ...] = ()


def _phase(name: str, pre: SymState, st: Step, post: SymState | None = None,
           terms: tuple[tuple[str, BV], ...] = ()) -> Phase:
    return Phase(name, pre, st.s if post is None else post, tuple(st.guards),
                 tuple(st.touched), tuple(st.side), terms)


def account_alloc(st: Step, page: BV, order: BV, buddy_path: bool) -> None:
    """``buffered_rmqueue()``'s bookkeeping after it has a page, then the allocator marks
    the block as the user's."""
    nr = o_.val(1) << order
    if buddy_path:
        st.counter_add(NR_FREE_PAGES, o_.val(0) - nr)
        st.counter_add(NR_FREE_CMA_PAGES, o_.val(0) - nr,
                       o_.eq(st.s.cached_mt(page), o_.val(MIGRATE_CMA)))
    st.counter_add(NR_ALLOC_BATCH, o_.val(0) - nr)
    st.set(c_fair=o_.or_(st.s.c_fair, sle(st.s.counter(NR_ALLOC_BATCH), o_.val(0))))
    st.counter_add(PGALLOC, nr)
    st.counter_add(NUMA_HIT, o_.val(1))
    st.counter_add(NUMA_LOCAL, o_.val(1))
    st.set_allocated(page, order, o_.bool_(True))


def _pcp_type(st: Step, tag: str) -> BV:
    mt = word(f"{tag}migratetype")
    st.assume(o_.ult(mt, o_.val(MIGRATE_PCPTYPES)))
    return mt


PhaseBuilder = Callable[[Geometry, str | None], Phase]


# Phases whose length bookkeeping the solver proves per value of a term (bit-blasted adder
# trees of different shapes are hard to show equal; with the term fixed they simplify).
SPLIT_ON: dict[str, tuple[tuple[str, int], ...]] = {
    "take_fallback": (("migratetype", MIGRATE_PCPTYPES), ("moving", 2)),
}


def _run(name: str, geo: Geometry, bug: str | None,
         body: Callable[[Step, str | None], dict[str, BV]]) -> Phase:
    pre = fresh(geo)
    st = Step(pre)
    terms = {**body(st, bug), **st.notes}
    ph = _phase(name, pre, st, terms=tuple(terms.items()))
    if name not in SPLIT_ON:
        return ph
    return replace(ph, splits=tuple((terms[key], n) for key, n in SPLIT_ON[name]))


def hit(st: Step, bug: str | None) -> dict[str, BV]:
    """``buffered_rmqueue()`` of order 0 whose pcp list ``mt`` is not empty (after a refill
    or not): the head (hot) or tail (cold) page leaves the list and ``count`` drops.
    ``bug == "pcp_hit_forgets_count"`` leaves ``count`` alone."""
    pre = st.s
    mt = _pcp_type(st, "")
    x = st.pfn("page")
    st.assume(pre.on_pcp(x), o_.eq(pre.pcp_cpu(x), o_.val(0)), o_.eq(pre.pcp_index(x), mt))
    st.pcp_del(x, o_.bool_(True))
    if bug != "pcp_hit_forgets_count":
        st.pcp_count_add(o_.val(-1), o_.bool_(True))
    account_alloc(st, x, o_.val(0), buddy_path=False)
    return {"migratetype": mt, "page": x}


def take(case: str) -> Callable[[Step, str | None], dict[str, BV]]:
    """``__rmqueue()`` along ``case`` up to ``expand()`` (any order below max_order: the
    same for ``rmqueue_bulk``'s order 0 and ``buffered_rmqueue``'s order >= 1): the block
    leaves its list and is in flight, as the type it will be split and cached as."""

    def body(st: Step, bug: str | None) -> dict[str, BV]:
        mt = _pcp_type(st, "")
        order = word("order")
        st.assume(o_.ult(order, o_.val(st.s.max_order)))
        page, o, as_mt = rmqueue_take(st, "", order, mt, case, bug)
        to_view(st, page, o, as_mt)
        st.establish("in-flight block ok", in_flight_ok(st.s, page, o, as_mt))
        st.establish("taken type fits the request", taken_for(mt, as_mt))
        return {"migratetype": mt, "order": order, "page": page, "current_order": o}

    return body


def finish_alloc(st: Step, bug: str | None) -> dict[str, BV]:
    """``expand()`` is done: the in-flight block of the requested order >= 1 is the
    answer; it caches its type and ``buffered_rmqueue()`` does its accounting."""
    page, order, mt = in_flight(st, "")
    st.assume(o_.ule(o_.val(1), order))
    from_view(st, page, order, mt)
    st.set_cached_mt(page, mt, o_.bool_(True))
    account_alloc(st, page, order, buddy_path=True)
    return {"page": page, "order": order, "migratetype": mt}


def _with(s: SymState, nr_free_pages: BV | None = None, count: BV | None = None) -> SymState:
    c = list(s.c_counters)
    if nr_free_pages is not None:
        c[NR_FREE_PAGES] = nr_free_pages
    counts = s.c_pcp_count if count is None else (count, *s.c_pcp_count[1:])
    return replace(s, c_counters=tuple(c), c_pcp_count=counts)


def finish_refill(st: Step, bug: str | None) -> dict[str, BV]:
    """One page of ``rmqueue_bulk()`` after ``__rmqueue()``: the order-0 in-flight page is
    linked on pcp list ``req`` (next to the moving cursor: not observable), caches its
    type, lowers NR_FREE_CMA_PAGES if CMA.  Loop invariant of the bulk loop: the invariants
    with the pages added so far already taken off NR_FREE_PAGES and added to ``count``
    (the kernel does both after the loop), so this page does both at once here."""
    page, order, mt = in_flight(st, "")
    req = _pcp_type(st, "request_")
    st.assume(o_.eq(order, o_.val(0)), taken_for(req, mt))
    from_view(st, page, order, mt)
    st.pcp_add(page, req, o_.bool_(True))
    st.set_cached_mt(page, mt, o_.bool_(True))
    st.counter_add(NR_FREE_CMA_PAGES, o_.val(-1), o_.eq(mt, o_.val(MIGRATE_CMA)))
    st.counter_add(NR_FREE_PAGES, o_.val(-1))
    st.pcp_count_add(o_.val(1), o_.bool_(True))
    return {"page": page, "migratetype": mt, "request": req}


def refill_exit(geo: Geometry, bug: str | None) -> Phase:
    """After the bulk loop: NR_FREE_PAGES drops by the ``i`` pages in one lump and
    ``pcp.count += i``; the view already had both.
    ``bug == "refill_forgets_nr_free"`` skips the NR_FREE_PAGES debit."""
    ex = fresh(geo)
    n = word("i")
    st = Step(ex)
    st.assume(o_.ule(n, ex.c_batch))
    nfp = ex.counter(NR_FREE_PAGES)
    debit = nfp if bug == "refill_forgets_nr_free" else nfp - n
    return _phase("refill_exit", _with(ex, nfp - n, ex.pcp_count(0) + n), st,
                  _with(ex, debit, ex.pcp_count(0) + n), (("i", n),))


def _bulk_exit(drain: bool) -> PhaseBuilder:
    def build(geo: Geometry, bug: str | None) -> Phase:
        """After the ``free_pcppages_bulk()`` loop the caller lowers ``count``: by
        ``batch`` (trim) or to 0 (drain); the view already had it lowered per page."""
        ex = fresh(geo)
        st = Step(ex)
        count = ex.pcp_count(0)
        if drain:
            freed = count - o_.val(1) if bug == "drain_frees_one_less" else count
            after = o_.val(0)
        else:
            freed = ex.c_batch + o_.val(1) if bug == "trim_frees_extra" else ex.c_batch
            after = count - ex.c_batch
            st.assume(o_.ule(ex.c_high, count))
        return _phase("drain_exit" if drain else "trim_exit", _with(ex, count=count - freed),
                      st, _with(ex, count=after))

    return build


def _simple(name: str, body: Callable[[Step, str | None], dict[str, BV]]) -> PhaseBuilder:
    def build(geo: Geometry, bug: str | None) -> Phase:
        return _run(name, geo, bug, body)

    return build


PHASES: dict[str, PhaseBuilder] = {
    "pcp_hit": _simple("pcp_hit", hit),
    "take_smallest": _simple("take_smallest", take("smallest")),
    "take_cma": _simple("take_cma", take("cma")),
    "take_fallback": _simple("take_fallback", take("fallback")),
    "take_reserve": _simple("take_reserve", take("reserve")),
    "expand_step": _simple("expand_step", expand_step),
    "finish_alloc": _simple("finish_alloc", finish_alloc),
    "finish_refill": _simple("finish_refill", finish_refill),
    "refill_exit": refill_exit,
    "free_push": _simple("free_push", free_hot_cold_page_push),
    "free_entry": _simple("free_entry", free_pages_ok_entry),
    "bulk_entry": _simple("bulk_entry", free_pcppages_bulk_entry),
    "merge_step": _simple("merge_step", merge_step),
    "merge_exit": _simple("merge_exit", merge_exit),
    "trim_exit": _bulk_exit(drain=False),
    "drain_exit": _bulk_exit(drain=True),
}

_ALLOC_K = ("expand_step", "finish_alloc")
_MERGE = ("merge_step", "merge_exit")

# Each transition kind and the phases that make up its inductive proof.
TRANSITION_PHASES: dict[str, tuple[str, ...]] = {
    "pcp_hit": ("pcp_hit",),
    "pcp_refill": ("take_smallest", "take_cma", "take_fallback", "take_reserve",
                   "expand_step", "finish_refill", "refill_exit"),
    "rmqueue_smallest": ("take_smallest", *_ALLOC_K),
    "rmqueue_fallback": ("take_fallback", *_ALLOC_K),
    "rmqueue_cma_fallback": ("take_cma", *_ALLOC_K),
    "rmqueue_reserve": ("take_reserve", *_ALLOC_K),
    "free_hot_cold_page": ("free_push",),
    "free_pcppages_bulk": ("bulk_entry", *_MERGE, "trim_exit"),
    "free_pages_ok": ("free_entry", *_MERGE),
    "drain_pages_zone": ("bulk_entry", *_MERGE, "drain_exit"),
}


def transition_phases(name: str, geo: Geometry, bug: str | None = None) -> list[Phase]:
    return [PHASES[p](geo, bug) for p in TRANSITION_PHASES[name]]


TRANSITIONS = tuple(TRANSITION_PHASES)

# One planted bug per transition kind: (bug name, what it does).
BUGS: dict[str, tuple[str, str]] = {
    "pcp_hit": ("pcp_hit_forgets_count", "a pcp hit does not lower pcp.count"),
    "pcp_refill": ("refill_forgets_nr_free", "rmqueue_bulk never lowers NR_FREE_PAGES"),
    "rmqueue_smallest": ("expand_keeps_upper", "expand frees the lower half, keeps the upper"),
    "rmqueue_fallback": ("steal_counts_moved",
                         "move_freepages_block adds the pages it moves to NR_FREE_PAGES"),
    "rmqueue_cma_fallback": ("cma_expands_to_movable",
                             "the CMA fallback splits its block onto the MOVABLE lists"),
    "rmqueue_reserve": ("reserve_keeps_buddy",
                        "the block taken off a list keeps PageBuddy (no rmv_page_order)"),
    "free_hot_cold_page": ("pcp_free_forgets_count", "a pcp free does not raise pcp.count"),
    "free_pcppages_bulk": ("trim_frees_extra", "a trim frees batch + 1 pages"),
    "free_pages_ok": ("merge_wrong_buddy",
                      "merging looks for the buddy at pfn ^ (2 << order)"),
    "drain_pages_zone": ("drain_frees_one_less", "a drain frees count - 1 pages, sets count 0"),
}

__all__ = ["BUGS", "PHASES", "TRANSITIONS", "TRANSITION_PHASES", "Phase", "transition_phases"]
