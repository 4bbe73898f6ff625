"""The invariants of :mod:`rmqueue.specs.invariants` evaluated on a reported state's view
(:mod:`rmqueue.specs._reported_view`): the page formulas compiled over the view's dicts, the
coverage of the zone by the reported blocks, and the count formulas over the counts the
report carries (an instance whose counts are not reported is not checked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from rmqueue.model.config import ZoneConfig
from rmqueue.model.types import (
    MIGRATE_CMA,
    PROC_NAMES,
)
from rmqueue.model.vmstat import VmItem

from ._codegen import PY_OPS, PyTerm
from ._concrete import compile_count_formula
from ._reported_view import ReportedView, _Index
from .check import summary
from .errors import Violation
from .invariants import (
    BY_NAME,
    COUNT_INVARIANTS,
    PAGE_INVARIANTS,
    PAGEBLOCK_INVARIANTS,
    Invariant,
    conjunction,
)


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
    dicts bound as ``F`` (free), ``P`` (pcp), ``A`` (allocated) and its pageblock types
    ``PB`` (``pageblocks``: False when they are not reported, and ``block_mt`` refused);
    ``Z`` is (0, 0)."""

    def __init__(self, max_order: int, pageblocks: bool) -> None:
        self.start, self.end, self.cpus = PyTerm("S0"), PyTerm("SE"), PyTerm("NCPU")
        self.max_order = max_order
        self.pageblocks = pageblocks

    def block_mt(self, p: PyTerm) -> PyTerm:
        if not self.pageblocks:
            raise ValueError("the reported state has no pageblock types (state-detail)")
        return PyTerm(f"(PB[({p.s} >> PBO) - PB0] if S0 <= {p.s} < SE else 0)")

    def cached_mt(self, p: PyTerm) -> PyTerm:
        listed = self.pcp_index(p)
        if not self.pageblocks:
            return listed
        cma = MIGRATE_CMA
        return PyTerm(f"({cma} if {p.s} in P and {self.block_mt(p).s} == {cma} else {listed.s})")

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

    def allocated(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"({p.s} in A)")

    def alloc_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"A.get({p.s}, 0)")


PageCheck = Callable[..., Any]


def judged_page_invariants(pageblocks: bool) -> tuple[Invariant, ...]:
    """The page invariants a reported state lets us evaluate: all of them when it reports
    the pageblock types, else all but :data:`PAGEBLOCK_INVARIANTS` (skipped: never judged on
    made-up types)."""
    if pageblocks:
        return PAGE_INVARIANTS
    return tuple(i for i in PAGE_INVARIANTS if i not in PAGEBLOCK_INVARIANTS)


@lru_cache(maxsize=64)
def _page_checks(
    max_order: int, start: int, end: int, cpus: int, pageblock_order: int | None = None
) -> tuple[PageCheck, tuple[tuple[str, PageCheck], ...]]:
    """The page invariants compiled over a reported view: ``failing(heads, F, P, A, PB)``
    lists the heads where their conjunction is false, and one ``f(p, F, P, A, PB)`` per
    invariant.  ``pageblock_order`` None: the state reports no pageblock types (``PB`` is not
    read and the invariants reading them are left out: :func:`judged_page_invariants`)."""
    pbo = pageblock_order
    env = {"S0": start, "SE": end, "NCPU": cpus, "Z": (0, 0), "PBO": pbo or 0,
           "PB0": start >> (pbo or 0)}
    view, p = _PyReportedView(max_order, pbo is not None), PyTerm("p")
    invs = judged_page_invariants(pbo is not None)

    def compile_(src: str, label: str) -> PageCheck:
        ns: dict[str, Any] = dict(env)
        exec(compile(src, f"<reported {label}>", "exec"), ns)
        fn: PageCheck = ns["_f"]
        return fn

    body = conjunction(invs)(PY_OPS, view, p).s
    failing = compile_(f"def _f(heads, F, P, A, PB):\n    return [p for p in heads if not "
                       f"{body}]\n", "page invariants")
    each = tuple((inv.name, compile_(f"def _f(p, F, P, A, PB):\n    return "
                                     f"{inv.formula(PY_OPS, view, p).s}\n", inv.name))
                 for inv in invs)
    return failing, each


def _page_failures(
    config: ZoneConfig, v: ReportedView, heads: Iterable[int]
) -> dict[int, tuple[str, ...]]:
    """The page invariants that fail at each of ``heads`` (only heads that fail some)."""
    PB = v.pb
    failing, each = _page_checks(config.max_order, config.start_pfn, config.end_pfn,
                                 config.cpus, None if PB is None else config.pageblock_order)
    F, P, A = v.free, v.pcp, v.alloc
    return {p: tuple(name for name, f in each if not f(p, F, P, A, PB))
            for p in failing(heads, F, P, A, PB)}


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


__all__ = ["PageCheck", "judged_page_invariants"]
