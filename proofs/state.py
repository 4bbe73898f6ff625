"""A fully symbolic zone: the abstract state of :mod:`rmqueue.specs.invariants` over Z3.

One :class:`SymState` is both accessors of the registry: the ``PageView`` (per-page maps as
Z3 arrays over 64-bit pfns) and the ``Counts`` (bit-vector counters, list lengths as ghost
words).  Lists are abstracted as membership plus length (list order is irrelevant to every
invariant); a length changes only through :class:`Step`'s list operations, each of which
records the side condition that makes the change exact (pushing a page that is not on a list,
unlinking one that is): the delta form of "length = number of members".

CPU 0 is the CPU that runs the transition (any CPU, by symmetry); CPU 1 stands for every
other CPU, whose lists no transition touches.  The pageblock types (``block_mt``), which the
registry's ``PageView`` does not carry, are a map indexed by the pageblock's first pfn.
Per-page fields have the widths of the packed page word of the specs
(:data:`rmqueue.specs.sorts.PAGE_FIELDS`: orders 5 bits, types 3, ...), zero-extended to
words: every value the model can store fits, and the solver's shifts stay small.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rmqueue.model.buddy import pageblock_start
from rmqueue.model.types import MIGRATE_PCPTYPES, MIGRATE_TYPES
from rmqueue.model.vmstat import NR_VM_ITEMS, VmItem
from rmqueue.specs.sorts import PAGE_FIELDS, PFN_LIMIT

from ._z3 import BV, OPS, Bool, Map, bool_map, boolean, word, word_map

CPUS_MODELLED = 2


@dataclass(frozen=True, slots=True)
class Geometry:
    """The concrete zone parameters a proof row fixes; start and size stay symbolic."""

    max_order: int
    pageblock_order: int

    @property
    def name(self) -> str:
        return f"mo{self.max_order}/pb{self.pageblock_order}"


LINUX = Geometry(11, 9)
SMALL = Geometry(4, 2)


@dataclass(frozen=True, slots=True)
class SymState:
    """The abstract zone state; see the module docstring and specs/invariants.py."""

    geo: Geometry
    start: BV
    end: BV
    cpus: BV
    mobility_disabled: Bool
    a_buddy: Map
    a_buddy_order: Map
    a_on_free: Map
    a_free_order: Map
    a_free_mt: Map
    a_on_pcp: Map
    a_pcp_cpu: Map
    a_pcp_index: Map
    a_allocated: Map
    a_alloc_order: Map
    a_cached_mt: Map
    a_block_mt: Map
    c_nr_free: tuple[BV, ...]
    c_free_len: tuple[tuple[BV, ...], ...]
    c_pcp_count: tuple[BV, ...]
    c_pcp_len: tuple[tuple[BV, ...], ...]
    c_other_pcp_pages: BV
    c_high: BV
    c_batch: BV
    c_allocated_pages: BV
    c_alloc_batch_init: BV
    c_counters: tuple[BV, ...]
    c_fair: Bool

    # -- PageView ---------------------------------------------------------------------------

    @property
    def max_order(self) -> int:
        return self.geo.max_order

    def buddy(self, p: BV) -> Bool:
        return self.a_buddy(p)

    def buddy_order(self, p: BV) -> BV:
        return self.a_buddy_order(p)

    def on_free(self, p: BV) -> Bool:
        return self.a_on_free(p)

    def free_order(self, p: BV) -> BV:
        return self.a_free_order(p)

    def free_mt(self, p: BV) -> BV:
        return self.a_free_mt(p)

    def on_pcp(self, p: BV) -> Bool:
        return self.a_on_pcp(p)

    def pcp_cpu(self, p: BV) -> BV:
        return self.a_pcp_cpu(p)

    def pcp_index(self, p: BV) -> BV:
        return self.a_pcp_index(p)

    def allocated(self, p: BV) -> Bool:
        return self.a_allocated(p)

    def alloc_order(self, p: BV) -> BV:
        return self.a_alloc_order(p)

    def cached_mt(self, p: BV) -> BV:
        return self.a_cached_mt(p)

    def block_mt(self, p: BV) -> BV:
        """``get_pageblock_migratetype(p)`` (not in the registry's PageView)."""
        return self.a_block_mt(self.pageblock_of(p))

    def pageblock_of(self, p: BV) -> BV:
        return pageblock_start(OPS, p, OPS.val(self.geo.pageblock_order))

    # -- Counts -----------------------------------------------------------------------------

    def nr_free(self, o: int) -> BV:
        return self.c_nr_free[o]

    def nr_free_at(self, o: BV) -> BV:
        """``nr_free`` at a symbolic order."""
        v = OPS.val(0)
        for k in range(self.geo.max_order):
            v = OPS.ite(OPS.eq(o, OPS.val(k)), self.c_nr_free[k], v)
        return v

    def free_len(self, o: int, t: int) -> BV:
        return self.c_free_len[o][t]

    def free_pages(self, t: int) -> BV:
        # A product by a constant, not a shift: Z3 normalises sums of products as
        # polynomials, so a step's small change to one length cancels symbolically.
        total = OPS.val(0)
        for o in range(self.geo.max_order):
            total = total + self.c_free_len[o][t] * OPS.val(1 << o)
        return total

    def pcp_count(self, cpu: int) -> BV:
        return self.c_pcp_count[cpu]

    def pcp_len(self, cpu: int, t: int) -> BV:
        return self.c_pcp_len[cpu][t]

    def pcp_pages(self) -> BV:
        total = self.c_other_pcp_pages
        for t in range(MIGRATE_PCPTYPES):
            total = total + self.c_pcp_len[0][t]
        return total

    def allocated_pages(self) -> BV:
        return self.c_allocated_pages

    def zone_pages(self) -> BV:
        return self.end - self.start

    def alloc_batch_init(self) -> BV:
        return self.c_alloc_batch_init

    def counter(self, item: int) -> BV:
        return self.c_counters[item]

    def fair_depleted(self) -> Bool:
        return self.c_fair


def _bits(field: str) -> int:
    return PAGE_FIELDS[field][1]


def fresh(geo: Geometry, tag: str = "") -> SymState:
    """A state in which every field is a fresh Z3 constant (havoc)."""

    def w(name: str) -> BV:
        return word(f"{tag}{name}")

    return SymState(
        geo=geo,
        start=w("zone_start_pfn"),
        end=w("zone_end_pfn"),
        cpus=w("nr_cpus"),
        mobility_disabled=boolean(f"{tag}page_group_by_mobility_disabled"),
        a_buddy=bool_map(f"{tag}PageBuddy"),
        a_buddy_order=word_map(f"{tag}page_private", _bits("buddy_order")),
        a_on_free=bool_map(f"{tag}on_free"),
        a_free_order=word_map(f"{tag}free_order", _bits("free_order")),
        a_free_mt=word_map(f"{tag}free_mt", _bits("free_mt")),
        a_on_pcp=bool_map(f"{tag}on_pcp"),
        a_pcp_cpu=word_map(f"{tag}pcp_cpu", _bits("pcp_cpu")),
        a_pcp_index=word_map(f"{tag}pcp_index", _bits("pcp_index")),
        a_allocated=bool_map(f"{tag}allocated"),
        a_alloc_order=word_map(f"{tag}alloc_order", _bits("alloc_order")),
        a_cached_mt=word_map(f"{tag}cached_mt", _bits("cached_mt")),
        a_block_mt=word_map(f"{tag}pageblock_mt", _bits("cached_mt")),
        c_nr_free=tuple(w(f"nr_free[{o}]") for o in range(geo.max_order)),
        c_free_len=tuple(
            tuple(w(f"len(free_list[{o}][{t}])") for t in range(MIGRATE_TYPES))
            for o in range(geo.max_order)
        ),
        c_pcp_count=tuple(w(f"pcp[{c}].count") for c in range(CPUS_MODELLED)),
        c_pcp_len=tuple(
            tuple(w(f"len(pcp[{c}].lists[{t}])") for t in range(MIGRATE_PCPTYPES))
            for c in range(CPUS_MODELLED)
        ),
        c_other_pcp_pages=w("pcp_pages_of_other_cpus"),
        c_high=w("pcp[0].high"),
        c_batch=w("pcp[0].batch"),
        c_allocated_pages=w("allocated_pages"),
        c_alloc_batch_init=w("high_wmark-low_wmark"),
        c_counters=tuple(w(VmItem(i).name) for i in range(NR_VM_ITEMS)),
        c_fair=boolean(f"{tag}ZONE_FAIR_DEPLETED"),
    )


def _bump(v: BV, cond: Bool, delta: BV) -> BV:
    return v + OPS.ite(cond, delta, OPS.val(0))


class Step:
    """A transition under construction: the current state, the pfns it touched and the side
    conditions of its list operations (each a ``(name, formula)`` that must hold)."""

    def __init__(self, pre: SymState) -> None:
        self.s = pre
        self.touched: list[BV] = []
        self.side: list[tuple[str, Bool]] = []
        self.guards: list[Bool] = []
        self.notes: dict[str, BV] = {}

    def touch(self, *pfns: BV) -> None:
        for p in pfns:
            if not any(p is q for q in self.touched):
                self.touched.append(p)

    def assume(self, *conds: Bool) -> None:
        self.guards.extend(conds)

    def pfn(self, name: str) -> BV:
        """A pfn the transition picks (a list head, the page freed...): any word below
        ``PFN_LIMIT``, the pfn range of every zone (``ZoneConfig``)."""
        x = word(name)
        self.guards.append(OPS.ult(x, OPS.val(PFN_LIMIT)))
        self.touch(x)
        return x

    def establish(self, name: str, cond: Bool) -> None:
        """A loop invariant's extra conjunct that must hold after this step (proved with the
        list side conditions)."""
        self.side.append((name, cond))

    # -- free lists -------------------------------------------------------------------------

    def free_add(self, x: BV, o: BV, t: BV, cond: Bool) -> None:
        """``list_add`` of block ``x`` on ``free_area[o].free_list[t]`` plus ``set_page_order``
        (``nr_free`` is the caller's, as in the kernel), when ``cond``."""
        s = self.s
        self.touch(x)
        self.side.append(("free_add of a page on no list", OPS.or_(
            OPS.not_(cond), OPS.and_(OPS.not_(s.on_free(x)), OPS.not_(s.on_pcp(x)))
        )))
        lens = tuple(
            tuple(
                _bump(s.c_free_len[k][tt], OPS.and_(cond, OPS.eq(o, OPS.val(k)),
                                                   OPS.eq(t, OPS.val(tt))), OPS.val(1))
                for tt in range(MIGRATE_TYPES)
            )
            for k in range(s.geo.max_order)
        )
        self.s = replace(
            s,
            a_on_free=s.a_on_free.store(x, True, cond),
            a_free_order=s.a_free_order.store(x, o, cond),
            a_free_mt=s.a_free_mt.store(x, t, cond),
            a_buddy=s.a_buddy.store(x, True, cond),
            a_buddy_order=s.a_buddy_order.store(x, o, cond),
            c_free_len=lens,
        )

    def free_del(self, x: BV, cond: Bool, clear_buddy: bool = True) -> None:
        """``list_del`` of block ``x`` from whatever free list it is on, then (normally)
        ``rmv_page_order``, when ``cond``."""
        s = self.s
        self.touch(x)
        self.side.append(("free_del of a page on a free list",
                          OPS.or_(OPS.not_(cond), s.on_free(x))))
        o, t = s.free_order(x), s.free_mt(x)
        lens = tuple(
            tuple(
                _bump(s.c_free_len[k][tt], OPS.and_(cond, OPS.eq(o, OPS.val(k)),
                                                   OPS.eq(t, OPS.val(tt))), OPS.val(-1))
                for tt in range(MIGRATE_TYPES)
            )
            for k in range(s.geo.max_order)
        )
        new = replace(
            s,
            a_on_free=s.a_on_free.store(x, False, cond),
            c_free_len=lens,
        )
        if clear_buddy:
            new = replace(
                new,
                a_buddy=s.a_buddy.store(x, False, cond),
                a_buddy_order=s.a_buddy_order.store(x, OPS.val(0), cond),
            )
        self.s = new

    def nr_free_add(self, o: BV, delta: int, cond: Bool) -> None:
        s = self.s
        self.s = replace(s, c_nr_free=tuple(
            _bump(s.c_nr_free[k], OPS.and_(cond, OPS.eq(o, OPS.val(k))), OPS.val(delta))
            for k in range(s.geo.max_order)
        ))

    # -- pcp lists (CPU 0) ------------------------------------------------------------------

    def pcp_add(self, x: BV, index: BV, cond: Bool) -> None:
        s = self.s
        self.touch(x)
        self.side.append(("pcp_add of a page on no list", OPS.or_(
            OPS.not_(cond), OPS.and_(OPS.not_(s.on_free(x)), OPS.not_(s.on_pcp(x)))
        )))
        lens0 = tuple(
            _bump(s.c_pcp_len[0][t], OPS.and_(cond, OPS.eq(index, OPS.val(t))), OPS.val(1))
            for t in range(MIGRATE_PCPTYPES)
        )
        self.s = replace(
            s,
            a_on_pcp=s.a_on_pcp.store(x, True, cond),
            a_pcp_cpu=s.a_pcp_cpu.store(x, OPS.val(0), cond),
            a_pcp_index=s.a_pcp_index.store(x, index, cond),
            c_pcp_len=(lens0, *s.c_pcp_len[1:]),
        )

    def pcp_del(self, x: BV, cond: Bool) -> None:
        s = self.s
        self.touch(x)
        self.side.append(("pcp_del of a page on CPU 0's pcp lists", OPS.or_(
            OPS.not_(cond), OPS.and_(s.on_pcp(x), OPS.eq(s.pcp_cpu(x), OPS.val(0)))
        )))
        index = s.pcp_index(x)
        lens0 = tuple(
            _bump(s.c_pcp_len[0][t], OPS.and_(cond, OPS.eq(index, OPS.val(t))), OPS.val(-1))
            for t in range(MIGRATE_PCPTYPES)
        )
        self.s = replace(
            s,
            a_on_pcp=s.a_on_pcp.store(x, False, cond),
            c_pcp_len=(lens0, *s.c_pcp_len[1:]),
        )

    def pcp_count_add(self, delta: BV, cond: Bool) -> None:
        s = self.s
        self.s = replace(s, c_pcp_count=(_bump(s.c_pcp_count[0], cond, delta),
                                         *s.c_pcp_count[1:]))

    # -- user blocks, page fields, counters -----------------------------------------------

    def set_allocated(self, x: BV, order: BV, cond: Bool) -> None:
        s = self.s
        self.touch(x)
        self.s = replace(
            s,
            a_allocated=s.a_allocated.store(x, True, cond),
            a_alloc_order=s.a_alloc_order.store(x, order, cond),
            c_allocated_pages=_bump(s.c_allocated_pages, cond, OPS.val(1) << order),
        )

    def clear_allocated(self, x: BV, order: BV) -> None:
        s = self.s
        self.touch(x)
        self.s = replace(
            s,
            a_allocated=s.a_allocated.store(x, False),
            c_allocated_pages=s.c_allocated_pages - (OPS.val(1) << order),
        )

    def set_cached_mt(self, x: BV, mt: BV, cond: Bool) -> None:
        s = self.s
        self.s = replace(s, a_cached_mt=s.a_cached_mt.store(x, mt, cond))

    def counter_add(self, item: int, delta: BV, cond: Bool | None = None) -> None:
        s = self.s
        c = list(s.c_counters)
        c[item] = c[item] + delta if cond is None else _bump(c[item], cond, delta)
        self.s = replace(s, c_counters=tuple(c))

    def set(self, **changes: Any) -> None:
        self.s = replace(self.s, **changes)


__all__ = ["LINUX", "SMALL", "Geometry", "Step", "SymState", "fresh"]
