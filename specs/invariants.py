"""The buddy invariants of a Linux 4.3 zone: one registry, one formula each (STYLE §2).

Abstract state
==============
Every formula is written once against the dual backend of :mod:`rmqueue.model.buddy`
(``ops``: ints, Z3 bit-vectors, or the source-text backends of :mod:`rmqueue.specs._codegen`)
and reads the state only through one of two accessor objects.  All words are 64-bit
(:mod:`rmqueue.specs.sorts`); ``o``, ``t``, ``cpu`` indexes are concrete Python ints (loops
are bounded by ``max_order``/``MIGRATE_TYPES``), pfns are words.

``PageView`` (``S``), the per-page state (``struct page`` + list membership):

==================  =====  ========================================================
``S.start``         W      first pfn of the zone (``zone_start_pfn``)
``S.end``           W      one past the last pfn (``zone_start_pfn + spanned_pages``)
``S.max_order``     int    ``MAX_ORDER`` (free orders are 0..max_order-1)
``S.cpus``          W      number of CPUs (pcp sets)
``S.buddy(p)``      B      PageBuddy(p)
``S.buddy_order(p)`` W     page_private(p) (meaningful when PageBuddy)
``S.on_free(p)``    B      p is linked on some ``free_area[o].free_list[t]``
``S.free_order(p)`` W      that ``o``          (meaningful when on_free)
``S.free_mt(p)``    W      that ``t``          (meaningful when on_free)
``S.on_pcp(p)``     B      p is linked on some ``pcp[cpu].lists[t]``
``S.pcp_cpu(p)``    W      that ``cpu``        (meaningful when on_pcp)
``S.pcp_index(p)``  W      that ``t``          (meaningful when on_pcp)
``S.allocated(p)``  B      p heads a block in the user's hands
``S.alloc_order(p)`` W     that block's order  (meaningful when allocated)
``S.cached_mt(p)``  W      the cached pcp migratetype (``page->index``)
``S.block_mt(p)``   W      ``get_pageblock_migratetype(p)``: the type of the pageblock
                           holding p (``zone.pageblock_mt``, indexed by
                           ``(p >> pageblock_order) - (zone_start_pfn >> pageblock_order)``;
                           meaningful inside the zone, concrete views read 0 outside)
==================  =====  ========================================================

A *head* is a pfn with ``on_free``, ``on_pcp`` or ``allocated``; its block is
``[p, p + 2^k)`` with ``k`` = free_order, 0 (pcp pages are single pages) or alloc_order.

``Counts`` (``C``), the scalar summary (``struct zone`` fields, list lengths, vmstat):

==========================  ==  =====================================================
``C.max_order``             int
``C.nr_free(o)``            W   ``free_area[o].nr_free``
``C.free_len(o, t)``        W   length of ``free_area[o].free_list[t]``
``C.free_pages(t)``         W   sum over o of ``free_len(o, t) << o``
``C.pcp_count(cpu)``        W   ``pcp[cpu].count``
``C.pcp_len(cpu, t)``       W   length of ``pcp[cpu].lists[t]``
``C.pcp_pages()``           W   sum of every pcp list length, all CPUs
``C.allocated_pages()``     W   pages in blocks in the user's hands
``C.zone_pages()``          W   ``spanned_pages`` (constant)
``C.alloc_batch_init()``    W   high_wmark - low_wmark (constant)
``C.counter(item)``         W   ``vm_stat[item]`` (:class:`rmqueue.model.vmstat.VmItem`)
``C.fair_depleted()``       B   ``ZONE_FAIR_DEPLETED``
==========================  ==  =====================================================

The registry
============
The 16 named invariants of :data:`INVARIANTS` (per step: where the per-step checker
instantiates a page invariant, or the group of a count invariant):

==============================  =====  ==================================================
``block_aligned``               page   pfns put on a list or handed out (``added``)
``blocks_disjoint``             page   not per step (``pages_conserved`` keeps it)
``buddy_flag_on_free_heads``    page   every pfn the record names (``touched``)
``buddies_merged``              page   pfns put on a free list (``free_added``)
``pcp_list_matches_cached_mt``  page   pfns put on a pcp list (``pcp_added``)
``no_isolated_pageblocks``      page   ``free_added``; retypes: ``retype_keeps_cma_isolate``
``cma_pageblocks_whole``        page   not per step (``retype_keeps_cma_isolate`` keeps it)
``cma_lists_match_pageblocks``  page   ``added``; retypes: ``retype_keeps_cma_isolate``
``nr_free_matches_lists``       count  the orders the record touches (differences)
``free_pages_conserved``        count  zone (differences)
``free_cma_pages_conserved``    count  zone (differences)
``pcp_count_matches``           count  the CPUs the record touches (differences)
``zone_pages_conserved``        count  zone (differences)
``vm_events_balance``           count  zone (differences)
``alloc_batch_matches``         count  zone (differences)
``fair_depleted_matches``       count  zone (post state)
==============================  =====  ==================================================

Kinds of invariant
==================
* ``page`` invariants: ``formula(ops, S, p) -> B``, one instance per pfn ``p``.  The
  per-step checker instantiates them at the pfns a transition touched; the full check at
  every pfn; proofs leave ``p`` symbolic.
* ``count`` invariants: ``formula(ops, C, i) -> B`` with ``i`` an order, a CPU or 0 (see
  ``domain``).  Those marked ``linear`` are ``eq(lhs, rhs)`` with both sides linear in the
  accessor's values and every constant read through ``C``; the per-step checker evaluates them
  on the *difference* accessor (post minus pre, constants 0), which is the frame form.
  ``fair_depleted_matches`` is not linear and is evaluated on the post state.
* The pageblock invariants (``no_isolated_pageblocks``, ``cma_pageblocks_whole``,
  ``cma_lists_match_pageblocks``) read ``block_mt``, which a pageblock retype changes at every
  pfn of the pageblock while the record names none of them.  Per step, the transition
  predicate ``retype_keeps_cma_isolate`` of :mod:`rmqueue.specs.transitions` (checked for
  every retyped pageblock: the type stays CMA or non-CMA, and never is ISOLATE) keeps them
  off the record, so they are instantiated only where a record puts a block on a list
  (``cma_pageblocks_whole`` not at all: it reads no per-page field).  The frame lemma of
  :mod:`rmqueue.proofs.frame` proves this.  Reported states carry pageblock types only with
  the protocol's state-detail extension; without them these invariants are skipped
  (:data:`PAGEBLOCK_INVARIANTS`).
* ``nothing_lost`` (blocks disjoint, every page covered exactly once) holds for the whole
  state by ``blocks_disjoint`` + ``zone_pages_conserved``; per step it is the delta formula
  ``pages_conserved`` of :mod:`rmqueue.specs.transitions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from rmqueue.model.buddy import INT_OPS, Ops, block_inside, is_aligned
from rmqueue.model.types import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
)
from rmqueue.model.vmstat import (
    NR_ALLOC_BATCH,
    NR_FREE_CMA_PAGES,
    NR_FREE_PAGES,
    PGALLOC,
    PGFREE,
)

W = TypeVar("W")
B_co = TypeVar("B_co", covariant=True)
W_co = TypeVar("W_co", covariant=True)


class PageView(Protocol, Generic[W, B_co]):
    """The per-page abstract state (see the module docstring)."""

    start: W
    end: W
    max_order: int
    cpus: W

    def buddy(self, p: W) -> B_co: ...
    def buddy_order(self, p: W) -> W: ...
    def on_free(self, p: W) -> B_co: ...
    def free_order(self, p: W) -> W: ...
    def free_mt(self, p: W) -> W: ...
    def on_pcp(self, p: W) -> B_co: ...
    def pcp_cpu(self, p: W) -> W: ...
    def pcp_index(self, p: W) -> W: ...
    def allocated(self, p: W) -> B_co: ...
    def alloc_order(self, p: W) -> W: ...
    def cached_mt(self, p: W) -> W: ...
    def block_mt(self, p: W) -> W: ...


class Counts(Protocol, Generic[W_co, B_co]):
    """The scalar summary of the abstract state (see the module docstring)."""

    max_order: int

    def nr_free(self, o: int) -> W_co: ...
    def free_len(self, o: int, t: int) -> W_co: ...
    def free_pages(self, t: int) -> W_co: ...
    def pcp_count(self, cpu: int) -> W_co: ...
    def pcp_len(self, cpu: int, t: int) -> W_co: ...
    def pcp_pages(self) -> W_co: ...
    def allocated_pages(self) -> W_co: ...
    def zone_pages(self) -> W_co: ...
    def alloc_batch_init(self) -> W_co: ...
    def counter(self, item: int) -> W_co: ...
    def fair_depleted(self) -> B_co: ...


@dataclass(frozen=True, slots=True)
class Invariant:
    """One named invariant.

    ``kind`` is ``"page"`` (``formula(ops, S, p)``) or ``"count"`` (``formula(ops, C, i)``);
    ``domain`` is what ``i`` ranges over for count invariants (``"order"``, ``"cpu"``,
    ``"zone"``: i = 0); ``linear`` marks count invariants checkable on differences.
    ``per_step`` is False for an invariant the per-step checker need not instantiate because
    the step predicates imply it from the pre-state (``blocks_disjoint``: a partition stays a
    partition when ``pages_conserved`` holds); the full check and the proofs still use it.
    ``step_sites`` says at which pfns of a step's record a page invariant is instantiated:
    ``touched`` (every pfn the record names), ``added`` (blocks put on a list or handed out),
    ``free_added``, ``pcp_added``.  The frame argument: an instance reads the pfn's own state
    (and, for ``buddies_merged``, its buddy's, a symmetric relation) and its pageblock's type
    (which only a retype changes, and ``retype_keeps_cma_isolate`` keeps it as the
    invariants need), so it can only turn false where that state was set.
    """

    name: str
    kernel_ref: str
    doc: str
    kind: str
    formula: Callable[..., Any]
    domain: str = "page"
    linear: bool = False
    per_step: bool = True
    step_sites: str = "touched"


# -- helpers (dual) -----------------------------------------------------------------------


def implies(ops: Ops[Any, Any], a: Any, b: Any) -> Any:
    return ops.or_(ops.not_(a), b)


def iff(ops: Ops[Any, Any], a: Any, b: Any) -> Any:
    return ops.or_(ops.and_(a, b), ops.and_(ops.not_(a), ops.not_(b)))


def in_zone(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    return ops.and_(ops.ule(S.start, p), ops.ult(p, S.end))


def is_head(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    return ops.or_(S.on_free(p), S.on_pcp(p), S.allocated(p))


def head_order(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """The order of the block headed by ``p`` (0 for a pcp page)."""
    return ops.ite(
        S.on_free(p), S.free_order(p), ops.ite(S.allocated(p), S.alloc_order(p), ops.val(0))
    )


# -- page invariants ---------------------------------------------------------------------


def block_aligned(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """Every free or allocated block of order k starts at a multiple of 2^k, has k below
    max_order, and lies inside the zone; every pcp page lies inside the zone.  The head itself
    is required inside the zone too, so ``p + 2^k`` cannot wrap on bit-vectors."""
    mo = ops.val(S.max_order)
    fo = S.free_order(p)
    ao = S.alloc_order(p)
    return ops.and_(
        implies(
            ops,
            S.on_free(p),
            ops.and_(ops.ult(fo, mo), is_aligned(ops, p, fo), in_zone(ops, S, p),
                     block_inside(ops, p, fo, S.start, S.end)),
        ),
        implies(
            ops,
            S.allocated(p),
            ops.and_(ops.ult(ao, mo), is_aligned(ops, p, ao), in_zone(ops, S, p),
                     block_inside(ops, p, ao, S.start, S.end)),
        ),
        implies(ops, S.on_pcp(p), in_zone(ops, S, p)),
    )


def blocks_disjoint(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """A head is exactly one of free, pcp, allocated; and no block headed at an aligned
    ancestor pfn of ``p`` (``p`` rounded down to 2^j, j < max_order) covers ``p``.  Two aligned
    blocks that overlap always have this shape, so this instance at every head is pairwise
    disjointness."""
    f, c, a = S.on_free(p), S.on_pcp(p), S.allocated(p)
    exclusive = ops.and_(
        ops.not_(ops.and_(f, c)), ops.not_(ops.and_(f, a)), ops.not_(ops.and_(c, a))
    )
    clauses = [exclusive]
    for j in range(1, S.max_order):
        anc = p & ~((ops.val(1) << ops.val(j)) - ops.val(1))
        clauses.append(
            ops.or_(
                ops.eq(anc, p),
                ops.ult(anc, S.start),
                ops.not_(is_head(ops, S, anc)),
                ops.ule(anc + (ops.val(1) << head_order(ops, S, anc)), p),
            )
        )
    return implies(ops, is_head(ops, S, p), ops.and_(*clauses))


def buddy_flag_on_free_heads(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """PageBuddy is set exactly on the heads of blocks on the free lists, with page_private
    equal to the order of the list the block is on."""
    return ops.and_(
        iff(ops, S.buddy(p), S.on_free(p)),
        implies(ops, S.buddy(p), ops.eq(S.buddy_order(p), S.free_order(p))),
    )


def buddies_merged(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """No free block of order k < max_order-1 has its buddy (``p ^ 2^k``) free at the same
    order on the buddy lists: ``__free_one_page`` would have merged them.  Blocks on ISOLATE
    lists are exempt (their merging is capped)."""
    k = S.free_order(p)
    b = p ^ (ops.val(1) << k)
    both = ops.and_(
        in_zone(ops, S, b),
        S.on_free(b),
        ops.eq(S.free_order(b), k),
        ops.not_(ops.eq(S.free_mt(b), ops.val(MIGRATE_ISOLATE))),
    )
    mergeable = ops.and_(
        S.on_free(p),
        ops.ult(k + ops.val(1), ops.val(S.max_order)),
        ops.not_(ops.eq(S.free_mt(p), ops.val(MIGRATE_ISOLATE))),
    )
    return implies(ops, mergeable, ops.not_(both))


def pcp_list_matches_cached_mt(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """A pcp page sits on list ``cached_mt`` when that is a pcp type (0..2), on the MOVABLE
    list when it is CMA, on any list when RESERVE (a RESERVE-retry refill), never when
    ISOLATE; the list index is below MIGRATE_PCPTYPES and the cpu exists."""
    cm = S.cached_mt(p)
    idx = S.pcp_index(p)
    return implies(
        ops,
        S.on_pcp(p),
        ops.and_(
            ops.ult(idx, ops.val(MIGRATE_PCPTYPES)),
            ops.ult(S.pcp_cpu(p), S.cpus),
            ops.ult(cm, ops.val(MIGRATE_ISOLATE)),
            implies(ops, ops.ult(cm, ops.val(MIGRATE_PCPTYPES)), ops.eq(idx, cm)),
            implies(ops, ops.eq(cm, ops.val(MIGRATE_CMA)), ops.eq(idx, ops.val(MIGRATE_MOVABLE))),
        ),
    )


def no_isolated_pageblocks(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """No pageblock is MIGRATE_ISOLATE and no free block sits on an ISOLATE list: the model
    has no isolation request (so ``nr_isolate_pageblock`` stays 0)."""
    iso = ops.val(MIGRATE_ISOLATE)
    return ops.and_(
        ops.ult(S.block_mt(p), iso),
        implies(ops, S.on_free(p), ops.ult(S.free_mt(p), iso)),
    )


def cma_pageblocks_whole(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """A pageblock is CMA exactly when the first pageblock of its max-order block is."""
    window = p & ~((ops.val(1) << ops.val(S.max_order - 1)) - ops.val(1))
    cma = ops.val(MIGRATE_CMA)
    return iff(ops, ops.eq(S.block_mt(p), cma), ops.eq(S.block_mt(window), cma))


def cma_lists_match_pageblocks(ops: Ops[Any, Any], S: PageView[Any, Any], p: Any) -> Any:
    """A free block is on a CMA list, and a pcp page caches the CMA type, exactly when its
    pageblock is CMA."""
    cma = ops.val(MIGRATE_CMA)
    in_cma = ops.eq(S.block_mt(p), cma)
    return ops.and_(
        implies(ops, S.on_free(p), iff(ops, ops.eq(S.free_mt(p), cma), in_cma)),
        implies(ops, S.on_pcp(p), iff(ops, ops.eq(S.cached_mt(p), cma), in_cma)),
    )


# -- count invariants --------------------------------------------------------------------


def nr_free_matches_lists(ops: Ops[Any, Any], C: Counts[Any, Any], o: int) -> Any:
    """``free_area[o].nr_free`` is the number of blocks on the order-o lists of every type."""
    total = C.free_len(o, 0)
    for t in range(1, MIGRATE_TYPES):
        total = total + C.free_len(o, t)
    return ops.eq(C.nr_free(o), total)


def free_pages_conserved(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """NR_FREE_PAGES is the pages on every free list except ISOLATE's (semantics §7.3)."""
    total = ops.val(0)
    for t in range(MIGRATE_TYPES):
        if t != MIGRATE_ISOLATE:
            total = total + C.free_pages(t)
    return ops.eq(C.counter(NR_FREE_PAGES), total)


def free_cma_pages_conserved(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """NR_FREE_CMA_PAGES is the pages on the CMA free lists.  §7.3 counts by the cached
    type; with no isolated pageblocks, CMA pages only ever carry the CMA type and live on CMA
    lists, so the two agree."""
    return ops.eq(C.counter(NR_FREE_CMA_PAGES), C.free_pages(MIGRATE_CMA))


def pcp_count_matches(ops: Ops[Any, Any], C: Counts[Any, Any], cpu: int) -> Any:
    """``pcp.count`` is the sum of the lengths of that CPU's three lists."""
    total = C.pcp_len(cpu, 0) + C.pcp_len(cpu, 1) + C.pcp_len(cpu, 2)
    return ops.eq(C.pcp_count(cpu), total)


def zone_pages_conserved(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """Zone pages = pages on the buddy lists + pages on pcp lists + allocated pages."""
    total = ops.val(0)
    for t in range(MIGRATE_TYPES):
        total = total + C.free_pages(t)
    return ops.eq(C.zone_pages(), total + C.pcp_pages() + C.allocated_pages())


def vm_events_balance(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """PGFREE - PGALLOC is the pages not in the user's hands (boot frees every page through
    ``__free_pages``, so PGFREE starts at the zone size)."""
    return ops.eq(C.counter(PGFREE), C.counter(PGALLOC) + C.zone_pages() - C.allocated_pages())


def alloc_batch_matches(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """NR_ALLOC_BATCH starts at high - low and only ``buffered_rmqueue`` lowers it, by the
    pages it hands out: NR_ALLOC_BATCH + PGALLOC = high_wmark - low_wmark."""
    return ops.eq(C.counter(NR_ALLOC_BATCH) + C.counter(PGALLOC), C.alloc_batch_init())


def fair_depleted_matches(ops: Ops[Any, Any], C: Counts[Any, Any], i: int) -> Any:
    """ZONE_FAIR_DEPLETED is set exactly when an allocation has brought NR_ALLOC_BATCH to 0
    or below (nothing in the model resets it)."""
    alloc = C.counter(PGALLOC)
    depleted = ops.and_(
        ops.not_(ops.eq(alloc, ops.val(0))), ops.ule(C.alloc_batch_init(), alloc)
    )
    return iff(ops, C.fair_depleted(), depleted)


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("block_aligned", "mm/page_alloc.c v4.3 __free_one_page/expand; semantics §7.3",
              block_aligned.__doc__ or "", "page", block_aligned, step_sites="added"),
    Invariant("blocks_disjoint", "semantics §7.3 (free blocks never overlap)",
              blocks_disjoint.__doc__ or "", "page", blocks_disjoint, per_step=False),
    Invariant("buddy_flag_on_free_heads", "set_page_order/rmv_page_order; semantics §3",
              buddy_flag_on_free_heads.__doc__ or "", "page", buddy_flag_on_free_heads),
    Invariant("buddies_merged", "__free_one_page, mm/page_alloc.c v4.3",
              buddies_merged.__doc__ or "", "page", buddies_merged, step_sites="free_added"),
    Invariant("pcp_list_matches_cached_mt",
              "free_hot_cold_page/rmqueue_bulk; semantics §11.3",
              pcp_list_matches_cached_mt.__doc__ or "", "page", pcp_list_matches_cached_mt,
              step_sites="pcp_added"),
    Invariant("no_isolated_pageblocks", "nr_isolate_pageblock == 0; semantics §2.2",
              no_isolated_pageblocks.__doc__ or "", "page", no_isolated_pageblocks,
              step_sites="free_added"),
    Invariant("cma_pageblocks_whole", "init_cma_reserved_pageblock; protocol.md boot",
              cma_pageblocks_whole.__doc__ or "", "page", cma_pageblocks_whole,
              per_step=False),
    Invariant("cma_lists_match_pageblocks", "__free_one_page/free_hot_cold_page; §7.3",
              cma_lists_match_pageblocks.__doc__ or "", "page", cma_lists_match_pageblocks,
              step_sites="added"),
    Invariant("nr_free_matches_lists", "struct free_area; semantics §7.3",
              nr_free_matches_lists.__doc__ or "", "count", nr_free_matches_lists,
              "order", True),
    Invariant("free_pages_conserved", "__mod_zone_freepage_state; semantics §7.3",
              free_pages_conserved.__doc__ or "", "count", free_pages_conserved, "zone", True),
    Invariant("free_cma_pages_conserved", "__mod_zone_freepage_state; semantics §7.3",
              free_cma_pages_conserved.__doc__ or "", "count", free_cma_pages_conserved,
              "zone", True),
    Invariant("pcp_count_matches", "struct per_cpu_pages; semantics §7.3",
              pcp_count_matches.__doc__ or "", "count", pcp_count_matches, "cpu", True),
    Invariant("zone_pages_conserved", "semantics §7.3",
              zone_pages_conserved.__doc__ or "", "count", zone_pages_conserved, "zone", True),
    Invariant("vm_events_balance", "__count_zone_vm_events(PGALLOC)/PGFREE; semantics §7",
              vm_events_balance.__doc__ or "", "count", vm_events_balance, "zone", True),
    Invariant("alloc_batch_matches", "buffered_rmqueue NR_ALLOC_BATCH; semantics §7.2",
              alloc_batch_matches.__doc__ or "", "count", alloc_batch_matches, "zone", True),
    Invariant("fair_depleted_matches", "buffered_rmqueue ZONE_FAIR_DEPLETED; semantics §7.2",
              fair_depleted_matches.__doc__ or "", "count", fair_depleted_matches, "zone",
              False),
)

BY_NAME: dict[str, Invariant] = {inv.name: inv for inv in INVARIANTS}


def conjunction(invs: tuple[Invariant, ...]) -> Callable[..., Any]:
    """The formula ``and_`` of several invariants' formulas (same kind), for evaluators that
    test a group at once and re-test its members only to name a failure."""

    def formula(ops: Ops[Any, Any], view: Any, i: Any) -> Any:
        return ops.and_(*(inv.formula(ops, view, i) for inv in invs))

    formula.__name__ = "+".join(inv.name for inv in invs)
    return formula


PAGE_INVARIANTS = tuple(i for i in INVARIANTS if i.kind == "page")
COUNT_INVARIANTS = tuple(i for i in INVARIANTS if i.kind == "count")


class _ReadsPageblocks:
    """A PageView on ints that reads 0 everywhere and notes whether ``block_mt`` was read."""

    start, end, cpus = 0, 1 << 20, 1

    def __init__(self, max_order: int) -> None:
        self.max_order = max_order
        self.read = False

    def block_mt(self, p: int) -> int:
        self.read = True
        return 0

    def __getattr__(self, name: str) -> Callable[[int], int]:
        return lambda p: 0


def reads_pageblocks(inv: Invariant, max_order: int = 11) -> bool:
    """Whether a page invariant's formula reads ``S.block_mt`` (traced on ints: every
    accessor call of a formula happens whatever the values, the backend being eager)."""
    view = _ReadsPageblocks(max_order)
    inv.formula(INT_OPS, view, 0)
    return view.read


# The page invariants a state without pageblock types cannot judge (reported states without
# the state-detail extension skip them).
PAGEBLOCK_INVARIANTS = tuple(i for i in PAGE_INVARIANTS if reads_pageblocks(i))

__all__ = [
    "BY_NAME",
    "COUNT_INVARIANTS",
    "INVARIANTS",
    "PAGEBLOCK_INVARIANTS",
    "PAGE_INVARIANTS",
    "Counts",
    "Invariant",
    "PageView",
    "conjunction",
    "reads_pageblocks",
]
