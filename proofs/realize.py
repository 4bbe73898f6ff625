"""What it takes for one model operation to run through a phase's step (the *realization*
of a counterexample, :mod:`rmqueue.proofs.concretize`).

For each phase a planted bug breaks, :data:`REALIZE` gives the real pre-state ``R`` of a model
operation (kind and argument terms) whose run passes through that phase's step, the facts that
make it so, and the pfns the step picks (linked first on their lists):

* entry phases (``pcp_hit``, ``take_*``, ``free_push``): ``R`` is the phase's pre-state; an
  order-0 request reaches ``__rmqueue()`` only through an empty pcp list;
* ``expand_step``: the pre-state with the in-flight block put back on
  ``free_area[high].free_list[mt]``: the first split of a request of order ``low`` of type
  ``mt`` (the ``__rmqueue_smallest`` path);
* ``merge_step``: the view of the first merge is the state a free of order >= 1 starts from;
* exit phases (``refill_exit``, ``trim_exit``, ``drain_exit``), whose counterexample
  determines only the zone, the pcp parameters and counts (and NR_FREE_PAGES, the pages
  refilled): a second state with those values, whose lists hold :data:`SLOTS` pfns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rmqueue.model.types import MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES
from rmqueue.model.vmstat import NR_FREE_PAGES

from ._z3 import BV, OPS, Bool, word
from .alloc import len_at
from .loops import from_view
from .state import Step, SymState, fresh
from .transitions import Phase

o_ = OPS


@dataclass(frozen=True, slots=True)
class Realization:
    """The real pre-state ``real`` of one model operation that runs through a phase's step,
    the facts that make it so, the operation (``kind`` and argument terms) and the pfns to
    put at the head of their lists."""

    real: SymState
    facts: list[Bool]
    kind: str
    args: dict[str, BV]
    heads: list[BV]
    assumes: str
    layout: list[BV] = field(default_factory=list)


def _term(ph: Phase, name: str) -> BV:
    return dict(ph.terms)[name]


def _requestable(s: SymState, mt: BV) -> list[Bool]:
    """``mt`` is what some gfp mask maps to: a pcp type, UNMOVABLE without mobility grouping."""
    return [o_.ult(mt, o_.val(MIGRATE_PCPTYPES)),
            o_.or_(o_.not_(s.mobility_disabled), o_.eq(mt, o_.val(0)))]


def _small_batch(s: SymState) -> Bool:
    """``pcp.batch`` at most ``2^max_order``: ``rmqueue_bulk`` takes up to ``batch`` pages,
    and a planted bug that corrupts a list could make it hand out one page ``batch`` times
    (a kernel's batch is at most 63 in any case)."""
    return o_.ule(s.c_batch, o_.val(1 << s.max_order))


def _alloc_entry(ph: Phase) -> Realization:
    s = ph.pre
    mt, order = _term(ph, "migratetype"), dict(ph.terms).get("order", o_.val(0))
    facts = _requestable(s, mt)
    # an order-0 request reaches __rmqueue() only through an empty pcp list (rmqueue_bulk)
    empty_pcp = o_.val(0)
    for t in range(MIGRATE_PCPTYPES):
        empty_pcp = o_.ite(o_.eq(mt, o_.val(t)), s.pcp_len(0, t), empty_pcp)
    if ph.name != "pcp_hit":
        facts.append(o_.or_(o_.not_(o_.eq(order, o_.val(0))),
                            o_.and_(o_.eq(empty_pcp, o_.val(0)), _small_batch(s))))
    return Realization(s, facts, "alloc", {"order": order, "mt": mt}, [_term(ph, "page")],
                       "the pre-state itself; the picked block first on its list")


def _expand(ph: Phase) -> Realization:
    s = ph.pre
    page, high, low, mt = (_term(ph, n) for n in ("page", "high", "low", "migratetype"))
    st = Step(s)
    from_view(st, page, high, mt)
    st.free_add(page, high, mt, o_.bool_(True))
    st.nr_free_add(high, 1, o_.bool_(True))
    r = st.s
    empty_pcp = o_.val(0)
    for t in range(MIGRATE_PCPTYPES):
        empty_pcp = o_.ite(o_.eq(mt, o_.val(t)), r.pcp_len(0, t), empty_pcp)
    # order 0 reaches __rmqueue() through an empty pcp list (rmqueue_bulk's first page)
    facts = [*_requestable(r, mt), o_.eq(word("request_mt"), mt),
             o_.or_(o_.ule(o_.val(1), low),
                    o_.and_(o_.eq(empty_pcp, o_.val(0)), _small_batch(r)))]
    for k in range(s.max_order):
        kk = o_.val(k)
        facts.append(o_.or_(o_.not_(o_.and_(o_.ule(low, kk), o_.ult(kk, high))),
                            o_.eq(len_at(r, k, mt), o_.val(0))))
    return Realization(r, facts, "alloc", {"order": low, "mt": mt}, [page],
                       "the in-flight block back on free_list[high][mt] (the first split of "
                       "an order-low request of its own type; for low 0 through an empty pcp "
                       "list)")


def _merge(ph: Phase) -> Realization:
    s = ph.pre
    m, k, mt = (_term(ph, n) for n in ("page", "order", "migratetype"))
    facts = [o_.ule(o_.val(1), k), o_.eq(mt, s.block_mt(m))]
    return Realization(s, facts, "free", {"pfn": m, "order": k}, [],
                       "the view itself (the first merge of a free of order >= 1)")


def _free_push(ph: Phase) -> Realization:
    return Realization(ph.pre, [], "free", {"pfn": _term(ph, "page"), "order": o_.val(0)}, [],
                       "the pre-state itself")


SLOTS = 4


def _real(ph: Phase) -> tuple[SymState, SymState, list[Bool]]:
    """The exit phases: ``ex`` (the state the exit phase was built on) and a second state
    ``R`` with the same zone and pcp parameters, whose lists hold :data:`SLOTS` pfns."""
    ex = fresh(ph.pre.geo)
    r = fresh(ph.pre.geo, "real.")
    return ex, r, [o_.eq(r.start, ex.start), o_.eq(r.end, ex.end), o_.eq(r.c_high, ex.c_high),
                   o_.eq(r.c_batch, ex.c_batch),
                   o_.eq(r.c_alloc_batch_init, ex.c_alloc_batch_init)]


def slots() -> list[BV]:
    return [word(f"real.slot{j}") for j in range(SLOTS)]


def _refill(ph: Phase) -> Realization:
    ex, r, facts = _real(ph)
    i = _term(ph, "i")
    mt = word("real.migratetype")
    facts += _requestable(r, mt)
    empty = o_.val(0)
    for t in range(MIGRATE_PCPTYPES):
        empty = o_.ite(o_.eq(mt, o_.val(t)), r.pcp_len(0, t), empty)
    # the free pages __rmqueue(mt) can reach (its own type, the fallbacks, RESERVE, and CMA
    # for MOVABLE), summed over the slots, which hold every list member (only_layout)
    layout = slots()
    reach = o_.val(0)
    for j, q in enumerate(layout):
        first = o_.and_(*(o_.not_(o_.eq(q, u)) for u in layout[:j])) if j else o_.bool_(True)
        t = r.free_mt(q)
        ok = o_.or_(o_.ult(t, o_.val(MIGRATE_CMA)),
                    o_.and_(o_.eq(t, o_.val(MIGRATE_CMA)), o_.eq(mt, o_.val(MIGRATE_MOVABLE))))
        reach = reach + o_.ite(o_.and_(first, r.on_free(q), ok),
                               o_.val(1) << r.free_order(q), o_.val(0))
    facts += [o_.eq(empty, o_.val(0)), _small_batch(r), o_.eq(r.pcp_count(0), ex.pcp_count(0)),
              o_.eq(r.counter(NR_FREE_PAGES), ex.counter(NR_FREE_PAGES)),
              o_.ule(i, o_.val(1 << ph.pre.max_order)),
              o_.ite(o_.ult(i, ex.c_batch), o_.eq(reach, i), o_.ule(ex.c_batch, reach))]
    return Realization(r, facts, "alloc", {"order": o_.val(0), "mt": mt}, [],
                       "a state with the counterexample's zone, pcp count/high/batch and "
                       "NR_FREE_PAGES whose empty pcp list refills exactly i pages", layout)


def _trim(ph: Phase) -> Realization:
    ex, r, facts = _real(ph)
    f = word("real.page")
    facts += [r.allocated(f), o_.eq(r.alloc_order(f), o_.val(0)),
              o_.ult(r.block_mt(f), o_.val(MIGRATE_ISOLATE)), o_.ule(r.start, f), o_.ult(f, r.end),
              o_.eq(r.pcp_count(0) + o_.val(1), ex.pcp_count(0))]
    return Realization(r, facts, "free", {"pfn": f, "order": o_.val(0)}, [],
                       "a state with the counterexample's zone and pcp high/batch whose "
                       "count is one below the trim's", [f, *slots()])


def _drain(ph: Phase) -> Realization:
    ex, r, facts = _real(ph)
    facts += [o_.eq(r.pcp_count(0), ex.pcp_count(0)), o_.ule(o_.val(1), ex.pcp_count(0))]
    return Realization(r, facts, "drain", {}, [],
                       "a state with the counterexample's zone, pcp parameters and count "
                       "(count >= 1: a drain of nothing frees nothing)", slots())


REALIZE: dict[str, Callable[[Phase], Realization]] = {
    "pcp_hit": _alloc_entry, "take_smallest": _alloc_entry, "take_cma": _alloc_entry,
    "take_fallback": _alloc_entry, "take_reserve": _alloc_entry, "expand_step": _expand,
    "merge_step": _merge, "free_push": _free_push, "refill_exit": _refill,
    "trim_exit": _trim, "drain_exit": _drain,
}


__all__ = ["REALIZE", "SLOTS", "Realization", "slots"]
