"""``check.scan`` builds the coverage sums (``Scan.cov``) without the event list, and the
fast path reads ``pages_conserved`` from them (STYLE §2: a derived fast path is
cross-checked).  On model records, sound and broken at random, ``Scan.events`` is the event
list of the record, ``Scan.cov`` sums it, ``first_uncovered(cov)`` agrees with
``coverage_mismatch(events)`` and with the formula, and the rest of the scan matches a plain
loop over the record.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from specs_helpers import SMALL
from test_crosscheck import IntEvents

from rmqueue.model import Allocator
from rmqueue.model.buddy import INT_OPS
from rmqueue.model.record import Transition
from rmqueue.specs import transitions as T
from rmqueue.specs.check import coverage_mismatch, first_uncovered, scan


def reference(rec: Transition) -> dict[str, Any]:
    """The scan as one plain loop over the record (the pre-optimisation code)."""
    D: defaultdict[Any, int] = defaultdict(int)
    net: defaultdict[Any, int] = defaultdict(int)
    ev: list[tuple[int, int]] = []
    orders: set[int] = set()
    cpus: set[int] = set()
    fl: defaultdict[Any, int] = defaultdict(int)
    for sign, ops in ((-1, rec.free_del), (1, rec.free_add)):
        for pfn, o, mt in ops:
            net[pfn, 0, o, mt] += sign
            fl[o, mt] += sign
            ev.append((pfn, sign))
            ev.append((pfn + (1 << o), -sign))
    for (o, mt), n in fl.items():
        D["fl", o, mt] = n
        D["fp", mt] += n << o
        orders.add(o)
    pl: defaultdict[Any, int] = defaultdict(int)
    pp = 0
    for sign, pops in ((-1, rec.pcp_del), (1, rec.pcp_add)):
        for cpu, idx, pfn in pops:
            net[pfn, 1, cpu, idx] += sign
            pl[cpu, idx] += sign
            ev.append((pfn, sign))
            ev.append((pfn + 1, -sign))
    for (cpu, idx), n in pl.items():
        D["pl", cpu, idx] = n
        pp += n
        cpus.add(cpu)
    D["pp"] = pp
    pfns = [k[0] for k in net]
    added = {x[0] for x in rec.free_add} | {x[2] for x in rec.pcp_add}
    if rec.pfn is not None and rec.op == "alloc":
        added.add(rec.pfn)
    if rec.pfn is not None:
        size = 1 << rec.order
        sign = 1 if rec.op == "alloc" else -1 if rec.op == "free" else 0
        if sign:
            D["ap"] = sign * size
            ev.append((rec.pfn, sign))
            ev.append((rec.pfn + size, -sign))
            pfns.append(rec.pfn)
    cpus.add(rec.cpu)
    return {"D": dict(D), "net": list(net.items()), "events": ev, "orders": orders,
            "cpus": cpus, "pfns": list(dict.fromkeys(pfns)), "added": added}


def _break(rec: Transition, rnd: random.Random) -> None:
    """Perturb one entry of the record (a page lost, doubled or moved)."""
    lists = [lst for lst in (rec.free_del, rec.free_add, rec.pcp_del, rec.pcp_add) if lst]
    if not lists:
        rec.pcp_add.append((rec.cpu, 0, rnd.randrange(64)))
        return
    lst = rnd.choice(lists)
    i = rnd.randrange(len(lst))
    r = rnd.random()
    if r < 0.3:
        del lst[i]
    elif r < 0.6:
        lst.append(lst[i])
    elif lst is rec.pcp_del or lst is rec.pcp_add:
        cpu, idx, pfn = lst[i]
        lst[i] = (cpu, idx, pfn + rnd.choice((-1, 1)))
    else:
        pfn, o, mt = lst[i]
        lst[i] = (pfn, max(0, o + rnd.choice((-1, 1))), mt)


def test_scan_matches_reference_and_coverage() -> None:
    rnd = random.Random(7)
    a = Allocator(SMALL)
    live: list[tuple[int, int]] = []
    seen = {"broken": 0, "sound": 0, "big": 0}
    for step in range(3000):
        r = rnd.random()
        cpu = rnd.randrange(SMALL.cpus)
        if r < 0.55 or not live:
            order = 0 if rnd.random() < 0.7 else rnd.randrange(1, SMALL.max_order)
            rec = a.alloc(cpu, order, ["GFP_KERNEL"])
            if rec.pfn is not None:
                live.append((rec.pfn, order))
        elif r < 0.98:
            pfn, order = live.pop(rnd.randrange(len(live)))
            rec = a.free(cpu, pfn, order, rnd.random() < 0.3)
        else:
            rec = a.drain(cpu)
        if len(rec.pcp_add) + len(rec.pcp_del) > 1:
            seen["big"] += 1
        if step % 3 == 0:
            _break(rec, rnd)
        sc = scan(rec)
        ref = reference(rec)
        assert sc.events == ref["events"]
        assert dict(sc.D) == ref["D"]
        assert list(sc.net.items()) == ref["net"]
        assert list(sc.pfns) == ref["pfns"] or set(sc.pfns) == set(ref["pfns"])
        assert (sc.orders, sc.cpus, sc.added) == (ref["orders"], ref["cpus"], ref["added"])
        # _check_fast gives a pfn outside sc.added site mask 0 without the other lookups
        assert sc.free_added <= sc.added and sc.pcp_added <= sc.added
        for pfn in sc.pfns:
            if pfn not in sc.added:
                assert sc.site_mask(pfn) == 0
        acc: defaultdict[int, int] = defaultdict(int)
        for x, w in ref["events"]:
            acc[x] += w
        assert {x: v for x, v in sc.cov.items() if v} == {x: v for x, v in acc.items() if v}
        bad = first_uncovered(sc.cov)
        assert bad == coverage_mismatch(ref["events"])
        ev = ref["events"]
        if ev:
            assert (bad is None) == bool(T.pages_conserved(INT_OPS, IntEvents(ev)))
        seen["sound" if bad is None else "broken"] += 1
    assert all(n > 50 for n in seen.values()), seen
