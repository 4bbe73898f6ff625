"""The frame lemma: checking a transition's record is enough to keep the whole state's
invariants (the per-step checker's O(delta) argument), proved once per invariant.

* Page invariants the checker instantiates per step (``per_step``): take any state ``S``
  and any ``S'`` that differs from it only on a set ``R`` of pfns (the record's), any pfn
  ``p``.  If the page invariants hold at ``p`` in ``S`` and at every ``t`` in ``R`` that the
  instance at ``p`` reads (``p`` itself, its buddy...) in ``S'``, then ``I(S', p)``.  So instances
  off the record cannot turn false.  (``blocks_disjoint`` reads ``p``'s ancestors and is not
  a per-step invariant: the checker covers it with ``pages_conserved``.)
* Pageblock types: ``S'`` also differs from ``S`` on a set of retyped pageblocks, each of
  which satisfies ``retype_keeps_cma_isolate`` (its type before is the pre-state's, its type
  after the post-state's; the instance is read at the pageblock's first pfn inside the zone,
  as the checker does).  The lemma is proved for the per-step page invariants and for the
  pageblock invariants the checker does not instantiate (``cma_pageblocks_whole``): with the
  predicate at every pageblock the instance at ``p`` reads, it holds off the record.
* Linear count invariants: if ``I`` holds before and holds on the difference (post minus
  pre, the constants 0), it holds after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import z3

from rmqueue.model.buddy import pageblock_start
from rmqueue.specs.invariants import INVARIANTS, PAGEBLOCK_INVARIANTS, Invariant
from rmqueue.specs.sorts import PFN_LIMIT
from rmqueue.specs.transitions import retype_keeps_cma_isolate

from . import _z3
from ._z3 import OPS, Map, bool_map, word_map
from .extra import config_axioms
from .obligations import ALL_INVARIANTS, domain
from .state import Geometry, SymState, fresh

_MAPS = ("a_buddy", "a_buddy_order", "a_on_free", "a_free_order", "a_free_mt", "a_on_pcp",
         "a_pcp_cpu", "a_pcp_index", "a_allocated", "a_alloc_order", "a_cached_mt")


def _reads(e: Any) -> list[Any]:
    """The pfn terms at which ``e`` reads a per-page map (arguments of its functions)."""
    out: dict[int, Any] = {}
    seen: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_app(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED and x.num_args() == 1:
            out[x.arg(0).get_id()] = x.arg(0)
        stack.extend(x.children())
    return list(out.values())


def _overlay(where: Map, chg: Map, old: Map) -> Map:
    return Map(lambda t: z3.If(where(t), chg(t), old(t)))


def page_frame(inv: Invariant, geo: Geometry, timeout_ms: int,
               retype: Callable[..., Any] = retype_keeps_cma_isolate) -> str:
    """The lemma for one page invariant (``retype``: the retype predicate assumed of every
    retyped pageblock; tests weaken it to see the lemma fail)."""
    pre = fresh(geo)
    new = fresh(geo, "changed.")
    in_r = bool_map("in_record")
    retyped = bool_map("retyped")  # keyed by a pageblock's first pfn, as a_block_mt
    post: SymState = pre
    for f in _MAPS:
        old: Map = getattr(pre, f)
        chg: Map = getattr(new, f)
        changes: dict[str, Any] = {f: _overlay(in_r, chg, old)}
        post = replace(post, **changes)
    post = replace(post, a_block_mt=_overlay(retyped, new.a_block_mt, pre.a_block_mt))
    p = _z3.word("p")
    goal = inv.formula(OPS, post, p)
    page = [i for i in ALL_INVARIANTS if i.kind == "page" and i.per_step]
    facts = [*config_axioms(pre), OPS.ult(p, OPS.val(PFN_LIMIT))]
    facts += [i.formula(OPS, pre, p) for i in page if i is not inv]
    facts.append(inv.formula(OPS, pre, p))
    for t in _reads(goal):
        facts.extend(z3.Implies(in_r(t), i.formula(OPS, post, t)) for i in page)
        facts.append(z3.Implies(retyped(t), _retype_ok(pre, post, t, retype)))
    out = _z3.check([*facts, _z3.negate(goal)], timeout_ms)
    return {"unsat": "proved", "sat": "counterexample"}.get(out.status, out.status)


def _retype_ok(pre: SymState, post: SymState, t: Any, retype: Callable[..., Any]) -> Any:
    """``retype_keeps_cma_isolate`` for the pageblock starting at ``t``, read where the
    checker reads it (the zone's first pfn for the pageblock holding it), with the
    pre-state's type as the checker's shadow and some recorded ``old -> new``."""
    first = pageblock_start(OPS, pre.start, OPS.val(pre.geo.pageblock_order))
    q = OPS.ite(OPS.eq(t, first), pre.start, t)
    old, new = word_map("retype.old"), word_map("retype.new")
    view: Any = post  # a PageView (frozen: its attributes are read-only)
    return retype(OPS, view, q, pre.block_mt(q), old(t), new(t))


def count_frame(inv: Invariant, geo: Geometry, timeout_ms: int) -> str:
    pre = fresh(geo)
    d = fresh(geo, "delta.")
    zero = OPS.val(0)
    d = replace(d, end=d.start, c_alloc_batch_init=zero)  # constants: difference 0

    def plus(a: Any, b: Any) -> Any:
        if isinstance(a, tuple):
            return tuple(plus(x, y) for x, y in zip(a, b, strict=True))
        return a + b

    post = replace(
        pre,
        c_nr_free=plus(pre.c_nr_free, d.c_nr_free),
        c_free_len=plus(pre.c_free_len, d.c_free_len),
        c_pcp_count=plus(pre.c_pcp_count, d.c_pcp_count),
        c_pcp_len=plus(pre.c_pcp_len, d.c_pcp_len),
        c_other_pcp_pages=pre.c_other_pcp_pages + d.c_other_pcp_pages,
        c_allocated_pages=pre.c_allocated_pages + d.c_allocated_pages,
        c_counters=plus(pre.c_counters, d.c_counters),
    )
    status = "proved"
    for i in domain(inv, pre):
        facts = [inv.formula(OPS, pre, i), inv.formula(OPS, d, i)]
        out = _z3.check([*facts, _z3.negate(inv.formula(OPS, post, i))], timeout_ms)
        if out.status != "unsat":
            status = {"sat": "counterexample"}.get(out.status, out.status)
            break
    return status


def frame_lemmas(geo: Geometry, timeout_ms: int = 60000) -> dict[str, str]:
    """``{invariant: result}`` for every registry invariant the per-step check relies on
    (the pageblock invariants through ``retype_keeps_cma_isolate``)."""
    out: dict[str, str] = {}
    for inv in INVARIANTS:
        if inv.kind == "page" and (inv.per_step or inv in PAGEBLOCK_INVARIANTS):
            out[inv.name] = page_frame(inv, geo, timeout_ms)
        elif inv.kind == "count" and inv.linear:
            out[inv.name] = count_frame(inv, geo, timeout_ms)
    return out


__all__ = ["count_frame", "frame_lemmas", "page_frame"]
