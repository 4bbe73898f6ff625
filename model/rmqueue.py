"""The allocation path of Linux 4.3: ``buffered_rmqueue()`` and what it calls under zone->lock.

Functions take the zone, the transition record they append to, and then the kernel's
arguments.  Pages are named by pfn; the kernel's ``struct page *`` becomes ``int`` and its
``NULL`` becomes ``None``.  There are no locks: the model is sequential.
"""

from __future__ import annotations

from .expand import expand
from .fallback import rmqueue_fallback
from .record import Transition
from .types import (
    MIGRATE_CMA,
    MIGRATE_MOVABLE,
    MIGRATE_RESERVE,
    MIGRATE_TYPES,
    Gfp,
)
from .vmstat import (
    NR_ALLOC_BATCH,
    NR_FREE_CMA_PAGES,
    NR_FREE_PAGES,
    NUMA_HIT,
    NUMA_LOCAL,
    PGALLOC,
)
from .zone import PerCpuPages, Zone

# Plain ints: testing an IntFlag member against an int costs an enum construction.
GFP_COLD = int(Gfp.COLD)
GFP_NOFAIL = int(Gfp.NOFAIL)


def rmqueue_smallest(zone: Zone, rec: Transition, order: int, mt: int) -> int | None:
    """Mirror of ``__rmqueue_smallest()``: the head of the smallest non-empty list of ``mt``."""
    start = zone.zone_start_pfn
    heads = zone.spanned_pages
    nxt = zone.nxt
    for current_order in range(order, zone.max_order):
        list_id = current_order * MIGRATE_TYPES + mt
        idx = nxt[heads + list_id]
        if idx == heads + list_id:
            continue
        zone.list_del(idx)
        zone.buddy_order[idx] = -1  # rmv_page_order()
        zone.free_area[current_order].nr_free -= 1
        pfn = idx + start
        rec.free_del.append((pfn, current_order, mt))
        expand(zone, rec, pfn, order, current_order, mt)
        zone.cached_mt[idx] = mt  # set_pcppage_migratetype()
        return pfn
    return None


def rmqueue_cma_fallback(zone: Zone, rec: Transition, order: int) -> int | None:
    """Mirror of ``__rmqueue_cma_fallback()`` (CONFIG_CMA on): the CMA lists, ascending."""
    return rmqueue_smallest(zone, rec, order, MIGRATE_CMA)


def rmqueue_locked(zone: Zone, rec: Transition, order: int, mt: int) -> int | None:
    """Mirror of ``__rmqueue()`` of v4.3 (three arguments, with the MIGRATE_RESERVE retry).

    Own lists, then CMA (MOVABLE only), then fallback from the largest order down, then one
    more try on the RESERVE lists.
    """
    while True:
        page = rmqueue_smallest(zone, rec, order, mt)
        if page is None and mt != MIGRATE_RESERVE:
            if mt == MIGRATE_MOVABLE:
                page = rmqueue_cma_fallback(zone, rec, order)
            if page is None:
                page = rmqueue_fallback(zone, rec, order, mt)
            if page is None:
                mt = MIGRATE_RESERVE
                continue
        return page


def rmqueue_bulk(
    zone: Zone,
    rec: Transition,
    order: int,
    count: int,
    pcp: PerCpuPages,
    index: int,
    mt: int,
    cold: bool,
) -> int:
    """Mirror of ``rmqueue_bulk()``: up to ``count`` blocks onto ``pcp.lists[index]``.

    The kernel passes the list itself; the model passes the pcp set and list index.  Each
    page is linked after (hot) or before (cold) the previous one, a moving cursor, so hot and
    cold requests both get the first page ``__rmqueue()`` returned.  NR_FREE_PAGES drops in
    one lump at the end; NR_FREE_CMA_PAGES per page whose cached type is CMA.
    """
    start = zone.zone_start_pfn
    list_id = pcp.list_ids[index]
    cursor = zone.head_node(list_id)
    cached_mt = zone.cached_mt
    i = 0
    while i < count:
        page = rmqueue_locked(zone, rec, order, mt)
        if page is None:
            break
        idx = page - start
        if not cold:
            zone.insert_after(cursor, idx, list_id)
        else:
            zone.insert_before(cursor, idx, list_id)
        cursor = idx
        rec.pcp_add.append((pcp.cpu, index, page))
        if cached_mt[idx] == MIGRATE_CMA:
            zone.vm_stat[NR_FREE_CMA_PAGES] -= 1 << order
            rec.vm_delta[NR_FREE_CMA_PAGES] -= 1 << order
        i += 1
    zone.vm_stat[NR_FREE_PAGES] -= i << order
    rec.vm_delta[NR_FREE_PAGES] -= i << order
    return i


def buffered_rmqueue(
    zone: Zone, rec: Transition, cpu: int, order: int, gfp: int, mt: int
) -> int | None:
    """Mirror of ``buffered_rmqueue()``, mm/page_alloc.c v4.3 (preferred zone == zone).

    ``mt`` is ``gfpflags_to_migratetype(gfp)``, 0..2.  Order 0 is served from this CPU's pcp
    list ``mt`` (refilled by ``rmqueue_bulk()`` only when that list is empty); higher orders
    come straight from ``__rmqueue()``.  A failure changes no counter.  The one-time warning
    for ``__GFP_NOFAIL`` above order 1 is recorded in ``rec.warnings``.
    """
    cold = bool(gfp & GFP_COLD)
    vm_stat = zone.vm_stat
    delta = rec.vm_delta
    if order == 0:
        pcp = zone.pageset[cpu]
        list_id = pcp.list_ids[mt]
        head = zone.spanned_pages + list_id
        if zone.nxt[head] == head:
            got = rmqueue_bulk(zone, rec, 0, pcp.batch, pcp, mt, mt, cold)
            pcp.count += got
            rec.pcp_count_delta += got
            if zone.nxt[head] == head:
                return None
        idx = zone.prv[head] if cold else zone.nxt[head]
        zone.list_del(idx)
        pcp.count -= 1
        rec.pcp_count_delta -= 1
        page = idx + zone.zone_start_pfn
        rec.pcp_del.append((cpu, mt, page))
    else:
        if gfp & GFP_NOFAIL and order > 1 and not zone.nofail_warned:
            zone.nofail_warned = True
            rec.warnings.append("WARN_ON_ONCE: __GFP_NOFAIL allocation of order > 1")
        got_page = rmqueue_locked(zone, rec, order, mt)
        if got_page is None:
            return None
        page = got_page
        # __mod_zone_freepage_state() with the page's cached type
        vm_stat[NR_FREE_PAGES] -= 1 << order
        delta[NR_FREE_PAGES] -= 1 << order
        if zone.cached_mt[page - zone.zone_start_pfn] == MIGRATE_CMA:
            vm_stat[NR_FREE_CMA_PAGES] -= 1 << order
            delta[NR_FREE_CMA_PAGES] -= 1 << order
    vm_stat[NR_ALLOC_BATCH] -= 1 << order
    delta[NR_ALLOC_BATCH] -= 1 << order
    if vm_stat[NR_ALLOC_BATCH] <= 0 and not zone.fair_depleted:
        zone.fair_depleted = True
        rec.fair_depleted_set = True
    vm_stat[PGALLOC] += 1 << order
    delta[PGALLOC] += 1 << order
    # zone_statistics(): one zone on node 0, every CPU on node 0 -> a local hit.
    vm_stat[NUMA_HIT] += 1
    delta[NUMA_HIT] += 1
    vm_stat[NUMA_LOCAL] += 1
    delta[NUMA_LOCAL] += 1
    return page
