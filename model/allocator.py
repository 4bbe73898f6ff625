"""The model as one object: a booted zone plus the three operations of the wire protocol.

Each operation validates its arguments first and raises :class:`RequestError` before touching
anything, so a refused request leaves the state unchanged.  Each successful operation returns
the :class:`Transition` record of what it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from .boot import boot
from .config import ZoneConfig
from .drain import drain_pages
from .errors import RequestError
from .free import free_hot_cold_page, free_pages_ok
from .record import Transition
from .rmqueue import buffered_rmqueue
from .types import Gfp, gfpflags_to_migratetype, parse_gfp
from .zone import Zone


@dataclass(eq=False)
class Allocator:
    """Linux 4.3's zone allocator for one zone, driven like the protocol drives it.

    ``alloc`` is ``buffered_rmqueue()`` (the caller's gfp mapped to a migratetype as
    ``gfpflags_to_migratetype()`` does); ``free`` is ``__free_pages()`` (order 0 through
    ``free_hot_cold_page()``, hot unless ``cold``; higher orders through
    ``__free_pages_ok()``); ``drain`` is ``drain_pages()``.
    """

    config: ZoneConfig
    zone: Zone = field(init=False)
    # gfp argument -> (mask, migratetype, cold): decoding names is the slowest part of a
    # pcp hit otherwise.  Per instance, so two allocators never share state.
    _gfp_cache: dict[object, tuple[int, int, bool]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.zone = boot(self.config)

    # -- validation -------------------------------------------------------------------

    def _check_cpu(self, cpu: object) -> int:
        if isinstance(cpu, bool) or not isinstance(cpu, int):
            raise RequestError(f"cpu must be an integer (got {cpu!r})")
        if not 0 <= cpu < self.config.cpus:
            raise RequestError(
                f"cpu {cpu} is out of range: the zone has cpus 0..{self.config.cpus - 1}"
            )
        return cpu

    def _check_order(self, order: object) -> int:
        if isinstance(order, bool) or not isinstance(order, int):
            raise RequestError(f"order must be an integer (got {order!r})")
        if not 0 <= order < self.config.max_order:
            raise RequestError(
                f"order {order} is out of range: orders run 0..max_order-1 = "
                f"0..{self.config.max_order - 1}"
            )
        return order

    # -- operations -------------------------------------------------------------------

    def alloc(self, cpu: int, order: int, gfp: Sequence[str] | int = ("GFP_KERNEL",)) -> Transition:
        """Allocate a block of ``2^order`` pages; ``rec.pfn`` is it, or None on failure."""
        if type(cpu) is not int or not 0 <= cpu < self.config.cpus:
            cpu = self._check_cpu(cpu)
        if type(order) is not int or not 0 <= order < self.config.max_order:
            order = self._check_order(order)
        cache = self._gfp_cache
        key: object = gfp
        try:
            kind = type(gfp)
            if kind is str:
                key = (gfp,)
            elif kind is bool:
                raise TypeError  # not a mask: let _gfp_decode refuse it
            elif isinstance(gfp, int):
                key = int(gfp)
            elif kind is not tuple:
                key = tuple(gfp)
            mask, mt, cold = cache[key]
        except (KeyError, TypeError):
            mask, mt, cold = self._gfp_decode(key if type(key) is tuple else gfp)
            if len(cache) < 4096:
                cache[key] = (mask, mt, cold)
        rec = Transition("alloc", cpu, order, mt, cold)
        pfn = buffered_rmqueue(self.zone, rec, cpu, order, mask, mt)
        if pfn is not None:
            self.zone.alloc_order[pfn - self.zone.zone_start_pfn] = order
        rec.pfn = pfn
        return rec

    def _gfp_decode(self, gfp: object) -> tuple[int, int, bool]:
        """(mask, migratetype, cold) of a gfp argument; raises RequestError when invalid."""
        if isinstance(gfp, str):
            gfp = (gfp,)
        if isinstance(gfp, int) and not isinstance(gfp, bool):
            if gfp < 0:
                raise RequestError(f"a gfp mask must be >= 0 (got {gfp})")
            mask = Gfp(gfp)
        else:
            try:
                names = tuple(cast("Iterable[str]", gfp))
            except TypeError:
                raise RequestError(
                    f"gfp must be a list of Linux 4.3 gfp flag names (got {gfp!r})"
                ) from None
            mask = parse_gfp(names)
        mt = gfpflags_to_migratetype(mask, self.config.mobility_grouping)
        return int(mask), mt, bool(mask & Gfp.COLD)

    def check_free(self, cpu: int, pfn: int, order: int) -> None:
        """Raise RequestError unless ``pfn`` is a block this allocator gave out at ``order``."""
        self._check_cpu(cpu)
        self._check_order(order)
        if isinstance(pfn, bool) or not isinstance(pfn, int):
            raise RequestError(f"pfn must be an integer (got {pfn!r})")
        zone = self.zone
        if not zone.zone_spans_pfn(pfn):
            raise RequestError(
                f"pfn {pfn} is outside the zone (pfns {zone.zone_start_pfn}..{zone.end_pfn - 1})"
            )
        held = zone.alloc_order[pfn - zone.zone_start_pfn]
        if held < 0:
            raise RequestError(f"pfn {pfn} is not an allocated block: it cannot be freed")
        if held != order:
            raise RequestError(
                f"pfn {pfn} was allocated with order {held}, not order {order}: free it with "
                "the order it was allocated with"
            )

    def free(self, cpu: int, pfn: int, order: int, cold: bool = False) -> Transition:
        """Free a block ``alloc`` gave out, with the same order (``__free_pages()``)."""
        zone = self.zone
        idx = pfn - zone.zone_start_pfn if type(pfn) is int else -1
        if not (
            type(cpu) is int
            and 0 <= cpu < self.config.cpus
            and 0 <= idx < zone.spanned_pages
            and type(order) is int
            and order >= 0
            and zone.alloc_order[idx] == order
            and (cold is False or cold is True)
        ):
            self.check_free(cpu, pfn, order)
            raise RequestError(f"cold must be true or false (got {cold!r})")
        zone.alloc_order[idx] = -1
        rec = Transition("free", cpu, order, -1, cold, pfn)
        if order == 0:
            free_hot_cold_page(zone, rec, cpu, pfn, cold)
        else:
            free_pages_ok(zone, rec, pfn, order)
        return rec

    def drain(self, cpu: int) -> Transition:
        """Empty one CPU's pcp lists back to the buddy lists (``drain_pages()``)."""
        cpu = self._check_cpu(cpu)
        rec = Transition("drain", cpu, 0)
        drain_pages(self.zone, rec, cpu)
        return rec

    def allocated_blocks(self) -> list[tuple[int, int]]:
        """(pfn, order) of every block in the user's hands: O(zone), for reports and tests."""
        start = self.zone.zone_start_pfn
        return [(i + start, o) for i, o in enumerate(self.zone.alloc_order) if o >= 0]
