"""What one record touches, read once: the general path's scan (:func:`scan`), the fast
derivation of ``pages_conserved`` (:func:`coverage_mismatch`), and list emptiness of the
post state (:class:`ZoneLists`) for the op predicates."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rmqueue.model.record import Transition
from rmqueue.model.types import MIGRATE_PCPTYPES

from . import transitions as T
from ._concrete import CountKey
from ._records import site_set


def coverage_mismatch(events: list[tuple[int, int]]) -> int | None:
    """Fast derivation of ``pages_conserved``: the first pfn where the coverage difference is
    not 0, or None.  The running sum over the sorted events is 0 at every distinct pfn exactly
    when the weights at each pfn sum to 0 (induction on the pfns), so no sort is needed; the
    first pfn with a non-zero sum is where the running sum first differs from 0.
    Cross-checked against the formula in tests/specs/test_crosscheck.py."""
    acc: dict[int, int] = {}
    get = acc.get
    for x, w in events:
        acc[x] = get(x, 0) + w
    return first_uncovered(acc)


def first_uncovered(acc: dict[int, int]) -> int | None:
    """The least pfn whose summed event weight in ``acc`` is not 0, or None: the last step of
    :func:`coverage_mismatch`, also run on ``Scan.cov`` (the same sums, built by :func:`scan`
    without the event list; tests/specs/test_scan_fast.py checks they agree)."""
    bad = [x for x, v in acc.items() if v]
    return min(bad) if bad else None


class Scan:
    """What one record touches: list deltas, nets per (pfn, list), events, orders, cpus."""

    __slots__ = ("D", "net", "cov", "rec", "orders", "cpus", "pfns", "free_added",
                 "pcp_added", "added")

    def __init__(self) -> None:
        self.D: defaultdict[CountKey, Any] = defaultdict(int)
        self.net: defaultdict[tuple[int, int, int, int], int] = defaultdict(int)
        # coverage sums per pfn of the record's boundary events (see ``events``)
        self.cov: dict[int, int] = {}
        self.rec: Transition | None = None
        self.orders: set[int] = set()
        self.cpus: set[int] = set()
        self.pfns: set[int] = set()
        self.free_added: set[int] = set()
        self.pcp_added: set[int] = set()
        self.added: set[int] = set()

    @property
    def events(self) -> list[tuple[int, int]]:
        """The record's boundary events (pfn, weight): each removed block [s, e) gives
        (s, -1), (e, +1) and each added block (s, +1), (e, -1), in record order (free_del,
        free_add, pcp_del, pcp_add, then the op's own block).  ``cov`` holds their sums per
        pfn; the list is rebuilt from the record only where it is needed (failure details,
        the z3 backend)."""
        rec = self.rec
        ev: list[tuple[int, int]] = []
        if rec is None:
            return ev
        app = ev.append
        for sign, fops in ((-1, rec.free_del), (1, rec.free_add)):
            for pfn, o, _mt in fops:
                app((pfn, sign))
                app((pfn + (1 << o), -sign))
        for sign, pops in ((-1, rec.pcp_del), (1, rec.pcp_add)):
            for _cpu, _idx, pfn in pops:
                app((pfn, sign))
                app((pfn + 1, -sign))
        if rec.pfn is not None:
            sign = 1 if rec.op == "alloc" else -1 if rec.op == "free" else 0
            if sign:
                size = 1 << rec.order
                app((rec.pfn, sign))
                app((rec.pfn + size, -sign))
        return ev

    def sites(self, pfn: int) -> frozenset[str]:
        """The kinds of site ``pfn`` is in this record (see ``Invariant.step_sites``)."""
        return SITE_SETS[self.site_mask(pfn)]

    def site_mask(self, pfn: int) -> int:
        return ((pfn in self.added) | ((pfn in self.free_added) << 1)
                | ((pfn in self.pcp_added) << 2))


# the site kinds of each site mask (1 added, 2 free_added, 4 pcp_added)
SITE_SETS = tuple(site_set(m) for m in range(8))


def scan(rec: Transition) -> Scan:
    """Collect the record's deltas (the list side of every count), in O(len(record))."""
    sc = Scan()
    sc.rec = rec
    D = sc.D
    net = sc.net
    cov = sc.cov
    get = cov.get
    pfns = sc.pfns
    padd = pfns.add
    free_del, free_add = rec.free_del, rec.free_add
    if free_del or free_add:
        fl: defaultdict[tuple[int, int], int] = defaultdict(int)
        for pfn, o, mt in free_del:
            net[pfn, 0, o, mt] -= 1
            fl[o, mt] -= 1
            cov[pfn] = get(pfn, 0) - 1
            e = pfn + (1 << o)
            cov[e] = get(e, 0) + 1
            padd(pfn)
        for pfn, o, mt in free_add:
            net[pfn, 0, o, mt] += 1
            fl[o, mt] += 1
            cov[pfn] = get(pfn, 0) + 1
            e = pfn + (1 << o)
            cov[e] = get(e, 0) - 1
            padd(pfn)
        orders = sc.orders
        for (o, mt), n in fl.items():
            D["fl", o, mt] = n
            D["fp", mt] += n << o
            orders.add(o)
    pp = 0
    cpus = sc.cpus
    pcp_del, pcp_add = rec.pcp_del, rec.pcp_add
    if pcp_del or pcp_add:
        pl: defaultdict[tuple[int, int], int] = defaultdict(int)
        for cpu, idx, pfn in pcp_del:
            net[pfn, 1, cpu, idx] -= 1
            pl[cpu, idx] -= 1
            cov[pfn] = get(pfn, 0) - 1
            cov[pfn + 1] = get(pfn + 1, 0) + 1
            padd(pfn)
        for cpu, idx, pfn in pcp_add:
            net[pfn, 1, cpu, idx] += 1
            pl[cpu, idx] += 1
            cov[pfn] = get(pfn, 0) + 1
            cov[pfn + 1] = get(pfn + 1, 0) - 1
            padd(pfn)
        for (cpu, idx), n in pl.items():
            D["pl", cpu, idx] = n
            pp += n
            cpus.add(cpu)
    D["pp"] = pp
    free_added = sc.free_added = {x[0] for x in free_add}
    pcp_added = sc.pcp_added = {x[2] for x in pcp_add}
    added = sc.added = free_added | pcp_added
    if rec.pfn is not None:
        op = rec.op
        if op == "alloc":
            added.add(rec.pfn)
        sign = 1 if op == "alloc" else -1 if op == "free" else 0
        if sign:
            size = 1 << rec.order
            D["ap"] = sign * size
            p = rec.pfn
            cov[p] = get(p, 0) + sign
            cov[p + size] = get(p + size, 0) - sign
            padd(p)
    cpus.add(rec.cpu)
    return sc


class ZoneLists:
    """ListsEmpty over the model's post state (O(1) per list)."""

    def __init__(self, zone: Any) -> None:
        self.z = zone
        self.max_order = zone.max_order

    def free_empty(self, o: int, t: int) -> bool:
        return bool(self.z.list_empty(o * 6 + t))

    def pcp_empty(self, cpu: int, t: int) -> bool:
        return bool(self.z.list_empty(self.z.pageset[cpu].list_ids[t]))


def nonempty_lists(z: Any, rec: Transition) -> list[dict[str, int]]:
    out = []
    for o in range(rec.order, z.max_order):
        for t in T.usable_types(rec.migratetype):
            if not z.list_empty(o * 6 + t):
                out.append({"free_area": o, "migratetype": t})
    if rec.order == 0 and rec.migratetype < MIGRATE_PCPTYPES:
        if not z.list_empty(z.pageset[rec.cpu].list_ids[rec.migratetype]):
            out.append({"cpu": rec.cpu, "pcp": rec.migratetype})
    return out


__all__ = ["SITE_SETS", "Scan", "ZoneLists", "coverage_mismatch", "first_uncovered",
           "nonempty_lists", "scan"]
