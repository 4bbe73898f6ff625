"""The invariants and transition predicates over an implementation's *reported* state.

An implementation under test answers the protocol's ``state`` request with its free lists,
pcp lists and counters (protocol.md); the oracle knows which blocks it has handed out.  From
these, :func:`check_state` builds the abstract state of :mod:`rmqueue.specs.invariants` and
evaluates every invariant it can (``INT_OPS``, the same formulas); what the report omits
(counters, pcp lists, ``nr_free``) is not checked.  :func:`check_transition` judges one step as
any correct buddy allocator may take it (:mod:`rmqueue.specs.transitions`).

Reported states carry no PageBuddy flags nor cached types: the flag is taken to be set on
every free-list head with that list's order, and a pcp page's cached type to be its list's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from rmqueue.model.buddy import INT_OPS
from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import RmqueueError
from rmqueue.model.types import (
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    PROC_NAMES,
    gfpflags_to_migratetype,
    parse_gfp,
)
from rmqueue.model.vmstat import VmItem

from . import transitions as T
from ._concrete import DictCounts, compile_count_formula
from .check import coverage_mismatch, summary
from .errors import Violation
from .invariants import BY_NAME, COUNT_INVARIANTS, PAGE_INVARIANTS

_MT = {n: i for i, n in enumerate(PROC_NAMES)}


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
        return self.pcp.get(p, (0, 0))[1]

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


def build_view(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> tuple[ReportedView, dict[Any, Any], list[Violation]]:
    """The abstract state of a report, its counts, and the violations found building it
    (a pfn on two lists, a malformed entry)."""
    out: list[Violation] = []
    v = ReportedView(config)
    counts: dict[Any, Any] = {}
    seen: dict[int, str] = {}

    def claim(pfn: int, what: str) -> bool:
        if pfn in seen:
            out.append(Violation("blocks_disjoint", f"pfn {pfn} is on {seen[pfn]} and on "
                                 f"{what}", {"pfns": [pfn], "lists": [seen[pfn], what]}))
            return False
        seen[pfn] = what
        return True

    fp = [0] * MIGRATE_TYPES
    fl: dict[tuple[int, int], int] = {}
    for entry in state.get("free_area", []):
        o, mt = entry.get("order"), _mt(entry.get("migratetype"), out, "free_area")
        if not isinstance(o, int) or mt < 0:
            continue
        for pfn in entry.get("pfns", []):
            if claim(pfn, f"free_area[{o}].free_list[{PROC_NAMES[mt]}]"):
                v.free[pfn] = (o, mt)
            fl[o, mt] = fl.get((o, mt), 0) + 1
            fp[mt] += 1 << o if 0 <= o < 64 else 0
    for o in range(config.max_order):
        for t in range(MIGRATE_TYPES):
            counts["fl", o, t] = fl.get((o, t), 0)
    for t in range(MIGRATE_TYPES):
        counts["fp", t] = fp[t]
    pcp_present = "pcp" in state
    pl: dict[tuple[int, int], int] = {}
    for entry in state.get("pcp", []):
        cpu, mt = entry.get("cpu"), _mt(entry.get("migratetype"), out, "pcp")
        if not isinstance(cpu, int) or mt < 0:
            continue
        for pfn in entry.get("pfns", []):
            if claim(pfn, f"pcp[{cpu}].lists[{PROC_NAMES[mt]}]"):
                v.pcp[pfn] = (cpu, mt)
            pl[cpu, mt] = pl.get((cpu, mt), 0) + 1
    if pcp_present:
        for cpu in range(config.cpus):
            for t in range(MIGRATE_PCPTYPES):
                counts["pl", cpu, t] = pl.get((cpu, t), 0)
        counts["pp"] = sum(pl.values())
    for pfn, o in allocated.items():
        if claim(pfn, "the user's hands"):
            v.alloc[pfn] = o
    counts["ap"] = sum(1 << o for o in allocated.values())
    counts["zp"] = config.pages
    counts["abi"] = config.wmark_high - config.wmark_low
    for name, value in (state.get("counters") or {}).items():
        if name in VmItem.__members__ and isinstance(value, int):
            counts["c", VmItem[name]] = value
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
    return v, counts, out


def check_state(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> list[Violation]:
    """Every invariant the report lets us evaluate, over ``state`` and the blocks the oracle
    knows are allocated (pfn -> order).  Returns the violations (empty when all hold)."""
    v, counts, out = build_view(config, state, allocated)
    heads = sorted(set(v.free) | set(v.pcp) | set(v.alloc))
    for inv in PAGE_INVARIANTS:
        for p in heads:
            if not inv.formula(INT_OPS, v, p):
                out.append(_page_violation(inv.name, v, p))
    events = [(config.start_pfn, -1), (config.end_pfn, 1)]
    for s, e in v.blocks():
        events.append((s, 1))
        events.append((e, -1))
    bad = coverage_mismatch(events)
    if bad is not None:
        run = sum(w for x, w in events if x <= bad)
        if run > 0:
            out.append(Violation("blocks_disjoint", f"pfn {bad} is covered by more than one "
                                 "block (free, pcp or allocated)", {"pfns": [bad]}))
        else:
            out.append(Violation("zone_pages_conserved", f"pfn {bad} is in no free list, no "
                                 "pcp list and no allocated block: a lost page", {"pfns": [bad]}))
    dc = DictCounts(counts, config.max_order)
    for inv in COUNT_INVARIANTS:
        dom = {"order": range(config.max_order), "cpu": range(config.cpus)}.get(
            inv.domain, range(1))
        for i in dom:
            reads = _reads(inv.name, config.max_order, i)
            if not all(k in counts for k in reads) or inv.formula(INT_OPS, dc, i):
                continue
            if inv.name == "vm_events_balance" and _events_from_zero(counts):
                continue  # an allocator that does not count its boot frees in PGFREE
            out.append(Violation(inv.name, f"{summary(inv.doc)} (values read: "
                                 f"{[(k, counts[k]) for k in reads]})",
                                 {"index": i, "values": {repr(k): counts[k] for k in reads}}))
    return out


@lru_cache(maxsize=4096)
def _reads(name: str, max_order: int, i: int) -> tuple[Any, ...]:
    """The count keys invariant ``name`` reads at ``i``."""
    return compile_count_formula(BY_NAME[name].formula, max_order, i)[1]


def _events_from_zero(counts: dict[Any, Any]) -> bool:
    """PGFREE - PGALLOC = -(allocated pages): the events counted from 0 after boot."""
    return bool(counts["c", VmItem.PGFREE] - counts["c", VmItem.PGALLOC] == -counts["ap"])


def _page_violation(name: str, v: ReportedView, p: int) -> Violation:
    details: dict[str, Any] = {"pfns": [p], "orders": [], "lists": []}
    if p in v.free:
        o, mt = v.free[p]
        details["orders"].append(o)
        details["lists"].append({"free_area": o, "migratetype": PROC_NAMES[mt]})
        if name == "buddies_merged":
            details["pfns"].append(p ^ (1 << o))
    if p in v.pcp:
        cpu, t = v.pcp[p]
        details["lists"].append({"cpu": cpu, "pcp": PROC_NAMES[t] if 0 <= t < 6 else t})
    if p in v.alloc:
        details["orders"].append(v.alloc[p])
    return Violation(name, f"at pfn {p}: {details}", details)


def _covers(blocks: list[tuple[int, int]], s: int, e: int) -> bool:
    ev = [(s, -1), (e, 1)]
    for bs, be in blocks:
        if bs < e and s < be:
            ev.append((max(bs, s), 1))
            ev.append((min(be, e), -1))
    return coverage_mismatch(ev) is None


def check_transition(
    config: ZoneConfig,
    pre_state: Mapping[str, Any] | None,
    pre_allocated: Mapping[int, int],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    post_state: Mapping[str, Any] | None,
) -> list[Violation]:
    """The predicates of :mod:`rmqueue.specs.transitions` for one request/response, judged
    as any correct buddy allocator may behave.  With no states (a black-box implementation)
    only the result is checked against the config and the allocated blocks."""
    out: list[Violation] = []
    op = request.get("op")
    pre_alloc = dict(pre_allocated)
    pre_v = build_view(config, pre_state, pre_alloc)[0] if pre_state is not None else None
    post_alloc = dict(pre_alloc)
    if op == "alloc" and response.get("pfn") is not None:
        post_alloc[response["pfn"]] = request.get("order", 0)
    if op == "free":
        post_alloc.pop(request.get("pfn", -1), None)
    post_v = build_view(config, post_state, post_alloc)[0] if post_state is not None else None
    if "error" in response:
        # a refused request (``validates: true``) must leave the state unchanged
        if pre_v is not None and post_v is not None:
            pre_v.alloc = post_v.alloc = pre_alloc
            out.extend(_free_set_change(pre_v, post_v, [], 0))
        return out
    if op == "alloc":
        out.extend(_check_alloc(config, pre_v, post_v, pre_alloc, request, response))
    elif op == "free":
        pfn, order = request.get("pfn"), request.get("order")
        if not isinstance(pfn, int) or not isinstance(order, int) or pre_alloc.get(pfn) != order:
            out.append(Violation("free_result_valid", f"free of pfn {pfn} order {order}: the "
                                 "block is not allocated at that order", {"pfns": [pfn]}))
        elif post_v is not None:
            if not _covers(post_v.free_blocks(), pfn, pfn + (1 << order)):
                out.append(Violation("free_result_valid", f"after free of pfn {pfn} order "
                                     f"{order} its pages are not all on free or pcp lists",
                                     {"pfns": [pfn], "orders": [order]}))
            if pre_v is not None:
                out.extend(_free_set_change(pre_v, post_v, [(pfn, pfn + (1 << order))], +1))
    elif op == "drain":
        cpu = request.get("cpu")
        if post_v is not None and post_state is not None and "pcp" in post_state:
            left = sorted(p for p, (c, _) in post_v.pcp.items() if c == cpu)
            if left:
                out.append(Violation("drain_empties_pcp", f"cpu {cpu} still holds pcp pages "
                                     f"{left[:8]} after drain", {"pfns": left,
                                                                 "lists": [{"cpu": cpu}]}))
        if pre_v is not None and post_v is not None:
            out.extend(_free_set_change(pre_v, post_v, [], 0))
    return out


def _check_alloc(
    config: ZoneConfig,
    pre_v: ReportedView | None,
    post_v: ReportedView | None,
    pre_alloc: Mapping[int, int],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
) -> list[Violation]:
    out: list[Violation] = []
    order = request.get("order", 0)
    if not isinstance(order, int) or not 0 <= order < config.max_order:
        return [Violation("alloc_result_valid", f"alloc request with order {order!r}", {})]
    pfn = response.get("pfn")
    if pfn is None:
        if pre_v is None:
            return out
        try:
            mt = gfpflags_to_migratetype(
                parse_gfp(tuple(request.get("gfp", ["GFP_KERNEL"]))), config.mobility_grouping)
        except RmqueueError:
            return out
        usable = T.usable_types(mt)
        have = sorted((p, o, PROC_NAMES[t]) for p, (o, t) in pre_v.free.items()
                      if o >= order and t in usable)
        cpu = request.get("cpu")
        pcp_have = [p for p, (c, t) in pre_v.pcp.items() if c == cpu and t == mt] if order == 0 \
            else []
        if have or pcp_have:
            out.append(Violation("alloc_failure_justified", f"alloc of order {order} failed "
                                 f"while usable blocks were free: {have[:4]} pcp {pcp_have[:4]}",
                                 {"pfns": [h[0] for h in have[:8]] + pcp_have[:8],
                                  "orders": [h[1] for h in have[:8]],
                                  "lists": [{"free_area": h[1], "migratetype": h[2]}
                                            for h in have[:8]]}))
        if post_v is not None:
            out.extend(_free_set_change(pre_v, post_v, [], 0))
        return out
    size = 1 << order
    bad = []
    if not isinstance(pfn, int) or pfn % size:
        bad.append("not aligned to its order")
    elif not (config.start_pfn <= pfn and pfn + size <= config.end_pfn):
        bad.append("not inside the zone")
    else:
        for a, o in pre_alloc.items():
            if a < pfn + size and pfn < a + (1 << o):
                bad.append(f"overlapping the allocated block {a} (order {o})")
                break
        if pre_v is not None and not _covers(pre_v.free_blocks(), pfn, pfn + size):
            bad.append("not wholly free before the call")
    if bad:
        out.append(Violation("alloc_result_valid", f"alloc of order {order} returned pfn "
                             f"{pfn}: {', '.join(bad)}", {"pfns": [pfn], "orders": [order]}))
    elif pre_v is not None and post_v is not None:
        out.extend(_free_set_change(pre_v, post_v, [(pfn, pfn + size)], -1))
    return out


def _free_set_change(
    pre: ReportedView, post: ReportedView, block: list[tuple[int, int]], sign: int
) -> list[Violation]:
    """The pages not in the user's hands change by exactly ``sign * block``."""
    ev: list[tuple[int, int]] = []
    for s, e in post.free_blocks():
        ev += [(s, 1), (e, -1)]
    for s, e in pre.free_blocks():
        ev += [(s, -1), (e, 1)]
    for s, e in block:
        ev += [(s, -sign), (e, sign)]
    bad = coverage_mismatch(ev)
    if bad is None:
        return []
    run = sum(w for x, w in ev if x <= bad)
    what = "gained" if run > 0 else "lost"
    return [Violation("pages_conserved", f"the free pages (free and pcp lists) {what} pfn "
                      f"{bad} beyond what the step hands out or takes back", {"pfns": [bad]})]


__all__ = ["ReportedView", "Violation", "build_view", "check_state", "check_transition"]
