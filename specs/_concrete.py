"""Concrete accessors: the abstract state of a model :class:`Zone` as flat values.

Counts live in a dict keyed as the compiled count formulas read them:
``("nf", o)`` nr_free, ``("fl", o, t)`` free list length, ``("fp", t)`` pages on type-t free
lists, ``("pc", cpu)`` pcp count, ``("pl", cpu, t)`` pcp list length, ``"pp"`` pcp pages,
``"ap"`` allocated pages, ``"zp"`` zone pages, ``"abi"`` NR_ALLOC_BATCH's start value,
``("c", item)`` a vmstat counter, ``"fair"`` ZONE_FAIR_DEPLETED.  A missing key reads 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rmqueue.model.types import MIGRATE_PCPTYPES, MIGRATE_TYPES
from rmqueue.model.vmstat import NR_VM_ITEMS
from rmqueue.model.zone import Zone

from ._codegen import PY_OPS, PyTerm

CountKey = Any


class PyCounts:
    """The Counts accessor as Python source over a ``defaultdict(int)`` ``D`` (a missing key
    reads 0); it remembers every key the formula reads."""

    def __init__(self, max_order: int) -> None:
        self.max_order = max_order
        self.reads: list[CountKey] = []

    def _g(self, key: CountKey) -> PyTerm:
        self.reads.append(key)
        return PyTerm(f"D[{key!r}]")

    def nr_free(self, o: int) -> PyTerm:
        return self._g(("nf", o))

    def free_len(self, o: int, t: int) -> PyTerm:
        return self._g(("fl", o, t))

    def free_pages(self, t: int) -> PyTerm:
        return self._g(("fp", t))

    def pcp_count(self, cpu: int) -> PyTerm:
        return self._g(("pc", cpu))

    def pcp_len(self, cpu: int, t: int) -> PyTerm:
        return self._g(("pl", cpu, t))

    def pcp_pages(self) -> PyTerm:
        return self._g("pp")

    def allocated_pages(self) -> PyTerm:
        return self._g("ap")

    def zone_pages(self) -> PyTerm:
        return self._g("zp")

    def alloc_batch_init(self) -> PyTerm:
        return self._g("abi")

    def counter(self, item: int) -> PyTerm:
        return self._g(("c", item))

    def fair_depleted(self) -> PyTerm:
        return PyTerm(f"bool({self._g('fair').s})")


class DictCounts:
    """The Counts accessor over a concrete dict (for ``INT_OPS`` and the solver's literals)."""

    def __init__(
        self,
        d: dict[CountKey, Any],
        max_order: int,
        wrap: Callable[[Any], Any] = lambda v: v,
        wrap_bool: Callable[[bool], Any] = lambda b: b,
    ) -> None:
        self.d = d
        self.max_order = max_order
        self._w = wrap
        self._wb = wrap_bool

    def _g(self, key: CountKey) -> Any:
        return self._w(self.d.get(key, 0))

    def nr_free(self, o: int) -> Any:
        return self._g(("nf", o))

    def free_len(self, o: int, t: int) -> Any:
        return self._g(("fl", o, t))

    def free_pages(self, t: int) -> Any:
        return self._g(("fp", t))

    def pcp_count(self, cpu: int) -> Any:
        return self._g(("pc", cpu))

    def pcp_len(self, cpu: int, t: int) -> Any:
        return self._g(("pl", cpu, t))

    def pcp_pages(self) -> Any:
        return self._g("pp")

    def allocated_pages(self) -> Any:
        return self._g("ap")

    def zone_pages(self) -> Any:
        return self._g("zp")

    def alloc_batch_init(self) -> Any:
        return self._g("abi")

    def counter(self, item: int) -> Any:
        return self._g(("c", item))

    def fair_depleted(self) -> Any:
        return self._wb(bool(self.d.get("fair", False)))


def compile_count_formula(
    formula: Callable[..., Any], max_order: int, i: int
) -> tuple[Callable[[dict[CountKey, Any]], bool], tuple[CountKey, ...]]:
    """``formula(ops, C, i)`` as a Python function of a ``defaultdict(int)``, and the keys it
    reads."""
    view = PyCounts(max_order)
    body = formula(PY_OPS, view, i).s
    src = f"def _f(D):\n    return {body}\n"
    ns: dict[str, Any] = {}
    exec(compile(src, f"<formula {formula.__name__}[{i}]>", "exec"), ns)
    fn: Callable[[dict[CountKey, Any]], bool] = ns["_f"]
    return fn, tuple(dict.fromkeys(view.reads))


def full_counts(zone: Zone) -> defaultdict[CountKey, Any]:
    """Every count of the abstract state, by walking every list: O(zone)."""
    d: defaultdict[CountKey, Any] = defaultdict(int)
    fp = [0] * MIGRATE_TYPES
    for o in range(zone.max_order):
        d["nf", o] = zone.free_area[o].nr_free
        for t in range(MIGRATE_TYPES):
            n = sum(1 for _ in zone.iter_list(o * MIGRATE_TYPES + t))
            d["fl", o, t] = n
            fp[t] += n << o
    for t in range(MIGRATE_TYPES):
        d["fp", t] = fp[t]
    pp = 0
    for p in zone.pageset:
        d["pc", p.cpu] = p.count
        for t in range(MIGRATE_PCPTYPES):
            n = sum(1 for _ in zone.iter_list(p.list_ids[t]))
            d["pl", p.cpu, t] = n
            pp += n
    d["pp"] = pp
    d["ap"] = sum(1 << o for o in zone.alloc_order if o >= 0)
    d.update(constants(zone))
    for item in range(NR_VM_ITEMS):
        d["c", item] = zone.vm_stat[item]
    d["fair"] = zone.fair_depleted
    return d


def constants(zone: Zone) -> dict[CountKey, Any]:
    cfg = zone.config
    return {"zp": zone.spanned_pages, "abi": cfg.wmark_high - cfg.wmark_low}


def page_env(zone: Zone, read: Callable[[int], int] | None = None) -> dict[str, Any]:
    """The names the compiled page formulas use, bound to ``zone``'s arrays."""
    return {
        "LO": zone.list_of,
        "BO": zone.buddy_order,
        "AO": zone.alloc_order,
        "CM": zone.cached_mt,
        "S0": zone.zone_start_pfn,
        "SE": zone.zone_start_pfn + zone.spanned_pages,
        "NCPU": len(zone.pageset),
        "NFL": zone.nr_free_lists,
        "RD": read if read is not None else (lambda p: p),
        "PBM": zone.pageblock_mt,
        "PBO": zone.pageblock_order,
        "PB0": zone.zone_start_pfn >> zone.pageblock_order,
    }


def describe_page(zone: Zone, pfn: int) -> dict[str, Any]:
    """What the zone holds at ``pfn``, for violation details."""
    start = zone.zone_start_pfn
    if not zone.zone_spans_pfn(pfn):
        return {"pfn": pfn, "in_zone": False}
    i = pfn - start
    lid = zone.list_of[i]
    out: dict[str, Any] = {"pfn": pfn, "buddy_order": zone.buddy_order[i],
                           "alloc_order": zone.alloc_order[i], "cached_mt": zone.cached_mt[i],
                           "block_mt": zone.get_pageblock_migratetype(pfn)}
    if lid >= 0:
        kind, a, b = zone.describe_list(lid)
        out["list"] = (
            {"free_area": a, "migratetype": b} if kind == "free" else {"cpu": a, "pcp": b}
        )
    return out


__all__ = [
    "DictCounts",
    "PyCounts",
    "compile_count_formula",
    "constants",
    "describe_page",
    "full_counts",
    "page_env",
]
