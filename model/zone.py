"""Zone state of Linux 4.3 (``struct zone``, ``struct free_area``, ``struct per_cpu_pages``).

Per-page state lives in compact arrays indexed by ``pfn - zone_start_pfn`` (the kernel's
``struct page`` array), so a zone of 2^22 pages costs tens of MiB, not an object per page:

* ``buddy_order[i]``: -1 unless PageBuddy; else the free block's order (``page_private``).
* ``cached_mt[i]``: the cached pcp migratetype (``page->index``).
* ``alloc_order[i]``: -1 unless the block starting at i is in the user's hands; else its order.
  The kernel keeps no such field (it trusts callers); the model needs it to refuse bad frees.
* ``list_of[i]``: which list the page is linked on, or -1 (``page->lru`` membership).

Every list (``free_area[o].free_list[mt]`` and ``pcp.lists[t]``) is an intrusive, circular,
doubly linked list like the kernel's ``list_head``: nodes ``0..N-1`` are pages and node
``N + list_id`` is the list's head.  So head and tail are distinct, and unlink from any
position is O(1).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from .config import ZoneConfig
from .types import MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES
from .vmstat import NR_ALLOC_BATCH, NR_VM_ITEMS


@dataclass(slots=True)
class PerCpuPages:
    """Mirror of ``struct per_cpu_pages``: ``count``, ``high``, ``batch`` and three lists.

    ``list_ids[t]`` is the zone list id of ``lists[t]``; read the pages with
    :meth:`Zone.pcp_list`.
    """

    cpu: int
    count: int
    high: int
    batch: int
    list_ids: tuple[int, int, int]


@dataclass(slots=True)
class FreeArea:
    """Mirror of ``struct free_area``: ``nr_free`` counts blocks of this order of every type.

    ``list_ids[mt]`` is the zone list id of ``free_list[mt]``.
    """

    order: int
    nr_free: int
    list_ids: tuple[int, ...]


@dataclass(slots=True, eq=False)
class Zone:
    """Mirror of the parts of ``struct zone`` that the allocation and free paths touch."""

    config: ZoneConfig
    zone_start_pfn: int
    spanned_pages: int
    max_order: int
    pageblock_order: int
    page_group_by_mobility_disabled: bool
    free_area: list[FreeArea]
    pageset: list[PerCpuPages]
    nxt: array[int]
    prv: array[int]
    list_of: array[int]
    buddy_order: array[int]
    cached_mt: array[int]
    alloc_order: array[int]
    pageblock_mt: array[int]
    vm_stat: list[int] = field(default_factory=lambda: [0] * NR_VM_ITEMS)
    nr_isolate_pageblock: int = 0
    fair_depleted: bool = False
    nofail_warned: bool = False

    # -- construction ---------------------------------------------------------------

    @classmethod
    def empty(cls, config: ZoneConfig) -> Zone:
        """``zone_init_free_lists()`` + ``memmap_init_zone()``: empty lists, every page
        allocated-to-nobody, every pageblock MOVABLE, pcp sets from the config."""
        n = config.pages
        nr_free_lists = config.max_order * MIGRATE_TYPES
        nlists = nr_free_lists + config.cpus * MIGRATE_PCPTYPES
        links = array("i", range(n + nlists))
        free_area = [
            FreeArea(o, 0, tuple(o * MIGRATE_TYPES + t for t in range(MIGRATE_TYPES)))
            for o in range(config.max_order)
        ]
        pageset = []
        for cpu in range(config.cpus):
            base = nr_free_lists + cpu * MIGRATE_PCPTYPES
            pageset.append(
                PerCpuPages(cpu, 0, config.pcp_high, config.pcp_batch, (base, base + 1, base + 2))
            )
        minus1 = array("b", b"\xff") * n
        zone = cls(
            config=config,
            zone_start_pfn=config.start_pfn,
            spanned_pages=n,
            max_order=config.max_order,
            pageblock_order=config.pageblock_order,
            page_group_by_mobility_disabled=not config.mobility_grouping,
            free_area=free_area,
            pageset=pageset,
            nxt=links,
            prv=array("i", links),
            list_of=array("h", [-1]) * n,
            buddy_order=minus1,
            cached_mt=array("b", bytes(n)),
            alloc_order=array("b", minus1),
            pageblock_mt=array("b", [MIGRATE_MOVABLE]) * config.nr_pageblocks,
        )
        zone.vm_stat[NR_ALLOC_BATCH] = config.wmark_high - config.wmark_low
        return zone

    # -- geometry -------------------------------------------------------------------

    @property
    def end_pfn(self) -> int:
        return self.zone_start_pfn + self.spanned_pages

    def zone_spans_pfn(self, pfn: int) -> bool:
        """Mirror of ``zone_spans_pfn()``."""
        return self.zone_start_pfn <= pfn < self.zone_start_pfn + self.spanned_pages

    def pageblock_index(self, pfn: int) -> int:
        """Index into ``pageblock_mt`` of the pageblock holding ``pfn``."""
        return (pfn >> self.pageblock_order) - (self.zone_start_pfn >> self.pageblock_order)

    def get_pageblock_migratetype(self, pfn: int) -> int:
        """Mirror of ``get_pfnblock_migratetype()``."""
        return self.pageblock_mt[
            (pfn >> self.pageblock_order) - (self.zone_start_pfn >> self.pageblock_order)
        ]

    # -- per-page views ---------------------------------------------------------------

    def page_buddy(self, pfn: int) -> bool:
        """``PageBuddy()``: the head of a free block on a zone free list."""
        return self.buddy_order[pfn - self.zone_start_pfn] >= 0

    def page_order(self, pfn: int) -> int:
        """``page_order()`` (``page_private``): the free block's order, 0 when not PageBuddy."""
        return max(self.buddy_order[pfn - self.zone_start_pfn], 0)

    def list_id_of(self, pfn: int) -> int:
        return self.list_of[pfn - self.zone_start_pfn]

    # -- lists ------------------------------------------------------------------------

    @property
    def nr_free_lists(self) -> int:
        return self.max_order * MIGRATE_TYPES

    def describe_list(self, list_id: int) -> tuple[str, int, int]:
        """("free", order, mt) or ("pcp", cpu, index) for a list id."""
        if list_id < self.nr_free_lists:
            return ("free", list_id // MIGRATE_TYPES, list_id % MIGRATE_TYPES)
        rel = list_id - self.nr_free_lists
        return ("pcp", rel // MIGRATE_PCPTYPES, rel % MIGRATE_PCPTYPES)

    def iter_list(self, list_id: int) -> Iterator[int]:
        """The pfns on a list, head to tail."""
        head = self.spanned_pages + list_id
        nxt = self.nxt
        node = nxt[head]
        start = self.zone_start_pfn
        while node != head:
            yield node + start
            node = nxt[node]

    def free_list(self, order: int, mt: int) -> list[int]:
        """``free_area[order].free_list[mt]`` as pfns, head to tail."""
        return list(self.iter_list(order * MIGRATE_TYPES + mt))

    def pcp_list(self, cpu: int, index: int) -> list[int]:
        """``pcp[cpu].lists[index]`` as pfns, head to tail."""
        return list(self.iter_list(self.pageset[cpu].list_ids[index]))

    def list_empty(self, list_id: int) -> bool:
        head = self.spanned_pages + list_id
        return self.nxt[head] == head

    def list_first(self, list_id: int) -> int:
        """Index (not pfn) of ``head.next``; the caller checks emptiness first."""
        return self.nxt[self.spanned_pages + list_id]

    def list_last(self, list_id: int) -> int:
        return self.prv[self.spanned_pages + list_id]

    def list_add(self, idx: int, list_id: int) -> None:
        """``list_add()``: push page index ``idx`` right after the list head."""
        head = self.spanned_pages + list_id
        nxt, prv = self.nxt, self.prv
        first = nxt[head]
        nxt[idx] = first
        prv[idx] = head
        prv[first] = idx
        nxt[head] = idx
        self.list_of[idx] = list_id

    def list_add_tail(self, idx: int, list_id: int) -> None:
        """``list_add_tail()``: push page index ``idx`` right before the list head."""
        head = self.spanned_pages + list_id
        nxt, prv = self.nxt, self.prv
        last = prv[head]
        nxt[idx] = head
        prv[idx] = last
        nxt[last] = idx
        prv[head] = idx
        self.list_of[idx] = list_id

    def insert_after(self, node: int, idx: int, list_id: int) -> None:
        """``list_add(new, node)`` where node is any list node (a cursor)."""
        nxt, prv = self.nxt, self.prv
        after = nxt[node]
        nxt[idx] = after
        prv[idx] = node
        prv[after] = idx
        nxt[node] = idx
        self.list_of[idx] = list_id

    def insert_before(self, node: int, idx: int, list_id: int) -> None:
        """``list_add_tail(new, node)`` where node is any list node (a cursor)."""
        nxt, prv = self.nxt, self.prv
        before = prv[node]
        nxt[idx] = node
        prv[idx] = before
        nxt[before] = idx
        prv[node] = idx
        self.list_of[idx] = list_id

    def list_del(self, idx: int) -> None:
        """``list_del()``: unlink page index ``idx`` from whatever list it is on."""
        nxt, prv = self.nxt, self.prv
        n = nxt[idx]
        p = prv[idx]
        nxt[p] = n
        prv[n] = p
        nxt[idx] = idx
        prv[idx] = idx
        self.list_of[idx] = -1

    def head_node(self, list_id: int) -> int:
        return self.spanned_pages + list_id
