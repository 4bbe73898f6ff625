"""What any correct buddy allocator may do in one step (issue 3, item 2), as dual formulas.

A step is judged from (pre-state, arguments, result, post-state) with frame reasoning: the
step's record names the blocks it took off and put on lists (``free_del``/``free_add``,
``pcp_del``/``pcp_add``) and the block that left or entered the user's hands.  Everything
else is assumed unchanged (the periodic full check validates that assumption).

* ``pages_conserved``: the pages the step removed from {free lists, pcp lists, user} are
  exactly the pages it added (as multisets), so a partition of the zone stays a partition:
  nothing lost, nothing doubled.  Encoded without cardinalities, Hyperkernel-style, with a
  permutation witness: the boundary events of every block (+1 at an added block's start, -1
  at its end, the opposite for a removed block) sorted by pfn through a witness ``perm`` whose
  inverse ``inv`` proves it a permutation; the coverage difference, a running sum, must be 0
  between distinct pfns.
* ``list_delta_consistent``: at each pfn the record names, the post-state's list membership
  minus the record's net change is a pre-state membership (0 or 1): a block said to be taken
  off is not still there, a block said to be put on is there.
* ``alloc_result_valid`` / ``free_result_valid``: the block handed out is aligned, inside the
  zone and now the user's (it was free: ``pages_conserved`` took it off a list); a freed
  block is no longer the user's.
* ``alloc_failure_justified``: a failure is allowed only when no list the request may use
  (own type, its fallbacks, RESERVE, CMA for MOVABLE; this CPU's pcp list at order 0) holds a
  block of the requested order or more.  The step's record must then also be conserving.
* ``drain_empties_pcp``: after a drain that CPU has no pcp page and a zero count.
* ``retype_keeps_cma_isolate``: each pageblock the step retypes (``Transition.retyped``)
  had the old type the record names and has the new one after the step, neither is
  MIGRATE_ISOLATE, and it is CMA after exactly when it was before.  With it the pageblock
  invariants (which read ``block_mt`` at every pfn of a retyped pageblock) need no instance
  off the record.  A pageblock retyped more than once in one step is judged by its first
  old and last new type (the record's links must chain: each entry's old type is the type
  the previous one set).

The linear count invariants of :mod:`rmqueue.specs.invariants` are checked on the
difference accessor (post minus pre), and the page invariants at every pfn the record names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rmqueue.model.buddy import Ops, block_inside, is_aligned
from rmqueue.model.types import (
    FALLBACKS,
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RESERVE,
)

from .invariants import PageView, iff, in_zone


class Events(Protocol):
    """Block boundary events of one step, and the sorting witness."""

    n: int

    def x(self, i: Any) -> Any: ...
    def w(self, i: Any) -> Any: ...
    def perm(self, j: int) -> Any: ...
    def inv(self, i: Any) -> Any: ...


class ListsEmpty(Protocol):
    """Emptiness of the post-state's lists."""

    max_order: int

    def free_empty(self, o: int, t: int) -> Any: ...
    def pcp_empty(self, cpu: int, t: int) -> Any: ...


def pages_conserved(ops: Ops[Any, Any], E: Events) -> Any:
    """Removed and added pages are the same multiset (coverage difference 0 everywhere)."""
    n = E.n
    clauses = []
    run = ops.val(0)
    for j in range(n):
        i = E.perm(j)
        clauses.append(ops.ult(i, ops.val(n)))
        clauses.append(ops.eq(E.inv(i), ops.val(j)))
        x = E.x(i)
        run = run + E.w(i)
        if j + 1 < n:
            nx = E.x(E.perm(j + 1))
            clauses.append(ops.ule(x, nx))
            clauses.append(ops.or_(ops.eq(x, nx), ops.eq(run, ops.val(0))))
        else:
            clauses.append(ops.eq(run, ops.val(0)))
    return ops.and_(*clauses)


def free_list_delta_consistent(
    ops: Ops[Any, Any], S: PageView[Any, Any], p: Any, o: Any, t: Any, net: Any
) -> Any:
    """Post membership of ``p`` on free_list[o][t] minus the record's net change is 0 or 1."""
    member = ops.and_(S.on_free(p), ops.eq(S.free_order(p), o), ops.eq(S.free_mt(p), t))
    pre = ops.ite(member, ops.val(1), ops.val(0)) - net
    return ops.or_(ops.eq(pre, ops.val(0)), ops.eq(pre, ops.val(1)))


def pcp_list_delta_consistent(
    ops: Ops[Any, Any], S: PageView[Any, Any], p: Any, cpu: Any, t: Any, net: Any
) -> Any:
    """Post membership of ``p`` on pcp[cpu].lists[t] minus the net change is 0 or 1."""
    member = ops.and_(S.on_pcp(p), ops.eq(S.pcp_cpu(p), cpu), ops.eq(S.pcp_index(p), t))
    pre = ops.ite(member, ops.val(1), ops.val(0)) - net
    return ops.or_(ops.eq(pre, ops.val(0)), ops.eq(pre, ops.val(1)))


def alloc_result_valid(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any, k: Any) -> Any:
    """The returned block is aligned, inside the zone, and now in the user's hands."""
    return ops.and_(
        is_aligned(ops, p, k),
        block_inside(ops, p, k, S.start, S.end),
        S.allocated(p),
        ops.eq(S.alloc_order(p), k),
        ops.not_(S.on_free(p)),
        ops.not_(S.on_pcp(p)),
    )


def free_result_valid(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any, k: Any) -> Any:
    """The freed block is no longer the user's."""
    return ops.not_(S.allocated(p))


def usable_types(mt: int) -> tuple[int, ...]:
    """The free lists ``__rmqueue`` may take from for a request of type ``mt`` (0..2)."""
    extra = (MIGRATE_CMA,) if mt == MIGRATE_MOVABLE else ()
    return (mt, *extra, *FALLBACKS[mt], MIGRATE_RESERVE)


def alloc_failure_justified(
    ops: Ops[Any, Any], L: ListsEmpty, order: int, mt: int, cpu: int
) -> Any:
    """No usable list holds a block of ``order`` or more (nor this CPU's pcp list, order 0)."""
    clauses = [L.free_empty(o, t) for o in range(order, L.max_order) for t in usable_types(mt)]
    if order == 0 and mt < MIGRATE_PCPTYPES:
        clauses.append(L.pcp_empty(cpu, mt))
    return ops.and_(*clauses)


def drain_empties_pcp(ops: Ops[Any, Any], L: ListsEmpty, count: Any, cpu: int) -> Any:
    """After ``drain(cpu)`` every list of that CPU is empty and its count is 0."""
    return ops.and_(
        ops.eq(count, ops.val(0)), *(L.pcp_empty(cpu, t) for t in range(MIGRATE_PCPTYPES))
    )


def retype_keeps_cma_isolate(
    ops: Ops[Any, Any], S: PageView[Any, Any], p: Any, was: Any, old: Any, new: Any
) -> Any:
    """A pageblock retype keeps CMA pageblocks CMA and the others not CMA, and isolates
    nothing: ``p`` is a pfn of the retyped pageblock inside the zone, ``was`` its type before
    the step (the checker's shadow), ``old -> new`` the record's retype; the post state
    ``S`` has type ``new`` there."""
    iso = ops.val(MIGRATE_ISOLATE)
    cma = ops.val(MIGRATE_CMA)
    return ops.and_(
        in_zone(ops, S, p),
        ops.eq(old, was),
        ops.eq(S.block_mt(p), new),
        ops.ult(old, iso),
        ops.ult(new, iso),
        iff(ops, ops.eq(old, cma), ops.eq(new, cma)),
    )


@dataclass(frozen=True, slots=True)
class TransitionCheck:
    """One named transition predicate (names appear in violations like invariant names)."""

    name: str
    kernel_ref: str
    doc: str


TRANSITION_CHECKS: tuple[TransitionCheck, ...] = (
    TransitionCheck("pages_conserved", "semantics §7.3 (nothing lost)",
                    pages_conserved.__doc__ or ""),
    TransitionCheck("list_delta_consistent", "record.py Transition",
                    free_list_delta_consistent.__doc__ or ""),
    TransitionCheck("alloc_result_valid", "buffered_rmqueue v4.3",
                    alloc_result_valid.__doc__ or ""),
    TransitionCheck("free_result_valid", "__free_pages v4.3", free_result_valid.__doc__ or ""),
    TransitionCheck("alloc_failure_justified", "__rmqueue v4.3; semantics §11.4",
                    alloc_failure_justified.__doc__ or ""),
    TransitionCheck("drain_empties_pcp", "drain_pages v4.3", drain_empties_pcp.__doc__ or ""),
    TransitionCheck("retype_keeps_cma_isolate",
                    "set_pageblock_migratetype/steal_suitable_fallback v4.3; semantics §2.2",
                    retype_keeps_cma_isolate.__doc__ or ""),
)

__all__ = [
    "TRANSITION_CHECKS",
    "Events",
    "ListsEmpty",
    "TransitionCheck",
    "alloc_failure_justified",
    "alloc_result_valid",
    "drain_empties_pcp",
    "free_list_delta_consistent",
    "free_result_valid",
    "pages_conserved",
    "pcp_list_delta_consistent",
    "retype_keeps_cma_isolate",
    "usable_types",
]
