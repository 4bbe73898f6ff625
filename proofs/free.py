"""The free side, run symbolically: the steps of :mod:`rmqueue.model.free` around the merge
loop (which is :func:`rmqueue.proofs.loops.merge_step` / ``merge_exit``)."""

from __future__ import annotations

from rmqueue.model.types import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES
from rmqueue.model.vmstat import NR_PAGES_SCANNED, PGFREE

from ._z3 import BV, OPS, word
from .loops import from_view, in_flight_ok, to_view
from .state import Step

o_ = OPS


def free_hot_cold_page_push(st: Step, bug: str | None) -> dict[str, BV]:
    """Mirror of ``free_hot_cold_page()`` up to the trim: the page caches its pageblock's
    type and goes on a pcp list of CPU 0 (head or tail: not observable).
    ``bug == "pcp_free_forgets_count"`` leaves ``pcp.count`` alone."""
    s = st.s
    f = st.pfn("page")
    st.assume(s.allocated(f), o_.eq(s.alloc_order(f), o_.val(0)))
    mt = s.block_mt(f)
    # The ISOLATE bypass is free_one_page() of order 0 (the merge phases); the requested
    # invariant no_isolated_pageblocks makes it unreachable here.
    st.assume(o_.not_(o_.eq(mt, o_.val(MIGRATE_ISOLATE))))
    st.clear_allocated(f, o_.val(0))
    st.set_cached_mt(f, mt, o_.bool_(True))
    st.counter_add(PGFREE, o_.val(1))
    index = o_.ite(o_.ult(mt, o_.val(MIGRATE_PCPTYPES)), mt, o_.val(MIGRATE_MOVABLE))
    st.pcp_add(f, index, o_.bool_(True))
    if bug != "pcp_free_forgets_count":
        st.pcp_count_add(o_.val(1), o_.bool_(True))
    return {"page": f, "migratetype": mt}


def free_pages_ok_entry(st: Step, bug: str | None) -> dict[str, BV]:
    """Mirror of ``__free_pages_ok()`` + ``free_one_page()`` + the start of
    ``__free_one_page()`` for an order >= 1 block: PGFREE, the block leaves the user, its
    pages are credited at its order; then the block is in flight (so the view is the
    pre-state itself)."""
    s = st.s
    f = st.pfn("page")
    k = word("order")
    st.assume(
        o_.ule(o_.val(1), k), o_.ult(k, o_.val(s.max_order)),
        s.allocated(f), o_.eq(s.alloc_order(f), k),
    )
    mt = s.block_mt(f)
    st.counter_add(NR_PAGES_SCANNED, o_.val(0) - s.counter(NR_PAGES_SCANNED))
    # The kernel's effects are exactly from_view(): PGFREE += 2^k, the user block goes,
    # NR_FREE_PAGES (NR_FREE_CMA_PAGES for CMA) += 2^k.  Then the block is in flight.
    from_view(st, f, k, mt)
    to_view(st, f, k, mt)
    st.establish("in-flight block ok", in_flight_ok(st.s, f, k, mt))
    return {"page": f, "order": k, "migratetype": mt}


def free_pcppages_bulk_entry(st: Step, bug: str | None) -> dict[str, BV]:
    """One page of ``free_pcppages_bulk()`` up to the merge loop: the tail page of some
    non-empty list of CPU 0 (which list the round-robin picks is not observable) leaves it
    and is freed at order 0 with its cached type (``nr_isolate_pageblock`` is 0 in the
    model).  The loop's view lowers ``pcp.count`` by the pages freed so far, so this page
    lowers it by one more."""
    s = st.s
    x = st.pfn("page")
    st.assume(s.on_pcp(x), o_.eq(s.pcp_cpu(x), o_.val(0)))
    mt = s.cached_mt(x)
    st.pcp_del(x, o_.bool_(True))
    st.pcp_count_add(o_.val(-1), o_.bool_(True))
    st.counter_add(NR_PAGES_SCANNED, o_.val(0) - s.counter(NR_PAGES_SCANNED))
    zero = o_.val(0)
    # __free_one_page() credits the page; the view counts it as in flight.
    st.set_allocated(x, zero, o_.bool_(True))
    st.counter_add(PGFREE, o_.val(-1))
    st.establish("in-flight block ok", in_flight_ok(st.s, x, zero, mt))
    return {"page": x, "migratetype": mt}


__all__ = ["free_hot_cold_page_push", "free_pages_ok_entry", "free_pcppages_bulk_entry"]
