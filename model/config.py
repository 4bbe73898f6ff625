"""Zone configuration: the `config` object of the wire protocol, validated, with defaults.

Every default is what Linux 4.3 computes for a machine whose only memory is this one zone:
pcp high/batch by ``zone_batchsize()``/``pageset_set_batch()``, the watermarks by
``init_per_zone_wmark_min()``/``__setup_per_zone_wmarks()``, the RESERVE target by
``setup_zone_migrate_reserve()`` and mobility grouping by ``build_all_zonelists()``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

PAGE_SHIFT = 12
MAX_ZONE_PAGES = 1 << 28


def zone_batchsize(managed_pages: int) -> int:
    """Mirror of ``zone_batchsize()`` (MMU case), mm/page_alloc.c v4.3.

    Returns the raw value; the caller stores ``max(1, batch)`` as the kernel's
    ``pageset_set_batch()`` does.
    """
    batch = managed_pages // 1024
    if batch * (1 << PAGE_SHIFT) > 512 * 1024:
        batch = (512 * 1024) >> PAGE_SHIFT
    batch //= 4
    if batch < 1:
        batch = 1
    # rounddown_pow_of_two(batch + batch / 2) - 1
    return (1 << ((batch + batch // 2).bit_length() - 1)) - 1


def default_pcp(managed_pages: int) -> tuple[int, int]:
    """(high, batch) as ``pageset_set_batch(zone_batchsize())`` leaves them."""
    batch = zone_batchsize(managed_pages)
    return 6 * batch, max(1, batch)


def default_watermarks(managed_pages: int) -> tuple[int, int, int]:
    """(min, low, high) from ``init_per_zone_wmark_min()`` for a one-zone machine."""
    lowmem_kbytes = managed_pages << (PAGE_SHIFT - 10)
    min_free_kbytes = min(max(math.isqrt(lowmem_kbytes * 16), 128), 65536)
    wmin = min_free_kbytes >> (PAGE_SHIFT - 10)
    return wmin, wmin + (wmin >> 2), wmin + (wmin >> 1)


def default_reserve_pageblocks(wmark_min: int, pageblock_order: int) -> int:
    """The target ``setup_zone_migrate_reserve()`` computes: at most 2 pageblocks."""
    nr = 1 << pageblock_order
    return min(2, -(-wmark_min // nr))


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    """A validated zone; field names follow protocol.md (see docs in README)."""

    zone_name: str = "Normal"
    start_pfn: int = 0
    pages: int = 1024
    max_order: int = 11
    pageblock_order: int = 9
    cpus: int = 2
    pcp_high: int = 0
    pcp_batch: int = 1
    wmark_min: int = 16
    wmark_low: int = 20
    wmark_high: int = 24
    mobility_grouping: bool = True
    reserve_pageblocks: int = 0
    cma_pageblocks: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        validate(self)

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.pages

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def first_pageblock(self) -> int:
        """Absolute index (pfn >> pageblock_order) of the pageblock holding start_pfn."""
        return self.start_pfn >> self.pageblock_order

    @property
    def nr_pageblocks(self) -> int:
        return ((self.end_pfn - 1) >> self.pageblock_order) - self.first_pageblock + 1

    def to_json(self) -> dict[str, Any]:
        """The protocol's CONFIG object, with every field spelt out."""
        return {
            "zone": {"name": self.zone_name, "start_pfn": self.start_pfn, "pages": self.pages},
            "max_order": self.max_order,
            "pageblock_order": self.pageblock_order,
            "cpus": self.cpus,
            "pcp": {"high": self.pcp_high, "batch": self.pcp_batch},
            "watermarks": {"min": self.wmark_min, "low": self.wmark_low, "high": self.wmark_high},
            "mobility_grouping": self.mobility_grouping,
            "reserve_pageblocks": self.reserve_pageblocks,
            "cma_pageblocks": list(self.cma_pageblocks),
        }

    @classmethod
    def from_json(cls, obj: object, *, strict: bool = True) -> ZoneConfig:
        """Build from a protocol CONFIG object, filling kernel-computed defaults.

        With ``strict`` an unknown key is an error; otherwise it is reported on stderr and
        ignored (so a newer oracle can talk to this server).
        """
        return _from_json(obj, strict)

    @classmethod
    def kernel_default(cls, pages: int, **overrides: Any) -> ZoneConfig:
        """A zone of ``pages`` pages with every other field computed as Linux 4.3 would."""
        cfg: dict[str, Any] = {"zone": {"pages": pages}}
        cfg.update(overrides)
        return _from_json(cfg, True)


_TOP_KEYS = {
    "zone", "max_order", "pageblock_order", "cpus", "pcp", "watermarks",
    "mobility_grouping", "reserve_pageblocks", "cma_pageblocks",
}


def _int(obj: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key} must be an integer (got {value!r})")
    return value


def _sub(obj: Mapping[str, Any], key: str, strict: bool) -> Mapping[str, Any]:
    value = obj.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be an object (got {value!r})")
    return value


def _unknown(keys: set[str], known: set[str], where: str, strict: bool) -> None:
    extra = sorted(keys - known)
    if not extra:
        return
    msg = f"unknown config key(s) {where}{', '.join(extra)}; known: {', '.join(sorted(known))}"
    if strict:
        raise ConfigError(msg)
    print(f"rmqueue: warning: {msg} (ignored)", file=sys.stderr)


def _from_json(obj: object, strict: bool) -> ZoneConfig:
    if obj is None:
        obj = {}
    if not isinstance(obj, Mapping):
        raise ConfigError(f"config must be a JSON object (got {obj!r})")
    _unknown(set(obj), _TOP_KEYS, "", strict)
    zone = _sub(obj, "zone", strict)
    _unknown(set(zone), {"name", "start_pfn", "pages"}, "zone.", strict)
    name = zone.get("name", "Normal")
    if not isinstance(name, str):
        raise ConfigError(f"zone.name must be a string (got {name!r})")
    pages = _int(zone, "pages", "zone.", 1024)
    if pages < 1:
        raise ConfigError(f"zone.pages must be at least 1 (got {pages}): a zone needs pages")
    max_order = _int(obj, "max_order", "", 11)
    pageblock_order = _int(obj, "pageblock_order", "", min(9, max(max_order - 1, 0)))
    pcp = _sub(obj, "pcp", strict)
    _unknown(set(pcp), {"high", "batch"}, "pcp.", strict)
    d_high, d_batch = default_pcp(pages)
    wm = _sub(obj, "watermarks", strict)
    _unknown(set(wm), {"min", "low", "high"}, "watermarks.", strict)
    d_min, d_low, d_high_wm = default_watermarks(pages)
    wmin = _int(wm, "min", "watermarks.", d_min)
    mobility = obj.get("mobility_grouping")
    if mobility is None:
        # build_all_zonelists(): grouping is off below pageblock_nr_pages * MIGRATE_TYPES.
        mobility = pages >= (1 << max(pageblock_order, 0)) * 6
    if not isinstance(mobility, bool):
        raise ConfigError(f"mobility_grouping must be true or false (got {mobility!r})")
    cma = obj.get("cma_pageblocks", [])
    if not isinstance(cma, list) or any(
        isinstance(i, bool) or not isinstance(i, int) for i in cma
    ):
        raise ConfigError(f"cma_pageblocks must be a list of pageblock indexes (got {cma!r})")
    if 0 <= pageblock_order <= 30:
        d_reserve = default_reserve_pageblocks(wmin, pageblock_order)
    else:
        d_reserve = 0
    return ZoneConfig(
        zone_name=name,
        start_pfn=_int(zone, "start_pfn", "zone.", 0),
        pages=pages,
        max_order=max_order,
        pageblock_order=pageblock_order,
        cpus=_int(obj, "cpus", "", 2),
        pcp_high=_int(pcp, "high", "pcp.", d_high),
        pcp_batch=_int(pcp, "batch", "pcp.", d_batch),
        wmark_min=wmin,
        wmark_low=_int(wm, "low", "watermarks.", d_low if "min" not in wm else wmin + wmin // 4),
        wmark_high=_int(
            wm, "high", "watermarks.", d_high_wm if "min" not in wm else wmin + wmin // 2
        ),
        mobility_grouping=mobility,
        reserve_pageblocks=_int(obj, "reserve_pageblocks", "", d_reserve),
        cma_pageblocks=tuple(cma),
    )


def validate(c: ZoneConfig) -> None:
    """Raise ConfigError naming the first problem of ``c``."""
    if c.pages < 1:
        raise ConfigError(f"zone.pages must be at least 1 (got {c.pages}): a zone needs pages")
    if c.pages > MAX_ZONE_PAGES:
        raise ConfigError(f"zone.pages must be at most 2^28 (got {c.pages})")
    if c.start_pfn < 0:
        raise ConfigError(f"zone.start_pfn must be >= 0 (got {c.start_pfn})")
    if c.end_pfn > 1 << 40:
        raise ConfigError(f"zone must end below pfn 2^40 (ends at {c.end_pfn})")
    if not 2 <= c.max_order <= 20:
        raise ConfigError(f"max_order must be in 2..20 (got {c.max_order}); Linux uses 11")
    if not 1 <= c.pageblock_order <= c.max_order - 1:
        raise ConfigError(
            f"pageblock_order must be in 1..max_order-1 = 1..{c.max_order - 1} "
            f"(got {c.pageblock_order}); Linux 4.3 x86-64 uses 9"
        )
    if not 1 <= c.cpus <= 4096:
        raise ConfigError(f"cpus must be in 1..4096 (got {c.cpus})")
    if c.pcp_high < 0:
        raise ConfigError(f"pcp.high must be >= 0 (got {c.pcp_high})")
    if c.pcp_batch < 1:
        raise ConfigError(
            f"pcp.batch must be >= 1 (got {c.pcp_batch}); the kernel stores max(1, batch)"
        )
    if c.pcp_batch > max(c.pcp_high, 1):
        raise ConfigError(
            f"pcp.batch must be <= max(pcp.high, 1) = {max(c.pcp_high, 1)} (got batch "
            f"{c.pcp_batch}, high {c.pcp_high}); the kernel's small-zone setting is high 0, "
            "batch 1"
        )
    if not 0 <= c.wmark_min <= c.wmark_low <= c.wmark_high:
        raise ConfigError(
            "watermarks must satisfy 0 <= min <= low <= high (got "
            f"min {c.wmark_min}, low {c.wmark_low}, high {c.wmark_high})"
        )
    if c.reserve_pageblocks < 0:
        raise ConfigError(f"reserve_pageblocks must be >= 0 (got {c.reserve_pageblocks})")
    _validate_cma(c)


def _validate_cma(c: ZoneConfig) -> None:
    if len(set(c.cma_pageblocks)) != len(c.cma_pageblocks):
        raise ConfigError(f"cma_pageblocks lists a pageblock twice: {list(c.cma_pageblocks)}")
    per_block = 1 << (c.max_order - 1 - c.pageblock_order)
    chosen = set(c.cma_pageblocks)
    for idx in sorted(chosen):
        if idx < 0 or idx >= c.nr_pageblocks:
            raise ConfigError(
                f"cma_pageblocks index {idx} is outside the zone's pageblocks "
                f"0..{c.nr_pageblocks - 1}"
            )
        first_pfn = (c.first_pageblock + idx) << c.pageblock_order
        window = first_pfn >> (c.max_order - 1)
        head_idx = (window << (c.max_order - 1 - c.pageblock_order)) - c.first_pageblock
        group = range(head_idx, head_idx + per_block)
        block_pfn = (c.first_pageblock + head_idx) << c.pageblock_order
        block_end = block_pfn + (1 << (c.max_order - 1))
        outside = block_pfn < c.start_pfn or block_end > c.end_pfn
        if outside or not all(i in chosen for i in group):
            why = "not wholly inside the zone" if outside else "not wholly listed"
            raise ConfigError(
                f"cma_pageblocks must form whole max-order blocks ({per_block} pageblocks = "
                f"{1 << (c.max_order - 1)} pages, aligned on absolute pfns, inside the zone): "
                f"pageblock {idx} belongs to the block at pfn {block_pfn}..{block_end - 1}, "
                f"which is {why}"
            )
