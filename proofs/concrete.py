"""Concrete abstract states: the bridge between a model :class:`Zone` and a :class:`SymState`.

A :class:`Concrete` is the abstract state of :mod:`rmqueue.specs.invariants` (the fields of
:class:`~rmqueue.proofs.state.SymState`) as plain ints over one finite zone
``[start, end)``.  Three conversions, used by the counterexample transfer
(:mod:`rmqueue.proofs.concretize`) and the agreement test (:mod:`rmqueue.proofs.agreement`):

* :func:`from_zone`: what a model zone holds, in the abstract state's terms (CPU 0 is the
  proofs' CPU 0, every other CPU is summed into the proofs' CPU 1);
* :func:`pin` / :func:`read`: the facts that a ``SymState`` equals a ``Concrete`` at every pfn
  of the zone, every pageblock and every count; and a ``Concrete`` read back from a Z3 model;
* :func:`to_allocator`: a model :class:`Allocator` whose zone holds a ``Concrete`` (list order
  chosen by ``heads``: the pfns named there are linked first, the rest in pfn order).

Fields whose value means nothing (``free_order`` of a page on no free list, ``buddy_order``
without PageBuddy...) are stored as 0, and :func:`differences` ignores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.types import MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES
from rmqueue.model.vmstat import NR_VM_ITEMS
from rmqueue.model.zone import Zone
from rmqueue.specs.sorts import WORD_BITS

from . import _z3
from ._z3 import OPS, Bool
from .state import CPUS_MODELLED, Geometry, SymState

MASK = (1 << WORD_BITS) - 1
PAGE_FIELDS = ("buddy", "buddy_order", "on_free", "free_order", "free_mt", "on_pcp", "pcp_cpu",
               "pcp_index", "allocated", "alloc_order", "cached_mt")
# a field and the flag that makes it meaningful
MEANINGFUL = {"buddy_order": "buddy", "free_order": "on_free", "free_mt": "on_free",
              "pcp_cpu": "on_pcp", "pcp_index": "on_pcp", "alloc_order": "allocated"}


def count_names(nr_free: Sequence[Any], free_len: Sequence[Sequence[Any]],
                pcp_count: Sequence[Any], pcp_len: Sequence[Sequence[Any]],
                counters: Sequence[Any]) -> dict[str, Any]:
    """The counts of a state by name (``nr_free[o]``, ``len(free_list[o][t])``, ...), for
    concrete values and symbolic terms alike, so that the two are compared name by name."""
    out: dict[str, Any] = {}
    for o, v in enumerate(nr_free):
        out[f"nr_free[{o}]"] = v
        for t in range(MIGRATE_TYPES):
            out[f"len(free_list[{o}][{t}])"] = free_len[o][t]
    for c in range(CPUS_MODELLED):
        out[f"pcp[{c}].count"] = pcp_count[c]
        for t in range(MIGRATE_PCPTYPES):
            out[f"len(pcp[{c}].lists[{t}])"] = pcp_len[c][t]
    for item in range(NR_VM_ITEMS):
        out[f"vm_stat[{item}]"] = counters[item]
    return out


@dataclass(slots=True)
class Concrete:
    """The abstract state over ``[start, end)`` as ints (booleans as 0/1)."""

    geo: Geometry
    start: int
    end: int
    cpus: int
    mobility_disabled: bool
    pages: dict[str, list[int]]
    block_mt: dict[int, int]
    nr_free: list[int]
    free_len: list[list[int]]
    pcp_count: list[int]
    pcp_len: list[list[int]]
    other_pcp_pages: int
    high: int
    batch: int
    allocated_pages: int
    alloc_batch_init: int
    counters: list[int]
    fair: bool
    heads: list[int] = field(default_factory=list)

    def page(self, pfn: int) -> dict[str, int]:
        i = pfn - self.start
        return {f: self.pages[f][i] for f in PAGE_FIELDS}

    def pageblocks(self) -> list[int]:
        pb = self.geo.pageblock_order
        first = self.start >> pb << pb
        return list(range(first, self.end, 1 << pb))

    def scalars(self) -> dict[str, int]:
        out: dict[str, int] = {"start": self.start, "end": self.end, "cpus": self.cpus,
                               "mobility_disabled": int(self.mobility_disabled),
                               "other_pcp_pages": self.other_pcp_pages, "high": self.high,
                               "batch": self.batch, "allocated_pages": self.allocated_pages,
                               "alloc_batch_init": self.alloc_batch_init, "fair": int(self.fair)}
        out.update(count_names(self.nr_free, self.free_len, self.pcp_count, self.pcp_len,
                               self.counters))
        return out


def signed(v: int) -> int:
    """A 64-bit word as the kernel's ``long``."""
    v &= MASK
    return v - (1 << WORD_BITS) if v >> (WORD_BITS - 1) else v


def from_zone(zone: Zone, geo: Geometry) -> Concrete:
    """The abstract state of a model zone (the specs' reading of ``list_of``, ``buddy_order``,
    ``alloc_order``); every CPU but 0 is folded into the proofs' CPU 1."""
    n = zone.spanned_pages
    nfl = zone.nr_free_lists
    pages: dict[str, list[int]] = {f: [0] * n for f in PAGE_FIELDS}
    for i in range(n):
        bo, lid, ao = zone.buddy_order[i], zone.list_of[i], zone.alloc_order[i]
        if bo >= 0:
            pages["buddy"][i], pages["buddy_order"][i] = 1, bo
        if 0 <= lid < nfl:
            pages["on_free"][i] = 1
            pages["free_order"][i], pages["free_mt"][i] = divmod(lid, MIGRATE_TYPES)
        elif lid >= nfl:
            cpu, index = divmod(lid - nfl, MIGRATE_PCPTYPES)
            pages["on_pcp"][i] = 1
            pages["pcp_cpu"][i], pages["pcp_index"][i] = min(cpu, 1), index
        if ao >= 0:
            pages["allocated"][i], pages["alloc_order"][i] = 1, ao
        pages["cached_mt"][i] = zone.cached_mt[i]
    pb = zone.pageblock_order
    first = zone.zone_start_pfn >> pb << pb
    block_mt = {b: zone.get_pageblock_migratetype(max(b, zone.zone_start_pfn))
                for b in range(first, zone.end_pfn, 1 << pb)}
    free_len = [[sum(1 for _ in zone.iter_list(o * MIGRATE_TYPES + t))
                 for t in range(MIGRATE_TYPES)] for o in range(zone.max_order)]
    lens = [[len(zone.pcp_list(c, t)) for t in range(MIGRATE_PCPTYPES)]
            for c in range(len(zone.pageset))]
    pcp_count = [zone.pageset[0].count, sum(p.count for p in zone.pageset[1:])]
    pcp_len = [lens[0], [sum(row[t] for row in lens[1:]) for t in range(MIGRATE_PCPTYPES)]]
    cfg = zone.config
    return Concrete(
        geo=geo, start=zone.zone_start_pfn, end=zone.end_pfn, cpus=len(zone.pageset),
        mobility_disabled=zone.page_group_by_mobility_disabled, pages=pages,
        block_mt=block_mt, nr_free=[a.nr_free for a in zone.free_area], free_len=free_len,
        pcp_count=pcp_count, pcp_len=pcp_len, other_pcp_pages=sum(pcp_len[1]),
        high=zone.pageset[0].high, batch=zone.pageset[0].batch,
        allocated_pages=sum(1 << o for o in zone.alloc_order if o >= 0),
        alloc_batch_init=cfg.wmark_high - cfg.wmark_low,
        counters=list(zone.vm_stat), fair=zone.fair_depleted,
    )


def _page_terms(s: SymState, q: object) -> dict[str, object]:
    return {"buddy": s.buddy(q), "buddy_order": s.buddy_order(q), "on_free": s.on_free(q),
            "free_order": s.free_order(q), "free_mt": s.free_mt(q), "on_pcp": s.on_pcp(q),
            "pcp_cpu": s.pcp_cpu(q), "pcp_index": s.pcp_index(q),
            "allocated": s.allocated(q), "alloc_order": s.alloc_order(q),
            "cached_mt": s.cached_mt(q)}


BOOL_FIELDS = ("buddy", "on_free", "on_pcp", "allocated")


def _scalar_terms(s: SymState) -> dict[str, object]:
    out: dict[str, object] = {"start": s.start, "end": s.end, "cpus": s.cpus,
                              "other_pcp_pages": s.c_other_pcp_pages, "high": s.c_high,
                              "batch": s.c_batch, "allocated_pages": s.c_allocated_pages,
                              "alloc_batch_init": s.c_alloc_batch_init}
    out.update(count_names(s.c_nr_free, s.c_free_len, s.c_pcp_count, s.c_pcp_len,
                           s.c_counters))
    return out


def pin(s: SymState, c: Concrete, meaningful_only: bool = False) -> list[Bool]:
    """``s`` equals ``c`` at every pfn of ``c``'s zone, every pageblock and every count
    (``meaningful_only``: per-page fields only where their flag is set)."""
    o = OPS
    facts: list[Bool] = [o.eq(s.start, o.val(c.start)), o.eq(s.end, o.val(c.end))]
    facts.append(s.mobility_disabled if c.mobility_disabled else o.not_(s.mobility_disabled))
    facts.append(s.c_fair if c.fair else o.not_(s.c_fair))
    scal = c.scalars()
    for name, term in _scalar_terms(s).items():
        facts.append(o.eq(term, o.val(scal[name] & MASK)))
    for i, pfn in enumerate(range(c.start, c.end)):
        terms = _page_terms(s, o.val(pfn))
        for f, term in terms.items():
            v = c.pages[f][i]
            if f in BOOL_FIELDS:
                facts.append(term if v else o.not_(term))
            elif not meaningful_only or f not in MEANINGFUL or c.pages[MEANINGFUL[f]][i]:
                facts.append(o.eq(term, o.val(v)))
    for b, mt in c.block_mt.items():
        facts.append(o.eq(s.block_mt(o.val(b)), o.val(mt)))
    return facts


def read(model: object, s: SymState, start: int, end: int) -> Concrete:
    """The state ``s`` takes in a Z3 model, over ``[start, end)``."""
    ev, eb = _z3.eval_int, _z3.eval_bool
    n = end - start
    pages: dict[str, list[int]] = {f: [0] * n for f in PAGE_FIELDS}
    for i in range(n):
        for f, term in _page_terms(s, OPS.val(start + i)).items():
            pages[f][i] = int(eb(model, term)) if f in BOOL_FIELDS else ev(model, term)
        for f, flag in MEANINGFUL.items():
            if not pages[flag][i]:
                pages[f][i] = 0
    pb = s.geo.pageblock_order
    block_mt = {b: ev(model, s.block_mt(OPS.val(b)))
                for b in range(start >> pb << pb, end, 1 << pb)}
    return Concrete(
        geo=s.geo, start=start, end=end, cpus=ev(model, s.cpus),
        mobility_disabled=eb(model, s.mobility_disabled), pages=pages, block_mt=block_mt,
        **_scalars(model, s))


def _scalars(model: Any, s: SymState) -> dict[str, Any]:
    """The scalar part of a :class:`Concrete` (counts, pcp sizing, counters) from a model."""
    ev, eb = _z3.eval_int, _z3.eval_bool
    mo = s.max_order
    return dict(
        nr_free=[ev(model, s.c_nr_free[k]) for k in range(mo)],
        free_len=[[ev(model, s.c_free_len[k][t]) for t in range(MIGRATE_TYPES)]
                  for k in range(mo)],
        pcp_count=[ev(model, s.c_pcp_count[c]) for c in range(CPUS_MODELLED)],
        pcp_len=[[ev(model, s.c_pcp_len[c][t]) for t in range(MIGRATE_PCPTYPES)]
                 for c in range(CPUS_MODELLED)],
        other_pcp_pages=ev(model, s.c_other_pcp_pages), high=ev(model, s.c_high),
        batch=ev(model, s.c_batch), allocated_pages=ev(model, s.c_allocated_pages),
        alloc_batch_init=ev(model, s.c_alloc_batch_init),
        counters=[signed(ev(model, s.c_counters[k])) for k in range(NR_VM_ITEMS)],
        fair=eb(model, s.c_fair),
    )


def differences(a: Concrete, b: Concrete, limit: int = 12) -> list[str]:
    """Where two states differ (meaningful fields only), as ``name: a != b`` lines."""
    out = []
    sa, sb = a.scalars(), b.scalars()
    for k in sa:
        x, y = sa[k] & MASK, sb[k] & MASK
        if x != y:
            out.append(f"{k}: {signed(x)} != {signed(y)}")
    for i, pfn in enumerate(range(a.start, a.end)):
        for f in PAGE_FIELDS:
            flag = MEANINGFUL.get(f)
            if flag and not (a.pages[flag][i] or b.pages[flag][i]):
                continue
            if a.pages[f][i] != b.pages[f][i]:
                out.append(f"pfn {pfn} {f}: {a.pages[f][i]} != {b.pages[f][i]}")
    for blk in a.block_mt:
        if a.block_mt[blk] != b.block_mt.get(blk):
            out.append(f"pageblock {blk} type: {a.block_mt[blk]} != {b.block_mt.get(blk)}")
    return out[:limit]


def cma_pageblocks(c: Concrete) -> tuple[int, ...]:
    """The CMA pageblock indexes of ``c`` as ``ZoneConfig.cma_pageblocks`` (``ZoneConfig``
    refuses them unless they form whole max-order blocks inside the zone)."""
    pb = c.geo.pageblock_order
    first = c.start >> pb
    return tuple(sorted((b >> pb) - first for b, mt in c.block_mt.items() if mt == MIGRATE_CMA))


def to_allocator(c: Concrete) -> Allocator:
    """A model allocator whose zone holds ``c``: the config from ``c``'s parameters (two CPUs
    when the proofs' CPU 1 holds pages, else one; watermarks ``0/0/alloc_batch_init``), the
    lists linked with ``c.heads`` first.  Raises ``ConfigError`` if ``c`` is no valid zone."""
    cpus = 2 if c.pcp_count[1] or c.other_pcp_pages or c.cpus >= 2 else 1
    cfg = ZoneConfig(
        start_pfn=c.start, pages=c.end - c.start, max_order=c.geo.max_order,
        pageblock_order=c.geo.pageblock_order, cpus=cpus, pcp_high=c.high,
        pcp_batch=c.batch, wmark_min=0, wmark_low=0, wmark_high=c.alloc_batch_init,
        mobility_grouping=not c.mobility_disabled, reserve_pageblocks=0,
        cma_pageblocks=cma_pageblocks(c),
    )
    a = Allocator(cfg)
    a.zone = zone = Zone.empty(cfg)
    s0 = c.start
    pb = c.geo.pageblock_order
    for b, mt in c.block_mt.items():
        zone.pageblock_mt[(b >> pb) - (s0 >> pb)] = mt
    members: dict[int, list[int]] = {}
    nfl = zone.nr_free_lists
    for i in range(c.end - c.start):
        pg = {f: c.pages[f][i] for f in PAGE_FIELDS}
        zone.cached_mt[i] = pg["cached_mt"]
        if pg["buddy"]:
            zone.buddy_order[i] = pg["buddy_order"]
        if pg["allocated"]:
            zone.alloc_order[i] = pg["alloc_order"]
        if pg["on_free"]:
            members.setdefault(pg["free_order"] * MIGRATE_TYPES + pg["free_mt"], []).append(i)
        elif pg["on_pcp"]:
            lid = nfl + pg["pcp_cpu"] * MIGRATE_PCPTYPES + pg["pcp_index"]
            members.setdefault(lid, []).append(i)
    first = [h - s0 for h in c.heads]
    for lid, idxs in members.items():
        for i in sorted(idxs, key=lambda i: (i not in first, first.index(i) if i in first
                                             else i)):
            zone.list_add_tail(i, lid)
    for k in range(c.geo.max_order):
        zone.free_area[k].nr_free = c.nr_free[k]
    zone.pageset[0].count = c.pcp_count[0]
    if cpus > 1:
        zone.pageset[1].count = c.pcp_count[1]
    zone.vm_stat[:] = c.counters
    zone.fair_depleted = c.fair
    return a


def complete(model: object, s: SymState, layout: Iterable[object]) -> Concrete:
    """The zone ``[start, end)`` of ``s`` in a Z3 model in which every list member is a
    ``layout`` pfn: the page state at the layout pfns as the model has it, every other pfn
    covered by blocks in the user's hands (the largest aligned blocks that fit), every count
    and counter as the model has it.  Pageblocks holding a layout pfn have the model's type;
    the others are MOVABLE, or CMA inside a max-order block whose layout pfns are CMA.  A
    layout pfn that is no head in the model may become the head of such a user block."""
    ev, eb = _z3.eval_int, _z3.eval_bool
    start, end = ev(model, s.start), ev(model, s.end)
    c = read_counts(model, s, start, end)
    pts = sorted({v for v in (ev(model, t) for t in layout) if start <= v < end})
    covered = [False] * (end - start)
    for pfn in pts:
        terms = _page_terms(s, OPS.val(pfn))
        i = pfn - start
        for f, term in terms.items():
            c.pages[f][i] = int(eb(model, term)) if f in BOOL_FIELDS else ev(model, term)
        for f, flag in MEANINGFUL.items():
            if not c.pages[flag][i]:
                c.pages[f][i] = 0
        size = 0
        if c.pages["on_free"][i]:
            size = 1 << c.pages["free_order"][i]
        elif c.pages["on_pcp"][i]:
            size = 1
        elif c.pages["allocated"][i]:
            size = 1 << c.pages["alloc_order"][i]
        for j in range(i, min(i + size, end - start)):
            covered[j] = True
    mo = s.max_order
    i = 0
    while i < end - start:
        if covered[i]:
            i += 1
            continue
        k = mo - 1
        while k and (((start + i) & ((1 << k) - 1)) or i + (1 << k) > end - start
                     or any(covered[i:i + (1 << k)])):
            k -= 1
        c.pages["allocated"][i], c.pages["alloc_order"][i] = 1, k
        for j in range(i, i + (1 << k)):
            covered[j] = True
        i += 1 << k
    pb = s.geo.pageblock_order
    cma_windows = {p >> (mo - 1) for p in pts
                   if ev(model, s.block_mt(OPS.val(p))) == MIGRATE_CMA}
    for b in c.block_mt:
        inside = [p for p in pts if p >> pb == b >> pb]
        if inside:
            c.block_mt[b] = ev(model, s.block_mt(OPS.val(inside[0])))
        else:
            c.block_mt[b] = MIGRATE_CMA if b >> (mo - 1) in cma_windows else MIGRATE_MOVABLE
    return c


def read_counts(model: object, s: SymState, start: int, end: int) -> Concrete:
    """The scalar part of ``s`` in a Z3 model, over an empty zone ``[start, end)``."""
    ev, eb = _z3.eval_int, _z3.eval_bool
    n = end - start
    pb = s.geo.pageblock_order
    return Concrete(
        geo=s.geo, start=start, end=end, cpus=ev(model, s.cpus),
        mobility_disabled=eb(model, s.mobility_disabled),
        pages={f: [0] * n for f in PAGE_FIELDS},
        block_mt={b: 0 for b in range(start >> pb << pb, end, 1 << pb)},
        **_scalars(model, s))


def only_layout(s: SymState, layout: list[object], cap: int) -> list[Bool]:
    """Facts for :func:`complete`: a zone of at most ``cap`` pages whose list members are
    all among the ``layout`` pfns (each length is the number of distinct layout pfns on that
    list: the ghost lengths of :class:`SymState` are otherwise free), two CPUs with the
    proofs' CPU 1 being CPU 1 alone, cached types below MIGRATE_TYPES, and CMA pageblocks in
    max-order blocks inside the zone (a bootable config)."""
    o = OPS
    one, zero = o.val(1), o.val(0)
    facts: list[Bool] = [o.ule(s.end - s.start, o.val(cap)), o.eq(s.cpus, o.val(2))]
    window = o.val(1 << (s.max_order - 1))
    fl: dict[tuple[int, int], object] = {}
    pl: dict[tuple[int, int], object] = {}
    for j, q in enumerate(layout):
        first = o.and_(*(o.not_(o.eq(q, u)) for u in layout[:j])) if j else o.bool_(True)
        facts.append(o.ult(s.cached_mt(q), o.val(MIGRATE_TYPES)))
        facts.append(o.or_(o.not_(s.on_pcp(q)), o.ult(s.pcp_cpu(q), o.val(2))))
        w = q & ~(window - one)
        facts.append(o.or_(o.not_(o.and_(o.ule(s.start, q), o.ult(q, s.end),
                                         o.eq(s.block_mt(q), o.val(MIGRATE_CMA)))),
                           o.and_(o.ule(s.start, w), o.ule(w + window, s.end))))
        for k in range(s.max_order):
            for t in range(MIGRATE_TYPES):
                hit = o.and_(first, s.on_free(q), o.eq(s.free_order(q), o.val(k)),
                             o.eq(s.free_mt(q), o.val(t)))
                fl[k, t] = fl.get((k, t), zero) + o.ite(hit, one, zero)
        for c in range(CPUS_MODELLED):
            for t in range(MIGRATE_PCPTYPES):
                hit = o.and_(first, s.on_pcp(q), o.eq(s.pcp_cpu(q), o.val(c)),
                             o.eq(s.pcp_index(q), o.val(t)))
                pl[c, t] = pl.get((c, t), zero) + o.ite(hit, one, zero)
    for k in range(s.max_order):
        for t in range(MIGRATE_TYPES):
            facts.append(o.eq(s.c_free_len[k][t], fl.get((k, t), zero)))
    for c in range(CPUS_MODELLED):
        for t in range(MIGRATE_PCPTYPES):
            facts.append(o.eq(s.c_pcp_len[c][t], pl.get((c, t), zero)))
    other = zero
    for t in range(MIGRATE_PCPTYPES):
        other = other + s.c_pcp_len[1][t]
    facts.append(o.eq(s.c_other_pcp_pages, other))
    return facts


__all__ = ["Concrete", "complete", "differences", "from_zone", "only_layout", "pin", "read",
           "signed", "to_allocator"]
