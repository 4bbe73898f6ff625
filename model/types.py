"""Kernel enums and gfp flags of Linux 4.3 (include/linux/mmzone.h, include/linux/gfp.h).

Values are the v4.3 x86-64 ones with CONFIG_CMA and CONFIG_MEMORY_ISOLATION on, so that every
path of the allocator exists in the model.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from .errors import RequestError


class MigrateType(IntEnum):
    """Mirror of ``enum migratetype`` (v4.3, CMA and isolation configured in)."""

    UNMOVABLE = 0
    RECLAIMABLE = 1
    MOVABLE = 2
    RESERVE = 3
    CMA = 4
    ISOLATE = 5

    @property
    def proc_name(self) -> str:
        """The name /proc/pagetypeinfo (and the wire protocol) uses for this type."""
        return PROC_NAMES[self]

    @classmethod
    def from_proc_name(cls, name: str) -> MigrateType:
        try:
            return _BY_PROC_NAME[name]
        except KeyError:
            raise RequestError(
                f"unknown migratetype {name!r}; expected one of {', '.join(PROC_NAMES)}"
            ) from None


MIGRATE_UNMOVABLE = 0
MIGRATE_RECLAIMABLE = 1
MIGRATE_MOVABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_RESERVE = 3
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5
MIGRATE_TYPES = 6

PROC_NAMES = ("Unmovable", "Reclaimable", "Movable", "Reserve", "CMA", "Isolate")
_BY_PROC_NAME = {n: MigrateType(i) for i, n in enumerate(PROC_NAMES)}

# fallbacks[][] of v4.3 with the MIGRATE_RESERVE terminator dropped: the rows that are "never
# used" (RESERVE, CMA, ISOLATE) are empty.
FALLBACKS: tuple[tuple[int, ...], ...] = (
    (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
    (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    (),
    (),
    (),
)


class Gfp(IntFlag):
    """The ``__GFP_*`` bits of v4.3 include/linux/gfp.h."""

    DMA = 0x01
    HIGHMEM = 0x02
    DMA32 = 0x04
    MOVABLE = 0x08
    WAIT = 0x10
    HIGH = 0x20
    IO = 0x40
    FS = 0x80
    COLD = 0x100
    NOWARN = 0x200
    REPEAT = 0x400
    NOFAIL = 0x800
    NORETRY = 0x1000
    MEMALLOC = 0x2000
    COMP = 0x4000
    ZERO = 0x8000
    NOMEMALLOC = 0x10000
    HARDWALL = 0x20000
    THISNODE = 0x40000
    RECLAIMABLE = 0x80000
    NOACCOUNT = 0x100000
    NOTRACK = 0x200000
    NO_KSWAPD = 0x400000
    OTHER_NODE = 0x800000
    WRITE = 0x1000000


def _composites() -> dict[str, Gfp]:
    g = Gfp
    table: dict[str, Gfp] = {f"__GFP_{m.name}": m for m in Gfp if m.name}
    table["GFP_NOWAIT"] = g(0)
    table["GFP_ATOMIC"] = g.HIGH
    table["GFP_NOIO"] = g.WAIT
    table["GFP_NOFS"] = g.WAIT | g.IO
    table["GFP_KERNEL"] = g.WAIT | g.IO | g.FS
    table["GFP_TEMPORARY"] = table["GFP_KERNEL"] | g.RECLAIMABLE
    table["GFP_USER"] = table["GFP_KERNEL"] | g.HARDWALL
    table["GFP_HIGHUSER"] = table["GFP_USER"] | g.HIGHMEM
    table["GFP_HIGHUSER_MOVABLE"] = table["GFP_HIGHUSER"] | g.MOVABLE
    table["GFP_IOFS"] = g.IO | g.FS
    table["GFP_TRANSHUGE"] = (
        table["GFP_HIGHUSER_MOVABLE"] | g.COMP | g.NOMEMALLOC | g.NORETRY | g.NOWARN | g.NO_KSWAPD
    )
    table["GFP_THISNODE"] = g.THISNODE | g.NOWARN | g.NORETRY
    table["GFP_DMA"] = g.DMA
    table["GFP_DMA32"] = g.DMA32
    return table


GFP_NAMES: dict[str, Gfp] = _composites()


def parse_gfp(names: list[str] | tuple[str, ...]) -> Gfp:
    """OR together Linux 4.3 gfp flag names (``GFP_KERNEL``, ``__GFP_COLD``...)."""
    mask = Gfp(0)
    for name in names:
        if not isinstance(name, str):
            raise RequestError(f"gfp flags must be strings, got {name!r}")
        try:
            mask |= GFP_NAMES[name]
        except KeyError:
            raise RequestError(
                f"unknown gfp flag {name!r}; use Linux 4.3 names such as GFP_KERNEL, "
                "GFP_HIGHUSER_MOVABLE, GFP_TEMPORARY, __GFP_MOVABLE, __GFP_RECLAIMABLE, "
                "__GFP_COLD (see `rmqueue serve --help`)"
            ) from None
    return mask


def gfpflags_to_migratetype(gfp: int, mobility_grouping: bool) -> int:
    """Mirror of ``gfpflags_to_migratetype()``, include/linux/gfp.h v4.3.

    With mobility grouping off every request is UNMOVABLE, whatever its bits (the kernel
    warns about both mobility bits and goes on).  With grouping on, both bits make
    migratetype 3, which has no pcp list: the kernel only warns and then indexes past the
    pcp lists, so the model refuses such a request instead.
    """
    movable = gfp & Gfp.MOVABLE
    reclaimable = gfp & Gfp.RECLAIMABLE
    if not mobility_grouping:
        return MIGRATE_UNMOVABLE
    if movable and reclaimable:
        raise RequestError(
            "gfp has both __GFP_MOVABLE and __GFP_RECLAIMABLE: Linux 4.3 maps that to "
            "migratetype 3, which has no pcp list; pass at most one of them"
        )
    return (MIGRATE_MOVABLE if movable else 0) | (MIGRATE_RECLAIMABLE if reclaimable else 0)
