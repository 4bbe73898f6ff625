"""Small builders for hand-worked model tests.

Every expected value in tests/model/ is derived by hand from the semantics note
(/work/shared/linux-4.3-rmqueue.md); these helpers only build the starting states the note
describes.  They touch the zone's internals the way the kernel's own primitives would
(``list_add``/``list_del``, ``set_page_order``), never through the code under test.
"""

from __future__ import annotations

import copy
from typing import Any

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.model.snapshot import state_json
from rmqueue.model.types import MIGRATE_MOVABLE, MIGRATE_TYPES
from rmqueue.model.vmstat import NR_FREE_PAGES

U, R, M, RES, CMA, ISO = 0, 1, 2, 3, 4, 5
MOVABLE_GFP = ["GFP_HIGHUSER_MOVABLE"]
UNMOVABLE_GFP = ["GFP_KERNEL"]
RECLAIMABLE_GFP = ["GFP_TEMPORARY"]


def config(**kw: Any) -> ZoneConfig:
    """A 2048-page, one-CPU zone with grouping on, no reserve, pcp high 18 / batch 3."""
    base: dict[str, Any] = {
        "pages": 2048,
        "cpus": 1,
        "pcp_high": 18,
        "pcp_batch": 3,
        "mobility_grouping": True,
        "reserve_pageblocks": 0,
    }
    base.update(kw)
    return ZoneConfig(**base)


def common_setup(**kw: Any) -> Allocator:
    """§12's common setup: order-10 MOVABLE list [0, 1024] (boot leaves [1024, 0])."""
    a = Allocator(config(**kw))
    z = a.zone
    assert z.free_list(10, M) == [1024, 0]
    z.list_del(0)
    z.list_add(0, 10 * MIGRATE_TYPES + MIGRATE_MOVABLE)
    assert z.free_list(10, M) == [0, 1024]
    return a


def bare(**kw: Any) -> Allocator:
    """A booted zone whose free blocks were all taken away (as if allocated long ago)."""
    a = Allocator(config(**kw))
    z = a.zone
    for order in range(z.max_order):
        for mt in range(MIGRATE_TYPES):
            for pfn in z.free_list(order, mt):
                idx = pfn - z.zone_start_pfn
                z.list_del(idx)
                z.buddy_order[idx] = -1
                z.free_area[order].nr_free -= 1
                z.vm_stat[NR_FREE_PAGES] -= 1 << order
    return a


def put_free(a: Allocator, pfn: int, order: int, mt: int, tail: bool = False) -> None:
    """Make [pfn, pfn + 2^order) a free block on free_list[mt] (head unless ``tail``)."""
    z = a.zone
    idx = pfn - z.zone_start_pfn
    if tail:
        z.list_add_tail(idx, order * MIGRATE_TYPES + mt)
    else:
        z.list_add(idx, order * MIGRATE_TYPES + mt)
    z.buddy_order[idx] = order
    z.free_area[order].nr_free += 1
    z.vm_stat[NR_FREE_PAGES] += 1 << order


def hand_out(a: Allocator, pfn: int, order: int = 0) -> None:
    """Mark a block as in the user's hands, so ``Allocator.free`` accepts it."""
    a.zone.alloc_order[pfn - a.zone.zone_start_pfn] = order


def put_pcp(a: Allocator, cpu: int, index: int, pfns: list[int], cached: int) -> None:
    """Append pages (head to tail) to pcp[cpu].lists[index] with a cached type."""
    z = a.zone
    pcp = z.pageset[cpu]
    for pfn in pfns:
        idx = pfn - z.zone_start_pfn
        z.list_add_tail(idx, pcp.list_ids[index])
        z.cached_mt[idx] = cached
        pcp.count += 1


def snap(a: Allocator) -> dict[str, Any]:
    return copy.deepcopy(state_json(a.zone, detail=True))


def nonempty_free_lists(a: Allocator) -> dict[tuple[int, int], list[int]]:
    z = a.zone
    out = {}
    for order in range(z.max_order):
        for mt in range(MIGRATE_TYPES):
            pfns = z.free_list(order, mt)
            if pfns:
                out[(order, mt)] = pfns
    return out


def new_rec() -> Transition:
    return Transition("test", 0, 0)
