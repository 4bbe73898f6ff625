"""Migratetype fallback and pageblock stealing of Linux 4.3 (``__rmqueue_fallback()`` & co)."""

from __future__ import annotations

import re

from .buddy import INT_OPS, can_steal_fallback, claims_pageblock
from .expand import expand
from .record import Transition
from .types import FALLBACKS, MIGRATE_PCPTYPES, MIGRATE_TYPES, MIGRATE_UNMOVABLE
from .zone import Zone


def set_pageblock_migratetype(zone: Zone, rec: Transition, pfn: int, mt: int) -> None:
    """Mirror of ``set_pageblock_migratetype()``: with mobility grouping off, the three pcp
    types are stored as UNMOVABLE."""
    if zone.page_group_by_mobility_disabled and mt < MIGRATE_PCPTYPES:
        mt = MIGRATE_UNMOVABLE
    index = zone.pageblock_index(pfn)
    old = zone.pageblock_mt[index]
    if old != mt:
        zone.pageblock_mt[index] = mt
        rec.retyped.append((index, old, mt))


# A byte of ``zone.buddy_order`` that is not -1 (0xff): the head of a free block.  Letting
# the regex engine skip the non-buddy pages makes a pageblock scan one C call per free block
# instead of one Python iteration per page.
_BUDDY_HEAD = re.compile(rb"[^\xff]")


def move_freepages(zone: Zone, rec: Transition, start_pfn: int, end_pfn: int, mt: int) -> int:
    """Mirror of ``move_freepages()`` (v4.3: the cached type is not written).

    Every free block head in ``[start_pfn, end_pfn]`` goes to the head of the ``mt`` list of
    its order, in ascending pfn order, from whatever list it was on.  ``nr_free`` and the
    vmstat counters do not change.  Returns the pages moved, counting whole blocks.
    """
    start = zone.zone_start_pfn
    buddy_order = zone.buddy_order
    list_of = zone.list_of
    search = _BUDDY_HEAD.search
    moved = 0
    idx = start_pfn - start
    stop = end_pfn - start + 1
    while idx < stop:
        found = search(buddy_order, idx, stop)
        if found is None:
            break
        idx = found.start()
        order = buddy_order[idx]
        old_mt = list_of[idx] % MIGRATE_TYPES
        zone.list_del(idx)
        zone.list_add(idx, order * MIGRATE_TYPES + mt)
        rec.free_del.append((idx + start, order, old_mt))
        rec.free_add.append((idx + start, order, mt))
        idx += 1 << order
        moved += 1 << order
    return moved


def move_freepages_block(zone: Zone, rec: Transition, pfn: int, mt: int) -> int:
    """Mirror of ``move_freepages_block()``: the pageblock of ``pfn``, clipped to the zone.

    A pageblock that starts before the zone is scanned from ``pfn`` itself; one that ends
    after the zone moves nothing.
    """
    nr = 1 << zone.pageblock_order
    start_pfn = pfn & ~(nr - 1)
    end_pfn = start_pfn + nr - 1
    if not zone.zone_spans_pfn(start_pfn):
        start_pfn = pfn
    if not zone.zone_spans_pfn(end_pfn):
        return 0
    return move_freepages(zone, rec, start_pfn, end_pfn, mt)


def change_pageblock_range(
    zone: Zone, rec: Transition, pfn: int, start_order: int, mt: int
) -> None:
    """Mirror of ``change_pageblock_range()``: retype every pageblock a big block covers."""
    nr = 1 << zone.pageblock_order
    for k in range(1 << (start_order - zone.pageblock_order)):
        set_pageblock_migratetype(zone, rec, pfn + k * nr, mt)


def steal_suitable_fallback(zone: Zone, rec: Transition, pfn: int, start_type: int) -> None:
    """Mirror of ``steal_suitable_fallback()``.

    A block of pageblock order or more retypes its pageblocks and moves nothing.  A smaller
    one moves every free page of its pageblock to ``start_type`` lists and claims the
    pageblock when at least half of it moved (always, with mobility grouping off).
    """
    current_order = zone.page_order(pfn)
    if current_order >= zone.pageblock_order:
        change_pageblock_range(zone, rec, pfn, current_order, start_type)
        return
    pages = move_freepages_block(zone, rec, pfn, start_type)
    if claims_pageblock(
        INT_OPS, pages, zone.pageblock_order, zone.page_group_by_mobility_disabled
    ):
        set_pageblock_migratetype(zone, rec, pfn, start_type)


def find_suitable_fallback(
    zone: Zone, order: int, migratetype: int, only_stealable: bool
) -> tuple[int, bool]:
    """Mirror of ``find_suitable_fallback()``: (fallback type or -1, can_steal).

    Gives up at once when ``free_area[order].nr_free`` (all types) is 0; otherwise returns the
    first type of ``fallbacks[migratetype]`` whose list at ``order`` is not empty.
    """
    if zone.free_area[order].nr_free == 0:
        return -1, False
    can_steal = False
    for fallback_mt in FALLBACKS[migratetype]:
        if zone.list_empty(order * MIGRATE_TYPES + fallback_mt):
            continue
        if can_steal_fallback(
            INT_OPS,
            order,
            migratetype,
            zone.pageblock_order,
            zone.page_group_by_mobility_disabled,
        ):
            can_steal = True
        if not only_stealable:
            return fallback_mt, can_steal
        if can_steal:
            return fallback_mt, can_steal
    return -1, can_steal


def rmqueue_fallback(zone: Zone, rec: Transition, order: int, start_migratetype: int) -> int | None:
    """Mirror of ``__rmqueue_fallback()``, mm/page_alloc.c v4.3.

    Scans orders from ``max_order - 1`` down to ``order``; at the first order with a suitable
    fallback type it takes that list's head, steals when allowed, and splits it with the
    remainders going to ``start_migratetype`` lists.  The page's cached type is
    ``start_migratetype``.
    """
    start = zone.zone_start_pfn
    for current_order in range(zone.max_order - 1, order - 1, -1):
        fallback_mt, can_steal = find_suitable_fallback(
            zone, current_order, start_migratetype, False
        )
        if fallback_mt == -1:
            continue
        idx = zone.list_first(current_order * MIGRATE_TYPES + fallback_mt)
        pfn = idx + start
        if can_steal:
            steal_suitable_fallback(zone, rec, pfn, start_migratetype)
        zone.free_area[current_order].nr_free -= 1
        on_mt = zone.list_of[idx] % MIGRATE_TYPES  # it may have moved while stealing
        zone.list_del(idx)
        zone.buddy_order[idx] = -1
        rec.free_del.append((pfn, current_order, on_mt))
        expand(zone, rec, pfn, order, current_order, start_migratetype)
        zone.cached_mt[idx] = start_migratetype
        return pfn
    return None
