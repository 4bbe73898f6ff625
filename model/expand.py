"""``expand()`` of Linux 4.3: split a free block, keeping the lowest piece."""

from __future__ import annotations

from .record import Transition
from .types import MIGRATE_TYPES
from .zone import Zone

__all__ = ["expand"]


def expand(zone: Zone, rec: Transition, pfn: int, low: int, high: int, mt: int) -> None:
    """Mirror of ``expand()``, mm/page_alloc.c v4.3.

    Splits the block of order ``high`` at ``pfn`` down to order ``low``: each upper half goes
    to the head of ``free_area[..].free_list[mt]``, largest first; the caller keeps the lowest
    piece.  NR_FREE_PAGES does not change (the halves stay free).  Guard pages
    (CONFIG_DEBUG_PAGEALLOC) are not modelled.
    """
    start = zone.zone_start_pfn
    free_area = zone.free_area
    buddy_order = zone.buddy_order
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        half = pfn + size
        zone.list_add(half - start, high * MIGRATE_TYPES + mt)
        free_area[high].nr_free += 1
        buddy_order[half - start] = high  # set_page_order()
        rec.free_add.append((half, high, mt))
