"""check_state / check_transition over protocol states: silent on the model, loud on bugs."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from specs_helpers import SMALL

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.snapshot import state_json
from rmqueue.specs import check_state, check_transition


def run_model(cfg: ZoneConfig, n: int, seed: int, detail: bool) -> list[tuple[Any, ...]]:
    """(pre, pre_allocated, request, response, post, post_allocated) per step."""
    a = Allocator(cfg)
    rnd = random.Random(seed)
    live: dict[int, int] = {}
    steps = []
    for _ in range(n):
        pre, pre_alloc = state_json(a.zone, detail), dict(live)
        r = rnd.random()
        cpu = rnd.randrange(cfg.cpus)
        if r < 0.6 or not live:
            o = rnd.choice([0, 0, 0, 1, 2, 5, 10])
            gfp = rnd.choice([["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"]])
            req: dict[str, Any] = {"op": "alloc", "cpu": cpu, "order": o, "gfp": gfp}
            rec = a.alloc(cpu, o, gfp)
            resp: dict[str, Any] = {"pfn": rec.pfn}
            if rec.pfn is not None:
                live[rec.pfn] = o
        elif r < 0.97:
            p = rnd.choice(sorted(live))
            o = live.pop(p)
            req = {"op": "free", "cpu": cpu, "pfn": p, "order": o, "cold": False}
            a.free(cpu, p, o)
            resp = {"ok": True}
        else:
            req = {"op": "drain", "cpu": cpu}
            a.drain(cpu)
            resp = {"ok": True}
        steps.append((pre, pre_alloc, req, resp, state_json(a.zone, detail), dict(live)))
    return steps


@pytest.mark.parametrize("detail", [False, True])
def test_model_states_and_steps_are_clean(detail: bool) -> None:
    for pre, pre_alloc, req, resp, post, post_alloc in run_model(SMALL, 400, 1, detail):
        assert check_transition(SMALL, pre, pre_alloc, req, resp, post) == []
        assert check_state(SMALL, post, post_alloc) == []


def _last(steps: list[tuple[Any, ...]], op: str, ok: bool = True) -> tuple[Any, ...]:
    for s in reversed(steps):
        if s[2]["op"] == op and (not ok or s[3].get("pfn", 0) is not None):
            return s
    raise AssertionError(op)


@pytest.fixture(scope="module")
def steps() -> list[tuple[Any, ...]]:
    return run_model(SMALL, 300, 4, True)


def names(vs: list[Any]) -> set[str]:
    return {v.invariant for v in vs}


def test_state_corruptions_are_named(steps: list[tuple[Any, ...]]) -> None:
    post, alloc = steps[-1][4], steps[-1][5]
    # a free block moved to a misaligned pfn
    s = copy.deepcopy(post)
    e = next(x for x in s["free_area"] if x["order"] >= 1)
    e["pfns"][0] += 1
    assert "block_aligned" in names(check_state(SMALL, s, alloc))
    # a pfn on two lists
    s = copy.deepcopy(post)
    s["free_area"][0]["pfns"].append(s["free_area"][1]["pfns"][0])
    vs = check_state(SMALL, s, alloc)
    assert "blocks_disjoint" in names(vs)
    # a lost page (dropped from its list)
    s = copy.deepcopy(post)
    e = next(x for x in s["free_area"] if x["pfns"])
    lost = e["pfns"].pop()
    vs = [v for v in check_state(SMALL, s, alloc) if v.invariant == "zone_pages_conserved"]
    assert vs and vs[0].details["pfns"] == [lost]
    # an unmerged pair of buddies
    s = copy.deepcopy(post)
    big = next(e for e in s["free_area"] if e["order"] >= 1)
    pfn, o = big["pfns"][0], big["order"]
    big["pfns"].remove(pfn)
    s2 = [x for x in s["free_area"] if not (x["order"] == big["order"] and x["migratetype"]
                                            == big["migratetype"])]
    s2.append({"order": o, "migratetype": big["migratetype"], "pfns": big["pfns"]})
    s2.append({"order": o - 1, "migratetype": big["migratetype"],
               "pfns": [pfn, pfn + (1 << (o - 1))]})
    s["free_area"] = s2
    s["nr_free"][o] -= 1
    s["nr_free"][o - 1] += 2
    vs = [v for v in check_state(SMALL, s, alloc) if v.invariant == "buddies_merged"]
    assert vs and pfn in vs[0].details["pfns"]
    # counters off
    for counter, inv in (("NR_FREE_PAGES", "free_pages_conserved"),
                         ("NR_FREE_CMA_PAGES", "free_cma_pages_conserved"),
                         ("PGFREE", "vm_events_balance"),
                         ("NR_ALLOC_BATCH", "alloc_batch_matches")):
        s = copy.deepcopy(post)
        s["counters"][counter] += 1
        assert inv in names(check_state(SMALL, s, alloc)), counter
    s = copy.deepcopy(post)
    s["nr_free"][2] += 1
    assert "nr_free_matches_lists" in names(check_state(SMALL, s, alloc))
    s = copy.deepcopy(post)
    s["pcp_sets"][0]["count"] += 31
    assert "pcp_count_matches" in names(check_state(SMALL, s, alloc))
    s = copy.deepcopy(post)
    s["flags"]["ZONE_FAIR_DEPLETED"] = not s["flags"]["ZONE_FAIR_DEPLETED"]
    assert "fair_depleted_matches" in names(check_state(SMALL, s, alloc))


def test_pgfree_counted_from_zero_is_accepted(steps: list[tuple[Any, ...]]) -> None:
    post, alloc = steps[-1][4], steps[-1][5]
    s = copy.deepcopy(post)
    s["counters"]["PGFREE"] -= SMALL.pages
    assert check_state(SMALL, s, alloc) == []
    s["counters"]["PGFREE"] += 1
    assert names(check_state(SMALL, s, alloc)) == {"vm_events_balance"}


def test_plain_buddy_state_without_counters_is_checked_for_what_it_has() -> None:
    cfg = ZoneConfig(pages=64, max_order=4, pageblock_order=2, cpus=1)
    state = {"free_area": [{"order": 3, "migratetype": "Movable", "pfns": [0, 8, 16, 24,
                                                                          32, 40, 48, 56]}]}
    assert check_state(cfg, state, {}) == []
    state["free_area"][0]["pfns"].remove(56)
    assert check_state(cfg, state, {56: 3}) == []
    assert names(check_state(cfg, state, {57: 1})) >= {"block_aligned"}
    assert names(check_state(cfg, state, {56: 0})) == {"zone_pages_conserved"}


def test_transition_bugs_are_named(steps: list[tuple[Any, ...]]) -> None:
    pre, pre_alloc, req, resp, post, _ = _last(steps, "alloc")
    # a block that was not free
    taken = next(iter(pre_alloc))
    bad = dict(resp, pfn=taken)
    assert "alloc_result_valid" in names(check_transition(SMALL, pre, pre_alloc, req, bad, post))
    # misaligned
    req2 = dict(req, order=3)
    assert "alloc_result_valid" in names(check_transition(SMALL, pre, pre_alloc, req2,
                                                          {"pfn": 3}, post))
    # an unjustified failure
    assert "alloc_failure_justified" in names(
        check_transition(SMALL, pre, pre_alloc, req, {"pfn": None}, pre))
    # a free that loses a page
    pre, pre_alloc, req, resp, post, _ = _last(steps, "free")
    p2 = copy.deepcopy(post)
    e = next(x for x in p2["free_area"] + p2["pcp"] if req["pfn"] in x["pfns"])
    e["pfns"].remove(req["pfn"])
    vs = check_transition(SMALL, pre, pre_alloc, req, resp, p2)
    assert names(vs) & {"free_result_valid", "pages_conserved"}
    # a free of a block that is not allocated
    assert "free_result_valid" in names(check_transition(
        SMALL, pre, pre_alloc, dict(req, pfn=req["pfn"] + 1), resp, post))
    # a drain that leaves pages behind
    for _pre, _pa, req, resp, post, _ in steps:
        if req["op"] == "alloc" and req["order"] == 0 and resp["pfn"] is not None:
            drain = {"op": "drain", "cpu": req["cpu"]}
            vs = check_transition(SMALL, post, _, drain, {"ok": True}, post)
            if any(e["cpu"] == req["cpu"] for e in post["pcp"]):
                assert "drain_empties_pcp" in names(vs)
                break
    else:
        raise AssertionError("no pcp state to drain")


def test_black_box_alloc_overlapping_allocated_block() -> None:
    cfg = ZoneConfig(pages=64, max_order=4, pageblock_order=2, cpus=1)
    req = {"op": "alloc", "cpu": 0, "order": 1, "gfp": ["GFP_KERNEL"]}
    assert check_transition(cfg, None, {4: 2}, req, {"pfn": 2}, None) == []
    vs = check_transition(cfg, None, {4: 2}, req, {"pfn": 6}, None)
    assert names(vs) == {"alloc_result_valid"}


def test_refused_request_must_change_nothing(steps: list[tuple[Any, ...]]) -> None:
    pre, pre_alloc, req, _, post, _ = _last(steps, "free")
    refused = {"error": "not allocated"}
    assert check_transition(SMALL, pre, pre_alloc, req, refused, pre) == []
    assert "pages_conserved" in names(check_transition(SMALL, pre, pre_alloc, req, refused,
                                                       post))


PB_CFG = ZoneConfig(pages=64, max_order=4, pageblock_order=2, cpus=1)


def pb_state(pageblocks: list[str] | None) -> tuple[dict[str, Any], dict[int, int]]:
    """A small state: one max-order block at 8 whose second half (pageblocks 2, 3: pfns
    8..15) holds a free CMA block at 12; the block at 8 is allocated."""
    free = [{"order": 3, "migratetype": "Movable", "pfns": [0, 16, 24, 32, 40, 48, 56]},
            {"order": 2, "migratetype": "CMA", "pfns": [12]}]
    state: dict[str, Any] = {"free_area": free}
    if pageblocks is not None:
        state["pageblocks"] = pageblocks
    return state, {8: 2}


def test_pageblock_invariants_on_reported_pageblocks() -> None:
    good = ["Movable"] * 16
    good[2] = good[3] = "CMA"
    assert check_state(PB_CFG, *pb_state(good)) == []
    # pageblock 2 not CMA: the max-order block at 8 is half CMA (its CMA pageblock 3 holds
    # the head 12); with pageblock 3 not CMA instead, the free block at 12 is on a CMA list
    half = list(good)
    half[2] = "Movable"
    vs = check_state(PB_CFG, *pb_state(half))
    assert names(vs) == {"cma_pageblocks_whole"} and vs[0].details["pfns"] == [12]
    half = list(good)
    half[3] = "Movable"
    vs = check_state(PB_CFG, *pb_state(half))
    assert names(vs) == {"cma_pageblocks_whole", "cma_lists_match_pageblocks"}
    assert all(v.details["pfns"] == [12] for v in vs)
    iso = list(good)
    iso[0] = "Isolate"
    vs = check_state(PB_CFG, *pb_state(iso))
    assert names(vs) == {"no_isolated_pageblocks"} and vs[0].details["pfns"] == [0]
    # a malformed list of pageblock types is a finding, never guessed around
    vs = check_state(PB_CFG, *pb_state(good[:5]))
    assert names(vs) == {"reported_state_wellformed"}


def test_pageblock_invariants_are_skipped_without_pageblocks() -> None:
    """Without state-detail's pageblock types the three pageblock invariants are not judged:
    the broken states above pass them (nothing made up), the rest is still checked."""
    assert check_state(PB_CFG, *pb_state(None)) == []
    s, alloc = pb_state(None)
    s["free_area"][1]["migratetype"] = "Isolate"  # would break no_isolated_pageblocks
    assert check_state(PB_CFG, s, alloc) == []
    s["free_area"][1]["pfns"] = [13]
    assert names(check_state(PB_CFG, s, alloc)) >= {"block_aligned"}


def test_reported_cma_retypes_are_named(steps: list[tuple[Any, ...]]) -> None:
    pre, pre_alloc, req, resp, post, _ = _last(steps, "free")
    assert check_transition(SMALL, pre, pre_alloc, req, resp, post) == []
    cma = post["pageblocks"].index("CMA")
    movable = post["pageblocks"].index("Movable")
    for index, now in ((cma, "Movable"), (movable, "CMA"), (movable, "Isolate")):
        p2 = copy.deepcopy(post)
        p2["pageblocks"][index] = now
        vs = [v for v in check_transition(SMALL, pre, pre_alloc, req, resp, p2)
              if v.invariant == "retype_keeps_cma_isolate"]
        assert vs and vs[0].details["pageblocks"] == [index], (index, now)
        assert vs[0].details["pfns"] == [max(SMALL.start_pfn, index << SMALL.pageblock_order)]
    p2 = copy.deepcopy(post)
    p2["pageblocks"][movable] = "Unmovable"  # a steal's retype: allowed
    assert check_transition(SMALL, pre, pre_alloc, req, resp, p2) == []
