"""The free path of Linux 4.3: pcp frees, bulk trims and buddy merging."""

from __future__ import annotations

from .errors import InternalError
from .record import Transition
from .types import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
)
from .vmstat import NR_FREE_CMA_PAGES, NR_FREE_PAGES, NR_PAGES_SCANNED, PGFREE
from .zone import PerCpuPages, Zone


def mod_zone_freepage_state(zone: Zone, rec: Transition, nr_pages: int, mt: int) -> None:
    """Mirror of ``__mod_zone_freepage_state()``: NR_FREE_PAGES, and NR_FREE_CMA_PAGES for CMA."""
    zone.vm_stat[NR_FREE_PAGES] += nr_pages
    rec.vm_delta[NR_FREE_PAGES] += nr_pages
    if mt == MIGRATE_CMA:
        zone.vm_stat[NR_FREE_CMA_PAGES] += nr_pages
        rec.vm_delta[NR_FREE_CMA_PAGES] += nr_pages


def reset_pages_scanned(zone: Zone, rec: Transition) -> None:
    """The NR_PAGES_SCANNED reset that ``free_one_page()``/``free_pcppages_bulk()`` do."""
    scanned = zone.vm_stat[NR_PAGES_SCANNED]
    if scanned:
        zone.vm_stat[NR_PAGES_SCANNED] = 0
        rec.vm_delta[NR_PAGES_SCANNED] -= scanned


def page_is_buddy(zone: Zone, pfn: int, buddy: int, order: int) -> bool:
    """Mirror of ``page_is_buddy()`` without guard pages: ``buddy`` is a free head of exactly
    ``order`` in this zone.  Neither its list's type nor its pageblock's type matters."""
    start = zone.zone_start_pfn
    if not start <= buddy < start + zone.spanned_pages:
        return False
    return zone.buddy_order[buddy - start] == order


def free_one_page_locked(zone: Zone, rec: Transition, pfn: int, order: int, mt: int) -> None:
    """Mirror of ``__free_one_page()``, mm/page_alloc.c v4.3: merge with free buddies, insert.

    NR_FREE_PAGES is credited once, at the original order, unless ``mt`` is ISOLATE (whose
    merging then stops below ``pageblock_order + 1``).  A buddy is absorbed from whatever list
    it is on; the result goes on ``mt``'s list, at the tail when the parent's buddy one order
    up is free (it will likely merge again), else at the head.  Like v4.3 (fixed in v4.6), a
    non-ISOLATE free may absorb an isolated buddy.
    """
    max_order = zone.max_order
    if mt == MIGRATE_ISOLATE:
        max_order = min(zone.max_order, zone.pageblock_order + 1)
    else:
        mod_zone_freepage_state(zone, rec, 1 << order, mt)
    if pfn & ((1 << order) - 1):
        raise InternalError(f"__free_one_page: pfn {pfn} is not aligned to order {order}")
    start = zone.zone_start_pfn
    end = start + zone.spanned_pages
    buddy_order = zone.buddy_order
    list_of = zone.list_of
    free_area = zone.free_area
    last_buddy = -1
    while order < max_order - 1:
        buddy = pfn ^ (1 << order)
        last_buddy = buddy
        if not (start <= buddy < end and buddy_order[buddy - start] == order):
            break
        bidx = buddy - start
        rec.free_del.append((buddy, order, list_of[bidx] % MIGRATE_TYPES))
        zone.list_del(bidx)
        free_area[order].nr_free -= 1
        buddy_order[bidx] = -1
        pfn &= buddy  # combined_idx
        order += 1
    idx = pfn - start
    buddy_order[idx] = order  # set_page_order()
    list_id = order * MIGRATE_TYPES + mt
    if order < zone.max_order - 2 and last_buddy >= 0:
        higher_page = pfn & last_buddy
        higher_buddy = higher_page ^ (1 << (order + 1))
        if page_is_buddy(zone, higher_page, higher_buddy, order + 1):
            zone.list_add_tail(idx, list_id)
            free_area[order].nr_free += 1
            rec.free_add.append((pfn, order, mt))
            return
    zone.list_add(idx, list_id)
    free_area[order].nr_free += 1
    rec.free_add.append((pfn, order, mt))


def free_pcppages_bulk(zone: Zone, rec: Transition, count: int, pcp: PerCpuPages) -> None:
    """Mirror of ``free_pcppages_bulk()``: return ``count`` pcp pages to the buddy lists.

    Lists are visited round-robin starting at RECLAIMABLE; each visit takes pages from the
    tail, as many as the lists probed to find it (everything when it is the only non-empty
    list), carrying ``batch_free`` over as the kernel does.  Each page goes back with its
    cached type (its pageblock's type when the zone has isolated pageblocks).  ``pcp.count``
    is left to the caller.
    """
    reset_pages_scanned(zone, rec)
    start = zone.zone_start_pfn
    heads = zone.spanned_pages
    nxt, prv = zone.nxt, zone.prv
    cached_mt = zone.cached_mt
    list_ids = pcp.list_ids
    migratetype = 0
    batch_free = 0
    to_free = count
    while to_free:
        probes = 0
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            head = heads + list_ids[migratetype]
            if nxt[head] != head:
                break
            probes += 1
            if probes > MIGRATE_PCPTYPES:
                raise InternalError(
                    f"free_pcppages_bulk: {to_free} pages still to free but every pcp list of "
                    f"cpu {pcp.cpu} is empty (pcp.count out of step with the lists)"
                )
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = to_free
        while True:
            idx = prv[head]
            zone.list_del(idx)
            pfn = idx + start
            rec.pcp_del.append((pcp.cpu, migratetype, pfn))
            mt = cached_mt[idx]
            if zone.nr_isolate_pageblock > 0:
                mt = zone.get_pageblock_migratetype(pfn)
            free_one_page_locked(zone, rec, pfn, 0, mt)
            to_free -= 1
            if not to_free:
                break
            batch_free -= 1
            if not batch_free:
                break
            if nxt[head] == head:
                break


def free_one_page(zone: Zone, rec: Transition, pfn: int, order: int, mt: int) -> None:
    """Mirror of ``free_one_page()``: reset NR_PAGES_SCANNED, then ``__free_one_page()``."""
    reset_pages_scanned(zone, rec)
    if zone.nr_isolate_pageblock > 0 or mt == MIGRATE_ISOLATE:
        mt = zone.get_pageblock_migratetype(pfn)
    free_one_page_locked(zone, rec, pfn, order, mt)


def free_pages_ok(zone: Zone, rec: Transition, pfn: int, order: int) -> None:
    """Mirror of ``__free_pages_ok()``: every free of order > 0 (never via a pcp list)."""
    mt = zone.get_pageblock_migratetype(pfn)
    zone.vm_stat[PGFREE] += 1 << order
    rec.vm_delta[PGFREE] += 1 << order
    free_one_page(zone, rec, pfn, order, mt)


def free_hot_cold_page(zone: Zone, rec: Transition, cpu: int, pfn: int, cold: bool) -> None:
    """Mirror of ``free_hot_cold_page()``: an order-0 free onto this CPU's pcp list.

    The page caches its pageblock's type; RESERVE and CMA pages go on the MOVABLE list, an
    ISOLATE page bypasses the pcp.  Hot frees push at the head, cold at the tail.  When
    ``count`` reaches ``high``, ``batch`` pages are trimmed.  NR_FREE_PAGES is untouched
    here: pcp pages count as allocated for the buddy system.
    """
    start = zone.zone_start_pfn
    idx = pfn - start
    mt = zone.pageblock_mt[(pfn >> zone.pageblock_order) - (start >> zone.pageblock_order)]
    zone.cached_mt[idx] = mt
    zone.vm_stat[PGFREE] += 1
    rec.vm_delta[PGFREE] += 1
    if mt >= MIGRATE_PCPTYPES:
        if mt == MIGRATE_ISOLATE:
            free_one_page(zone, rec, pfn, 0, mt)
            return
        mt = MIGRATE_MOVABLE
    pcp = zone.pageset[cpu]
    if not cold:
        zone.list_add(idx, pcp.list_ids[mt])
    else:
        zone.list_add_tail(idx, pcp.list_ids[mt])
    rec.pcp_add.append((cpu, mt, pfn))
    pcp.count += 1
    rec.pcp_count_delta += 1
    if pcp.count >= pcp.high:
        batch = pcp.batch
        free_pcppages_bulk(zone, rec, batch, pcp)
        pcp.count -= batch
        rec.pcp_count_delta -= batch
