"""The abstract state of a reported protocol state (:mod:`rmqueue.specs.reported`).

:class:`ReportedView` is the ``PageView`` (ints) over an implementation's reported free and
pcp lists plus the blocks the oracle knows are allocated; :func:`build_view` builds it (and
the index :class:`ReportedChecker` diffs), and :func:`_state_counts` the ``Counts`` a report
lets us read.  Reported states carry no PageBuddy flags nor cached types: the flag is taken
to be set on every free-list head with that list's order, and a pcp page's cached type to be
its list's, or CMA when its pageblock is (what 4.3 caches for a page of a CMA pageblock,
which it keeps on the MOVABLE pcp list).  Pageblock types are reported only with the
protocol's state-detail extension (``pageblocks``); without them ``block_mt`` is refused, and
the invariants that read it are not evaluated (never on made-up types).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rmqueue.model.config import ZoneConfig
from rmqueue.model.types import (
    MIGRATE_CMA,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    PROC_NAMES,
)
from rmqueue.model.vmstat import VmItem

from .errors import Violation

_MT = {n: i for i, n in enumerate(PROC_NAMES)}


_VM = dict(VmItem.__members__)


class ReportedView:
    """PageView (ints) over a reported state plus the oracle's allocated blocks."""

    def __init__(self, config: ZoneConfig) -> None:
        self.start = config.start_pfn
        self.end = config.end_pfn
        self.max_order = config.max_order
        self.cpus = config.cpus
        self.free: dict[int, tuple[int, int]] = {}
        self.pcp: dict[int, tuple[int, int]] = {}
        self.alloc: dict[int, int] = {}
        # each pageblock's type from the zone's first (None: not reported)
        self.pb: list[int] | None = None
        self.pageblock_order = config.pageblock_order
        self.first_pageblock = config.start_pfn >> config.pageblock_order

    def buddy(self, p: int) -> bool:
        return p in self.free

    def buddy_order(self, p: int) -> int:
        return self.free.get(p, (0, 0))[0]

    def on_free(self, p: int) -> bool:
        return p in self.free

    def free_order(self, p: int) -> int:
        return self.free.get(p, (0, 0))[0]

    def free_mt(self, p: int) -> int:
        return self.free.get(p, (0, 0))[1]

    def on_pcp(self, p: int) -> bool:
        return p in self.pcp

    def pcp_cpu(self, p: int) -> int:
        return self.pcp.get(p, (0, 0))[0]

    def pcp_index(self, p: int) -> int:
        return self.pcp.get(p, (0, 0))[1]

    def allocated(self, p: int) -> bool:
        return p in self.alloc

    def alloc_order(self, p: int) -> int:
        return self.alloc.get(p, 0)

    def cached_mt(self, p: int) -> int:
        if self.pb is not None and p in self.pcp and self.block_mt(p) == MIGRATE_CMA:
            return MIGRATE_CMA
        return self.pcp.get(p, (0, 0))[1]

    def block_mt(self, p: int) -> int:
        """The reported type of ``p``'s pageblock (0 outside the zone)."""
        if self.pb is None:
            raise ValueError("the reported state has no pageblock types (state-detail)")
        if not self.start <= p < self.end:
            return 0
        return self.pb[(p >> self.pageblock_order) - self.first_pageblock]

    def blocks(self) -> list[tuple[int, int]]:
        """(start, end) of every block the state holds (free, pcp, allocated)."""
        out = [(p, p + (1 << o)) for p, (o, _) in self.free.items()]
        out.extend((p, p + 1) for p in self.pcp)
        out.extend((p, p + (1 << o)) for p, o in self.alloc.items())
        return out

    def free_blocks(self) -> list[tuple[int, int]]:
        """(start, end) of every block not in the user's hands (free lists and pcp)."""
        out = [(p, p + (1 << o)) for p, (o, _) in self.free.items()]
        out.extend((p, p + 1) for p in self.pcp)
        return out


def _mt(name: object, out: list[Violation], where: str) -> int:
    if isinstance(name, str) and name in _MT:
        return _MT[name]
    out.append(Violation("reported_state_wellformed", f"{where}: unknown migratetype "
                         f"{name!r}; expected one of {', '.join(PROC_NAMES)}", {}))
    return -1


Lists = dict[tuple[str, int, int], list[Any]]


@dataclass(slots=True)
class _Index:
    """A reported state's view, kept for the next diff: ``lists`` maps
    ("f", order, mt) and ("p", cpu, mt) to a copy of that list's pfns (None when two entries
    share a key); ``bad`` (failing page invariants per head) and ``nz`` (the non-zero net
    coverage per pfn) once :meth:`ReportedChecker.check_state` has evaluated them."""

    v: ReportedView
    out: list[Violation]
    lists: Lists | None
    pcp_present: bool
    bad: dict[int, tuple[str, ...]] | None = None
    nz: dict[int, int] | None = None
    raw: tuple[Any, ...] | None = None  # the lists as reported, copied (a fast equal test)
    pb_raw: list[Any] | None = None  # the pageblock types as reported, copied
    keys: tuple[list[Any], list[Any]] | None = None  # the key of each raw entry


def build_view(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> tuple[ReportedView, dict[Any, Any], list[Violation]]:
    """The abstract state of a report, its counts, and the violations found building it
    (a pfn on two lists, a malformed entry)."""
    idx = _build(config, state, allocated)
    return idx.v, _state_counts(config, state, allocated), idx.out


def _build(config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]) -> _Index:
    out: list[Violation] = []
    v = ReportedView(config)
    seen: dict[int, str] = {}
    lists: Lists | None = {}

    def claim(pfn: int, what: str) -> bool:
        if pfn in seen:
            out.append(Violation("blocks_disjoint", f"pfn {pfn} is on {seen[pfn]} and on "
                                 f"{what}", {"pfns": [pfn], "lists": [seen[pfn], what]}))
            return False
        seen[pfn] = what
        return True

    for entry in state.get("free_area", []):
        o, mt = entry.get("order"), _mt(entry.get("migratetype"), out, "free_area")
        if not isinstance(o, int) or mt < 0:
            continue
        pfns = entry.get("pfns", [])
        for pfn in pfns:
            if claim(pfn, f"free_area[{o}].free_list[{PROC_NAMES[mt]}]"):
                v.free[pfn] = (o, mt)
        lists = _record(lists, ("f", o, mt), pfns)
    pcp_present = "pcp" in state
    for entry in state.get("pcp", []):
        cpu, mt = entry.get("cpu"), _mt(entry.get("migratetype"), out, "pcp")
        if not isinstance(cpu, int) or mt < 0:
            continue
        pfns = entry.get("pfns", [])
        for pfn in pfns:
            if claim(pfn, f"pcp[{cpu}].lists[{PROC_NAMES[mt]}]"):
                v.pcp[pfn] = (cpu, mt)
        lists = _record(lists, ("p", cpu, mt), pfns)
    for pfn, o in allocated.items():
        if claim(pfn, "the user's hands"):
            v.alloc[pfn] = o
    v.pb = _pageblocks(config, state.get("pageblocks"), out)
    return _Index(v, out, lists, pcp_present, raw=_raw(state), pb_raw=_pb_raw(state))


def _pb_raw(state: Mapping[str, Any]) -> list[Any] | None:
    got = state.get("pageblocks")
    return list(got) if isinstance(got, list) else None


def _pageblocks(config: ZoneConfig, names: Any, out: list[Violation]) -> list[int] | None:
    """The reported pageblock types (state-detail), or None when not reported or malformed
    (a malformed list is a violation)."""
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != config.nr_pageblocks:
        out.append(Violation("reported_state_wellformed", f"pageblocks: expected a list of "
                             f"{config.nr_pageblocks} migratetype names (one per pageblock "
                             f"from the zone's first), got {names!r:.80}", {}))
        return None
    types = [_mt(n, out, "pageblocks") for n in names]
    return None if min(types, default=0) < 0 else types


def _record(lists: Lists | None, key: tuple[str, int, int], pfns: list[Any]) -> Lists | None:
    if lists is None or key in lists:
        return None
    lists[key] = list(pfns)
    return lists


def _all_lists(state: Mapping[str, Any]) -> Iterable[tuple[str, int, int, int]]:
    """(kind, order or cpu, mt, length) of every well-formed list entry, duplicates kept."""
    for kind, field, key in (("f", "free_area", "order"), ("p", "pcp", "cpu")):
        for entry in state.get(field, []):
            a, name = entry.get(key), entry.get("migratetype")
            if isinstance(a, int) and isinstance(name, str) and name in _MT:
                yield kind, a, _MT[name], len(entry.get("pfns", []))


def _state_counts(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> dict[Any, Any]:
    """The counts a report lets us read (see :mod:`._concrete`)."""
    return _counts(config, state, allocated, _all_lists(state), "pcp" in state)


def _counts(
    config: ZoneConfig,
    state: Mapping[str, Any],
    allocated: Mapping[int, int],
    lists: Iterable[tuple[str, int, int, int]],
    pcp_present: bool,
) -> dict[Any, Any]:
    counts: dict[Any, Any] = {}
    fp = [0] * MIGRATE_TYPES
    fl: dict[tuple[int, int], int] = {}
    pl: dict[tuple[int, int], int] = {}
    for kind, a, mt, n in lists:
        if kind == "f":
            fl[a, mt] = fl.get((a, mt), 0) + n
            fp[mt] += n << a if 0 <= a < 64 else 0
        else:
            pl[a, mt] = pl.get((a, mt), 0) + n
    for o in range(config.max_order):
        for t in range(MIGRATE_TYPES):
            counts["fl", o, t] = fl.get((o, t), 0)
    for t in range(MIGRATE_TYPES):
        counts["fp", t] = fp[t]
    if pcp_present:
        for cpu in range(config.cpus):
            for t in range(MIGRATE_PCPTYPES):
                counts["pl", cpu, t] = pl.get((cpu, t), 0)
        counts["pp"] = sum(pl.values())
    counts["ap"] = sum(1 << o for o in allocated.values())
    counts["zp"] = config.pages
    counts["abi"] = config.wmark_high - config.wmark_low
    for name, value in (state.get("counters") or {}).items():
        if name in _VM and isinstance(value, int):
            counts["c", _VM[name]] = value
    nr_free = state.get("nr_free")
    if isinstance(nr_free, list):
        for o, n in enumerate(nr_free):
            counts["nf", o] = n
    for entry in state.get("pcp_sets", []) or []:
        if isinstance(entry, Mapping) and "cpu" in entry and "count" in entry:
            counts["pc", entry["cpu"]] = entry["count"]
    flags = state.get("flags")
    if isinstance(flags, Mapping) and "ZONE_FAIR_DEPLETED" in flags:
        counts["fair"] = bool(flags["ZONE_FAIR_DEPLETED"])
    return counts


_EMPTY: list[Any] = []


def _raw(state: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple([{**e, "pfns": list(e.get("pfns", _EMPTY))} for e in state.get(f, _EMPTY)]
                 for f in ("free_area", "pcp"))


__all__ = ["Lists", "ReportedView", "build_view"]
