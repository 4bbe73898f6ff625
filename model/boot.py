"""The initial zone, built the way a booting Linux 4.3 builds it (protocol.md, "hello").

1. ``memmap_init_zone()``: every pageblock MOVABLE; ``init_cma_reserved_pageblock()`` marks
   the configured CMA pageblocks CMA.
2. ``free_all_bootmem()``: every non-CMA page is freed in increasing pfn order, each time as
   the largest aligned block (order < max_order) that fits in what is left, through the
   order-k ``__free_pages()`` path (so PGFREE counts them and the free lists follow).
3. Each CMA pageblock is freed as one block of ``pageblock_order``, in increasing pfn order.
4. ``setup_zone_migrate_reserve()`` with the configured target.
"""

from __future__ import annotations

from .config import ZoneConfig
from .fallback import move_freepages_block, set_pageblock_migratetype
from .free import free_pages_ok
from .record import Transition
from .types import MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_RESERVE
from .zone import Zone


def _largest_fitting_order(pfn: int, end: int, max_order: int) -> int:
    order = max_order - 1
    while order > 0 and (pfn & ((1 << order) - 1) or pfn + (1 << order) > end):
        order -= 1
    return order


def setup_zone_migrate_reserve(zone: Zone, rec: Transition, reserve: int) -> None:
    """Mirror of ``setup_zone_migrate_reserve()`` run once (no earlier reserve), for a zone
    whose pages are all free-able."""
    nr = 1 << zone.pageblock_order
    pfn = -(-zone.zone_start_pfn // nr) * nr
    end = zone.end_pfn
    while pfn < end and reserve > 0:
        block_mt = zone.get_pageblock_migratetype(pfn)
        if block_mt == MIGRATE_RESERVE:
            reserve -= 1
        elif block_mt == MIGRATE_MOVABLE:
            set_pageblock_migratetype(zone, rec, pfn, MIGRATE_RESERVE)
            move_freepages_block(zone, rec, pfn, MIGRATE_RESERVE)
            reserve -= 1
        pfn += nr


def boot(config: ZoneConfig) -> Zone:
    """A zone with every page free, exactly as protocol.md's boot sequence leaves it."""
    zone = Zone.empty(config)
    rec = Transition("boot", 0, 0)
    cma_windows = set()
    window_order = config.max_order - 1
    for index in config.cma_pageblocks:
        pfn = (config.first_pageblock + index) << config.pageblock_order
        set_pageblock_migratetype(zone, rec, pfn, MIGRATE_CMA)
        cma_windows.add(pfn >> window_order)
    pfn, end = config.start_pfn, config.end_pfn
    while pfn < end:
        if pfn >> window_order in cma_windows:
            pfn = ((pfn >> window_order) + 1) << window_order
            continue
        order = _largest_fitting_order(pfn, end, config.max_order)
        free_pages_ok(zone, rec, pfn, order)
        pfn += 1 << order
    for index in sorted(config.cma_pageblocks):
        pfn = (config.first_pageblock + index) << config.pageblock_order
        free_pages_ok(zone, rec, pfn, config.pageblock_order)
    setup_zone_migrate_reserve(zone, rec, config.reserve_pageblocks)
    return zone
