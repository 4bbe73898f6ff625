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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
from ._codegen import PY_OPS, PyTerm
from ._concrete import compile_count_formula
from .check import coverage_mismatch, summary
from .errors import Violation
from .invariants import BY_NAME, COUNT_INVARIANTS, PAGE_INVARIANTS, conjunction

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
    return _Index(v, out, lists, pcp_present, raw=_raw(state))


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


def check_state(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> list[Violation]:
    """Every invariant the report lets us evaluate, over ``state`` and the blocks the oracle
    knows are allocated (pfn -> order).  Returns the violations (empty when all hold).
    Linear in the state: one pass builds the pfn index, the page formulas (compiled) read it
    at every head.  :class:`ReportedChecker` does the same incrementally."""
    idx = _build(config, state, allocated)
    _evaluate_all(config, idx)
    return _state_violations(config, idx, _state_counts(config, state, allocated))


def _evaluate_all(config: ZoneConfig, idx: _Index) -> None:
    v = idx.v
    idx.bad = _page_failures(config, v, [*v.free, *v.pcp, *v.alloc])
    nz: dict[int, int] = {}
    _cover(nz, config.start_pfn, config.end_pfn, -1)
    for s, e in v.blocks():
        _cover(nz, s, e, 1)
    idx.nz = {x: w for x, w in nz.items() if w}


def _cover(nz: dict[int, int], s: int, e: int, sign: int) -> None:
    """Add the coverage events of ``[s, e)`` times ``sign`` to the net map ``nz``."""
    nz[s] = nz.get(s, 0) + sign
    nz[e] = nz.get(e, 0) - sign


def _state_violations(
    config: ZoneConfig, idx: _Index, counts: dict[Any, Any]
) -> list[Violation]:
    v, bad, nz = idx.v, idx.bad, idx.nz
    assert bad is not None and nz is not None
    out = list(idx.out)
    failing = sorted(bad)
    for inv in PAGE_INVARIANTS:
        for p in failing:
            if inv.name in bad[p]:
                out.append(_page_violation(inv.name, v, p))
    if nz:
        # coverage_mismatch's argument: the first pfn with a non-zero net weight
        first = min(nz)
        if sum(w for x, w in nz.items() if x <= first) > 0:
            out.append(Violation("blocks_disjoint", f"pfn {first} is covered by more than one "
                                 "block (free, pcp or allocated)", {"pfns": [first]}))
        else:
            out.append(Violation("zone_pages_conserved", f"pfn {first} is in no free list, no "
                                 "pcp list and no allocated block: a lost page",
                                 {"pfns": [first]}))
    have = counts.keys()
    for inv, i, fn, reads, needs in _count_checks(config.max_order, config.cpus):
        if not have >= needs or fn(counts):
            continue
        if inv.name == "vm_events_balance" and _events_from_zero(counts):
            continue  # an allocator that does not count its boot frees in PGFREE
        out.append(Violation(inv.name, f"{summary(inv.doc)} (values read: "
                             f"{[(k, counts[k]) for k in reads]})",
                             {"index": i, "values": {repr(k): counts[k] for k in reads}}))
    return out


@lru_cache(maxsize=64)
def _count_checks(
    max_order: int, cpus: int
) -> tuple[tuple[Any, int, Callable[[dict[Any, Any]], bool], tuple[Any, ...], frozenset[Any]],
           ...]:
    """Every count invariant instance: (invariant, i, compiled formula, keys read (as a
    tuple and as a set))."""
    out = []
    for inv in COUNT_INVARIANTS:
        dom = {"order": range(max_order), "cpu": range(cpus)}.get(inv.domain, range(1))
        for i in dom:
            fn, reads = _count_check(inv.name, max_order, i)
            out.append((inv, i, fn, reads, frozenset(reads)))
    return tuple(out)


@lru_cache(maxsize=4096)
def _count_check(
    name: str, max_order: int, i: int
) -> tuple[Callable[[dict[Any, Any]], bool], tuple[Any, ...]]:
    """Invariant ``name`` at ``i`` compiled, and the count keys it reads."""
    return compile_count_formula(BY_NAME[name].formula, max_order, i)


def _reads(name: str, max_order: int, i: int) -> tuple[Any, ...]:
    """The count keys invariant ``name`` reads at ``i``."""
    return _count_check(name, max_order, i)[1]


class _PyReportedView:
    """:class:`ReportedView` as Python source (for :mod:`._codegen`'s ``PY_OPS``), over its
    dicts bound as ``F`` (free), ``P`` (pcp), ``A`` (allocated); ``Z`` is (0, 0)."""

    def __init__(self, max_order: int) -> None:
        self.start, self.end, self.cpus = PyTerm("S0"), PyTerm("SE"), PyTerm("NCPU")
        self.max_order = max_order

    def buddy(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"({p.s} in F)")

    def buddy_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"F.get({p.s}, Z)[0]")

    on_free, free_order = buddy, buddy_order

    def free_mt(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"F.get({p.s}, Z)[1]")

    def on_pcp(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"({p.s} in P)")

    def pcp_cpu(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"P.get({p.s}, Z)[0]")

    def pcp_index(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"P.get({p.s}, Z)[1]")

    cached_mt = pcp_index

    def allocated(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"({p.s} in A)")

    def alloc_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"A.get({p.s}, 0)")


PageCheck = Callable[..., Any]


@lru_cache(maxsize=64)
def _page_checks(
    max_order: int, start: int, end: int, cpus: int
) -> tuple[PageCheck, tuple[tuple[str, PageCheck], ...]]:
    """The page invariants compiled over a reported view: ``failing(heads, F, P, A)`` lists
    the heads where their conjunction is false, and one ``f(p, F, P, A)`` per invariant."""
    env = {"S0": start, "SE": end, "NCPU": cpus, "Z": (0, 0)}
    view, p = _PyReportedView(max_order), PyTerm("p")

    def compile_(src: str, label: str) -> PageCheck:
        ns: dict[str, Any] = dict(env)
        exec(compile(src, f"<reported {label}>", "exec"), ns)
        fn: PageCheck = ns["_f"]
        return fn

    body = conjunction(PAGE_INVARIANTS)(PY_OPS, view, p).s
    failing = compile_(f"def _f(heads, F, P, A):\n    return [p for p in heads if not {body}]\n",
                       "page invariants")
    each = tuple((inv.name, compile_(f"def _f(p, F, P, A):\n    return "
                                     f"{inv.formula(PY_OPS, view, p).s}\n", inv.name))
                 for inv in PAGE_INVARIANTS)
    return failing, each


def _page_failures(
    config: ZoneConfig, v: ReportedView, heads: Iterable[int]
) -> dict[int, tuple[str, ...]]:
    """The page invariants that fail at each of ``heads`` (only heads that fail some)."""
    failing, each = _page_checks(config.max_order, config.start_pfn, config.end_pfn,
                                 config.cpus)
    F, P, A = v.free, v.pcp, v.alloc
    return {p: tuple(name for name, f in each if not f(p, F, P, A))
            for p in failing(heads, F, P, A)}


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
    pre_alloc = dict(pre_allocated)
    pre_v = build_view(config, pre_state, pre_alloc)[0] if pre_state is not None else None
    post_alloc = _post_allocated(pre_alloc, request, response)
    post_v = build_view(config, post_state, post_alloc)[0] if post_state is not None else None

    def free_change(block: list[tuple[int, int]], sign: int) -> list[Violation]:
        assert pre_v is not None and post_v is not None
        return _free_set_change(pre_v, post_v, block, sign)

    return _transition(config, pre_v, post_v, pre_alloc, request, response, post_state,
                       free_change)


def _post_allocated(
    pre_alloc: dict[int, int], request: Mapping[str, Any], response: Mapping[str, Any]
) -> dict[int, int]:
    post_alloc = dict(pre_alloc)
    op = request.get("op")
    if op == "alloc" and response.get("pfn") is not None:
        post_alloc[response["pfn"]] = request.get("order", 0)
    if op == "free":
        post_alloc.pop(request.get("pfn", -1), None)
    return post_alloc


FreeChange = Callable[[list[tuple[int, int]], int], list[Violation]]


def _transition(
    config: ZoneConfig,
    pre_v: ReportedView | None,
    post_v: ReportedView | None,
    pre_alloc: dict[int, int],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    post_state: Mapping[str, Any] | None,
    free_change: FreeChange,
) -> list[Violation]:
    """:func:`check_transition` over built views; ``free_change(block, sign)`` judges
    ``pages_conserved`` (the free pages change by exactly ``sign * block``)."""
    out: list[Violation] = []
    op = request.get("op")
    both = pre_v is not None and post_v is not None
    if "error" in response:
        # a refused request (``validates: true``) must leave the state unchanged
        if both:
            out.extend(free_change([], 0))
        return out
    if op == "alloc":
        out.extend(_check_alloc(config, pre_v, post_v, pre_alloc, request, response,
                                free_change))
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
                out.extend(free_change([(pfn, pfn + (1 << order))], +1))
    elif op == "drain":
        cpu = request.get("cpu")
        if post_v is not None and post_state is not None and "pcp" in post_state:
            left = sorted(p for p, (c, _) in post_v.pcp.items() if c == cpu)
            if left:
                out.append(Violation("drain_empties_pcp", f"cpu {cpu} still holds pcp pages "
                                     f"{left[:8]} after drain", {"pfns": left,
                                                                 "lists": [{"cpu": cpu}]}))
        if both:
            out.extend(free_change([], 0))
    return out


def _check_alloc(
    config: ZoneConfig,
    pre_v: ReportedView | None,
    post_v: ReportedView | None,
    pre_alloc: Mapping[int, int],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    free_change: FreeChange,
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
        pcp_have = sorted(p for p, (c, t) in pre_v.pcp.items() if c == cpu and t == mt) \
            if order == 0 else []
        if have or pcp_have:
            out.append(Violation("alloc_failure_justified", f"alloc of order {order} failed "
                                 f"while usable blocks were free: {have[:4]} pcp {pcp_have[:4]}",
                                 {"pfns": [h[0] for h in have[:8]] + pcp_have[:8],
                                  "orders": [h[1] for h in have[:8]],
                                  "lists": [{"free_area": h[1], "migratetype": h[2]}
                                            for h in have[:8]]}))
        if post_v is not None:
            out.extend(free_change([], 0))
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
        out.extend(free_change([(pfn, pfn + size)], -1))
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
    return _free_set_verdict(ev, block, sign)


def _free_set_verdict(
    ev: list[tuple[int, int]], block: list[tuple[int, int]], sign: int
) -> list[Violation]:
    for s, e in block:
        ev += [(s, -sign), (e, sign)]
    bad = coverage_mismatch(ev)
    if bad is None:
        return []
    run = sum(w for x, w in ev if x <= bad)
    what = "gained" if run > 0 else "lost"
    return [Violation("pages_conserved", f"the free pages (free and pcp lists) {what} pfn "
                      f"{bad} beyond what the step hands out or takes back", {"pfns": [bad]})]


_EMPTY: list[Any] = []


def _raw(state: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple([{**e, "pfns": list(e.get("pfns", _EMPTY))} for e in state.get(f, _EMPTY)]
                 for f in ("free_area", "pcp"))


__all__ = [
    "ReportedView",
    "Violation",
    "build_view",
    "check_state",
    "check_transition",
]
