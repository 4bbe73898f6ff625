"""ReportedChecker (incremental) against check_state / check_transition (full), and the
compiled reported page formulas against the formulas on INT_OPS, on random reported states
and transitions, clean and broken."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from specs_helpers import SMALL

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.buddy import INT_OPS
from rmqueue.model.snapshot import state_json
from rmqueue.specs._reported_state import _page_checks, judged_page_invariants
from rmqueue.specs.check import coverage_mismatch
from rmqueue.specs.reported import build_view, check_state, check_transition
from rmqueue.specs.reported_incremental import ReportedChecker

TINY = ZoneConfig.from_json({"zone": {"name": "Normal", "start_pfn": 0, "pages": 128},
                             "max_order": 6, "pageblock_order": 4, "cpus": 2,
                             "pcp": {"high": 6, "batch": 2}})
OFFSET = ZoneConfig.from_json({"zone": {"name": "Normal", "start_pfn": 64, "pages": 192},
                               "max_order": 5, "pageblock_order": 3, "cpus": 2,
                               "pcp": {"high": 6, "batch": 2}})
NAMES = ["Unmovable", "Movable", "Reclaimable", "Reserve", "CMA", "Isolate"]


def corrupt(rnd: random.Random, cfg: ZoneConfig, s: dict[str, Any],
            alloc: dict[int, int]) -> tuple[dict[str, Any], dict[int, int]]:
    """One random breakage of a reported state (or of the allocated blocks)."""
    s, alloc = copy.deepcopy(s), dict(alloc)
    lists = [e for e in s["free_area"] + s["pcp"] if e["pfns"]]
    kind = rnd.randrange(14)
    if kind == 0 and lists:  # drop a pfn
        e = rnd.choice(lists)
        e["pfns"].pop(rnd.randrange(len(e["pfns"])))
    elif kind == 1 and lists:  # a pfn on a second list
        rnd.choice(s["free_area"] + s["pcp"])["pfns"].append(rnd.choice(rnd.choice(lists)["pfns"]))
    elif kind == 2 and lists:  # shift a pfn
        e = rnd.choice(lists)
        i = rnd.randrange(len(e["pfns"]))
        e["pfns"][i] += rnd.choice([1, -1, 2, 4, 8, -8, 16])
    elif kind == 3:  # a list at another order or type, or a new list
        if s["free_area"] and rnd.random() < 0.6:
            e = rnd.choice(s["free_area"])
            e["order"] = rnd.randrange(cfg.max_order)
            e["migratetype"] = rnd.choice(NAMES)
        else:
            s["free_area"].append({"order": rnd.randrange(cfg.max_order),
                                   "migratetype": rnd.choice(NAMES),
                                   "pfns": [rnd.randrange(cfg.start_pfn - 4, cfg.end_pfn + 4)]})
    elif kind == 4:  # a pcp page on a bad cpu / type, or a pcp list added
        s["pcp"].append({"cpu": rnd.randrange(cfg.cpus + 1), "migratetype": rnd.choice(NAMES),
                         "pfns": [rnd.randrange(cfg.start_pfn, cfg.end_pfn)]})
    elif kind == 5 and alloc:  # the oracle's blocks disagree
        alloc.pop(rnd.choice(sorted(alloc)))
    elif kind == 6:
        alloc[rnd.randrange(cfg.start_pfn - 2, cfg.end_pfn + 2)] = rnd.randrange(cfg.max_order)
    elif kind == 7:  # counters
        c = rnd.choice(sorted(s["counters"]))
        s["counters"][c] += rnd.choice([1, -1])
    elif kind == 8 and lists:  # an unknown migratetype (malformed entry)
        rnd.choice(lists)["migratetype"] = "Bogus"
    elif kind == 9 and len(s["free_area"]) > 1:  # two entries with one key
        a, b = rnd.sample(s["free_area"], 2)
        b["order"], b["migratetype"] = a["order"], a["migratetype"]
    elif kind == 10 and lists:  # reorder a list (same facts)
        rnd.shuffle(rnd.choice(lists)["pfns"])
    elif kind == 11:  # a freed block not merged with its free buddy (only it changes)
        free = {p: e for e in s["free_area"] for p in e["pfns"]}
        for a, o in sorted(alloc.items()):
            e = free.get(a ^ (1 << o))
            if e is not None and e["order"] == o and o + 1 < cfg.max_order:
                del alloc[a]  # onto another type's list, so that b's list is unchanged
                mt = next(n for n in NAMES if n not in (e["migratetype"], "Isolate"))
                other = [x for x in s["free_area"] if (x["order"], x["migratetype"]) == (o, mt)]
                if other:
                    other[0]["pfns"].append(a)
                else:
                    s["free_area"].append({"order": o, "migratetype": mt, "pfns": [a]})
                break
    elif kind == 12 and "pageblocks" in s:  # a pageblock's type (a retype, good or bad)
        s["pageblocks"][rnd.randrange(len(s["pageblocks"]))] = rnd.choice(NAMES)
    elif kind == 13:  # no pageblock types (the pageblock invariants are then skipped)
        s.pop("pageblocks", None)
    return s, alloc


def run(cfg: ZoneConfig, n: int, seed: int) -> list[tuple[Any, ...]]:
    """(pre, pre_alloc, request, response, post, post_alloc) of a model run."""
    a = Allocator(cfg)
    rnd = random.Random(seed)
    live: dict[int, int] = {}
    out = []
    for _ in range(n):
        pre, pre_alloc = state_json(a.zone, True), dict(live)
        cpu = rnd.randrange(cfg.cpus)
        r = rnd.random()
        if r < 0.55 or not live:
            o = rnd.choice([0, 0, 0, 1, 2, 3])
            gfp = rnd.choice([["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"]])
            req: dict[str, Any] = {"op": "alloc", "cpu": cpu, "order": o, "gfp": gfp}
            pfn = a.alloc(cpu, o, gfp).pfn
            resp: dict[str, Any] = {"pfn": pfn}
            if pfn is not None:
                live[pfn] = o
        elif r < 0.95:
            p = rnd.choice(sorted(live))
            o = live.pop(p)
            req = {"op": "free", "cpu": cpu, "pfn": p, "order": o, "cold": rnd.random() < 0.3}
            a.free(cpu, p, o, req["cold"])
            resp = {"ok": True}
        else:
            req = {"op": "drain", "cpu": cpu}
            a.drain(cpu)
            resp = {"ok": True}
        out.append((pre, pre_alloc, req, resp, state_json(a.zone, True), dict(live)))
    return out


def key(vs: list[Any]) -> list[tuple[str, str]]:
    return [(v.invariant, v.message) for v in vs]


@pytest.mark.parametrize("cfg", [TINY, OFFSET, SMALL], ids=["tiny", "offset", "small"])
@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_full(cfg: ZoneConfig, seed: int) -> None:
    rnd = random.Random(seed)
    steps = run(cfg, 250 if cfg is not SMALL else 120, seed)
    chk = ReportedChecker(cfg)
    broken = 0
    for pre, pre_alloc, req, resp, post, post_alloc in steps:
        if rnd.random() < 0.3:
            pre, pre_alloc = corrupt(rnd, cfg, pre, pre_alloc)
        if rnd.random() < 0.3:
            post, post_alloc = corrupt(rnd, cfg, post, post_alloc)
        if rnd.random() < 0.05:
            resp = {"error": "refused"}
        if rnd.random() < 0.05 and req["op"] == "alloc":
            resp = {"pfn": None}
        full = check_transition(cfg, pre, pre_alloc, req, resp, post)
        assert key(chk.check_transition(pre, pre_alloc, req, resp, post)) == key(full)
        if rnd.random() < 0.4:  # as the oracle does: some states only
            full = check_state(cfg, post, post_alloc)
            broken += bool(full)
            assert key(chk.check_state(post, post_alloc)) == key(full)
    assert broken > 5  # the broken states were broken


def test_incremental_with_states_out_of_order() -> None:
    rnd = random.Random(7)
    steps = run(TINY, 200, 7)
    chk = ReportedChecker(TINY)
    for _ in range(150):
        _pre, _pa, _req, _resp, post, alloc = rnd.choice(steps)
        if rnd.random() < 0.5:
            post, alloc = corrupt(rnd, TINY, post, alloc)
        assert key(chk.check_state(post, alloc)) == key(check_state(TINY, post, alloc))


@pytest.mark.parametrize("cfg", [TINY, OFFSET], ids=["tiny", "offset"])
def test_compiled_page_formulas_match_int_ops(cfg: ZoneConfig) -> None:
    """The derived fast path (formulas compiled over the view's dicts) against the formulas
    themselves on INT_OPS, at every head and around it."""
    rnd = random.Random(3)
    seen_false = 0
    for pre, pre_alloc, *_ in run(cfg, 200, 3):
        s, alloc = pre, pre_alloc
        for _ in range(rnd.randrange(3)):
            s, alloc = corrupt(rnd, cfg, s, alloc)
        v = build_view(cfg, s, alloc)[0]
        pbo = None if v.pb is None else cfg.pageblock_order
        failing, each = _page_checks(cfg.max_order, cfg.start_pfn, cfg.end_pfn, cfg.cpus, pbo)
        invs = judged_page_invariants(v.pb is not None)
        heads = sorted({*v.free, *v.pcp, *v.alloc})
        pfns = heads + [rnd.randrange(cfg.start_pfn - 8, cfg.end_pfn + 8) for _ in range(8)]
        for (name, f), inv in zip(each, invs, strict=True):
            assert name == inv.name
            for p in pfns:
                want = bool(inv.formula(INT_OPS, v, p))
                assert bool(f(p, v.free, v.pcp, v.alloc, v.pb)) == want, (name, p)
                seen_false += not want
        want_failing = [p for p in heads
                        if not all(inv.formula(INT_OPS, v, p) for inv in invs)]
        assert failing(heads, v.free, v.pcp, v.alloc, v.pb) == want_failing
    assert seen_false > 10


def test_net_coverage_first_pfn_is_coverage_mismatch() -> None:
    """check_state takes the first non-zero net coverage pfn: coverage_mismatch's answer."""
    rnd = random.Random(5)
    for _ in range(300):
        ev = [(rnd.randrange(40), rnd.choice([1, -1])) for _ in range(rnd.randrange(12))]
        ev += [(x, -w) for x, w in ev if rnd.random() < 0.7]
        nz: dict[int, int] = {}
        for x, w in ev:
            nz[x] = nz.get(x, 0) + w
        nz = {x: w for x, w in nz.items() if w}
        assert (min(nz) if nz else None) == coverage_mismatch(ev)


def test_overlapping_block_added_then_removed() -> None:
    """An allocated block grown over its neighbours' heads, then shrunk back: the heads it
    covered fail blocks_disjoint and then pass again, though only its own pfn changed."""
    rnd = random.Random(11)
    chk = ReportedChecker(TINY)
    tried = 0
    for _pre, _pa, _req, _resp, post, alloc in run(TINY, 200, 11):
        grown = [(q, k) for q, o in alloc.items() for k in range(o + 1, TINY.max_order)
                 if q % (1 << k) == 0]
        if not grown:
            continue
        q, k = rnd.choice(grown)
        tried += 1
        for a in (alloc, {**alloc, q: k}, alloc):
            assert key(chk.check_state(post, a)) == key(check_state(TINY, post, a))
    assert tried > 50
