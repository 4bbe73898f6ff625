"""Loop invariants for ``expand()`` and the merge loop of ``__free_one_page()``.

Both loops work on one block that is on no list: the block being split (``expand``) or
being merged.  The loop invariant is the registry's invariants on a *view* of the state in
which that in-flight block ``(m, K)`` is counted as a block in the user's hands
(``allocated(m)``, ``alloc_order(m) = K``; ``allocated_pages`` up by ``2^K``; PGFREE,
NR_FREE_PAGES and, for a CMA block, NR_FREE_CMA_PAGES down by ``2^K``, as if it had just
been allocated), plus :func:`in_flight_ok`.  So one split or one merge is one small inductive
step, proved once for every order and every zone: the loop's bound (``max_order - 1``
iterations) plays no part.  Entry and exit phases (in :mod:`rmqueue.proofs.transitions`)
turn the real state into the view and back.
"""

from __future__ import annotations

from rmqueue.model.buddy import block_end, combined_index, find_buddy_index, merge_stops_at
from rmqueue.model.types import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RESERVE,
)
from rmqueue.model.vmstat import NR_FREE_CMA_PAGES, NR_FREE_PAGES, PGFREE
from rmqueue.specs.invariants import iff, implies

from ._z3 import BV, OPS, Bool, word
from .state import Step, SymState

o_ = OPS


def in_flight_ok(s: SymState, m: BV, k: BV, mt: BV) -> Bool:
    """The in-flight block ``(m, k)`` of type ``mt`` is in the view (as a user block), its
    type is not ISOLATE and is CMA exactly when its pageblock is."""
    cma = o_.val(MIGRATE_CMA)
    return o_.and_(
        s.allocated(m),
        o_.eq(s.alloc_order(m), k),
        o_.ult(mt, o_.val(MIGRATE_ISOLATE)),
        iff(o_, o_.eq(mt, cma), o_.eq(s.block_mt(m), cma)),
    )


def taken_for(req: BV, mt: BV) -> Bool:
    """The type ``__rmqueue()`` took a block as, for a request of pcp type ``req``: the
    request's own, CMA for a MOVABLE request, or RESERVE (fallback takes as ``req``)."""
    return o_.and_(
        o_.ult(req, o_.val(MIGRATE_PCPTYPES)),
        implies(o_, o_.ult(mt, o_.val(MIGRATE_PCPTYPES)), o_.eq(mt, req)),
        implies(o_, o_.eq(mt, o_.val(MIGRATE_CMA)), o_.eq(req, o_.val(MIGRATE_MOVABLE))),
        o_.or_(o_.ult(mt, o_.val(MIGRATE_PCPTYPES)), o_.eq(mt, o_.val(MIGRATE_CMA)),
               o_.eq(mt, o_.val(MIGRATE_RESERVE))),
    )


def _counted(st: Step, nr: BV, mt: BV) -> None:
    """Add ``nr`` (may be negative) to the counters that count free pages of type ``mt``."""
    not_iso = o_.not_(o_.eq(mt, o_.val(MIGRATE_ISOLATE)))
    st.counter_add(NR_FREE_PAGES, nr, not_iso)
    st.counter_add(NR_FREE_CMA_PAGES, nr, o_.and_(not_iso, o_.eq(mt, o_.val(MIGRATE_CMA))))


def to_view(st: Step, m: BV, k: BV, mt: BV) -> None:
    """Count the in-flight block ``(m, k)`` as a user block."""
    nr = o_.val(1) << k
    st.set_allocated(m, k, o_.bool_(True))
    st.counter_add(PGFREE, o_.val(0) - nr)
    _counted(st, o_.val(0) - nr, mt)


def from_view(st: Step, m: BV, k: BV, mt: BV) -> None:
    """Undo :func:`to_view`."""
    nr = o_.val(1) << k
    st.clear_allocated(m, k)
    st.counter_add(PGFREE, nr)
    _counted(st, nr, mt)


def in_flight(st: Step, tag: str) -> tuple[BV, BV, BV]:
    """A fresh in-flight block ``(m, K, mt)`` satisfying the loop invariant."""
    m = st.pfn(f"{tag}m")
    k = word(f"{tag}K")
    mt = word(f"{tag}mt")
    st.assume(o_.ult(k, o_.val(st.s.max_order)), in_flight_ok(st.s, m, k, mt))
    return m, k, mt


def expand_step(st: Step, bug: str | None) -> dict[str, BV]:
    """One iteration of ``expand()``: ``high -= 1``; the upper half ``page + 2^high`` goes on
    ``free_area[high].free_list[mt]`` (``nr_free`` up); the lower half stays in flight.

    The extra conjuncts: the in-flight block still starts at ``page`` (``expand`` keeps the
    lowest piece) and its type is one ``__rmqueue()`` may take for the request.
    ``bug == "expand_keeps_upper"`` frees the lower half and keeps the upper one.
    """
    page, high, mt = in_flight(st, "")
    low = word("low")
    req = word("request_mt")
    st.assume(o_.ult(low, high), taken_for(req, mt))
    k = high - o_.val(1)
    nr = o_.val(1) << k
    if bug == "expand_keeps_upper":
        half, keep = page, block_end(o_, page, k)
    else:
        half, keep = block_end(o_, page, k), page
    st.clear_allocated(page, high)
    st.set_allocated(keep, k, o_.bool_(True))
    st.counter_add(PGFREE, nr)
    _counted(st, nr, mt)
    st.free_add(half, k, mt, o_.bool_(True))
    st.nr_free_add(k, 1, o_.bool_(True))
    st.touch(keep)
    st.establish("expand keeps the lowest piece in flight", o_.eq(keep, page))
    st.establish("in-flight block ok", in_flight_ok(st.s, keep, k, mt))
    st.establish("taken type fits the request", taken_for(req, mt))
    return {"page": page, "high": high, "low": low, "migratetype": mt}


def buddy_of(m: BV, k: BV, bug: str | None) -> BV:
    if bug == "merge_wrong_buddy":
        return m ^ (o_.val(2) << k)
    return find_buddy_index(o_, m, k)


def mergeable(s: SymState, m: BV, k: BV, mt: BV, bug: str | None) -> tuple[BV, Bool]:
    """``__free_one_page()``'s loop test: below the merge bound and the buddy is a free
    head of the same order in the zone (``page_is_buddy``)."""
    stop = merge_stops_at(o_, mt, o_.val(s.max_order), o_.val(s.geo.pageblock_order))
    b = buddy_of(m, k, bug)
    in_zone = o_.and_(o_.ule(s.start, b), o_.ult(b, s.end))
    is_buddy = o_.and_(in_zone, s.buddy(b), o_.eq(s.buddy_order(b), k))
    return b, o_.and_(o_.ult(k, stop), is_buddy)


def merge_step(st: Step, bug: str | None) -> dict[str, BV]:
    """One merge: the buddy leaves its list (whatever its type), ``nr_free`` down, the
    in-flight block becomes the parent ``combined_index`` one order up.
    ``bug == "merge_wrong_buddy"`` looks for the buddy at ``pfn ^ (2 << order)``."""
    m, k, mt = in_flight(st, "")
    b, ok = mergeable(st.s, m, k, mt, bug)
    st.assume(ok)
    st.touch(b)
    st.free_del(b, o_.bool_(True))
    st.nr_free_add(k, -1, o_.bool_(True))
    parent = combined_index(o_, m, b)
    nr = o_.val(1) << k
    st.clear_allocated(m, k)
    st.set_allocated(parent, k + o_.val(1), o_.bool_(True))
    st.counter_add(PGFREE, o_.val(0) - nr)
    _counted(st, o_.val(0) - nr, mt)
    st.touch(parent)
    st.establish("in-flight block ok", in_flight_ok(st.s, parent, k + o_.val(1), mt))
    return {"page": m, "order": k, "migratetype": mt, "buddy": b, "parent": parent}


def merge_exit(st: Step, bug: str | None) -> dict[str, BV]:
    """The loop ends (no buddy to merge): the block goes on ``free_area[K].free_list[mt]``
    (head or tail, by the tail heuristic: not observable), ``nr_free`` up."""
    m, k, mt = in_flight(st, "")
    b, ok = mergeable(st.s, m, k, mt, bug)
    st.assume(o_.not_(ok))
    st.touch(b)
    from_view(st, m, k, mt)
    st.free_add(m, k, mt, o_.bool_(True))
    st.nr_free_add(k, 1, o_.bool_(True))
    return {"page": m, "order": k, "migratetype": mt, "buddy": b}


__all__ = [
    "expand_step",
    "from_view",
    "in_flight_ok",
    "merge_exit",
    "merge_step",
    "taken_for",
    "to_view",
]
