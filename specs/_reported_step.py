"""The transition predicates of :mod:`rmqueue.specs.transitions` over two reported states
(:mod:`rmqueue.specs._reported_view`): one request/response judged as any correct buddy
allocator may take it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rmqueue.model.buddy import INT_OPS
from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import RmqueueError
from rmqueue.model.types import (
    PROC_NAMES,
    gfpflags_to_migratetype,
    parse_gfp,
)

from . import transitions as T
from ._reported_view import ReportedView
from .check import coverage_mismatch
from .errors import Violation


def _covers(blocks: list[tuple[int, int]], s: int, e: int) -> bool:
    ev = [(s, -1), (e, 1)]
    for bs, be in blocks:
        if bs < e and s < be:
            ev.append((max(bs, s), 1))
            ev.append((min(be, e), -1))
    return coverage_mismatch(ev) is None


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
    if pre_v is not None and post_v is not None:
        out.extend(_retypes(pre_v, post_v))
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


def _retypes(pre: ReportedView, post: ReportedView) -> list[Violation]:
    """``retype_keeps_cma_isolate`` for every pageblock whose reported type changed (both
    states reporting pageblock types; a report records no retype, so the step's old and new
    types are the two states')."""
    if pre.pb is None or post.pb is None:
        return []
    out = []
    for i, (was, now) in enumerate(zip(pre.pb, post.pb, strict=True)):
        if was == now:
            continue
        p = post.start if i == 0 else (post.first_pageblock + i) << post.pageblock_order
        if not T.retype_keeps_cma_isolate(INT_OPS, post, p, was, was, now):
            out.append(Violation("retype_keeps_cma_isolate", f"pageblock {i} changed from "
                                 f"{PROC_NAMES[was]} to {PROC_NAMES[now]}: a CMA pageblock "
                                 "must stay CMA, no other may become CMA, and none ISOLATE",
                                 {"pfns": [p], "pageblocks": [i],
                                  "retype": [PROC_NAMES[was], PROC_NAMES[now]]}))
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


__all__ = ["FreeChange"]
