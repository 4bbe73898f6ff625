"""Each check of the lockstep engine, shown to fire on an allocator broken for it, and not
to fire on the correct one running the same operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import buddy
import pytest

from rmqueue.model.config import ZoneConfig
from rmqueue.oracle.adapters import InProcessAdapter
from rmqueue.oracle.findings import ConformanceViolation, Divergence, Finding
from rmqueue.oracle.lockstep import Lockstep
from rmqueue.oracle.machine import DEFAULT_CONFIG
from rmqueue.oracle.protocol import Level
from rmqueue.oracle.session import ModelSession

CFG = ZoneConfig.from_json(DEFAULT_CONFIG)
Json = dict[str, Any]


def alloc(order: int, cpu: int = 0, gfp: tuple[str, ...] = ("GFP_KERNEL",)) -> Json:
    return {"op": "alloc", "cpu": cpu, "order": order, "gfp": list(gfp)}


def free(block: int, cpu: int = 0, cold: bool = False) -> Json:
    return {"op": "free", "block": block, "cpu": cpu, "cold": cold}


class Patched:
    """A protocol-speaking object: ``inner`` answers, then ``patch(request, answer)``."""

    def __init__(self, inner: Any, patch: Callable[[Json, Json], Json]) -> None:
        self.inner, self.patch = inner, patch

    def handle(self, request: Json) -> Json:
        if hasattr(self.inner, "handle"):
            answer = self.inner.handle(request)
        else:
            answer = buddy.handle(self.inner, request)
        return self.patch(request, answer)


def run(factory: Callable[[], object], ops: list[Json], cfg: ZoneConfig = CFG) -> Lockstep:
    engine = Lockstep(InProcessAdapter(factory), cfg)
    engine.run(ops)
    return engine


def fails(
    factory: Callable[[], object], ops: list[Json], name: str, cfg: ZoneConfig = CFG
) -> Finding:
    with pytest.raises(Finding) as info:
        run(factory, ops, cfg)
    assert info.value.name == name, info.value
    return info.value


def black_box(**patches: Any) -> Callable[[], object]:
    def make() -> object:
        return Patched(buddy.BuddyAllocator(black_box=True), patches.get("patch", keep))
    return make


def keep(request: Json, answer: Json) -> Json:
    return answer


OPS = [alloc(0), alloc(1), alloc(3), free(1), alloc(5), free(0), alloc(0, cpu=1), free(4)]


def test_correct_buddy_passes_every_level() -> None:
    for bb in (True, False):
        engine = run(lambda bb=bb: buddy.BuddyAllocator(black_box=bb), OPS * 3)
        assert engine.level is (Level.BLACK_BOX if bb else Level.STATE)
        assert engine.executed == len(OPS) * 3


def test_block_aligned() -> None:
    def shift(request: Json, answer: Json) -> Json:
        if request["op"] == "alloc" and request["order"] == 1 and answer.get("pfn") is not None:
            return {"pfn": answer["pfn"] + 1}
        return answer
    fails(black_box(patch=shift), [alloc(1)], "block_aligned")


def test_block_in_zone() -> None:
    cfg = ZoneConfig.from_json({**DEFAULT_CONFIG, "zone": {"pages": 126}})
    fails(black_box(patch=lambda r, a: {"pfn": 124} if r["op"] == "alloc" else a),
          [alloc(2)], "block_in_zone", cfg)
    run(lambda: buddy.BuddyAllocator(black_box=True), [alloc(2)] * 40, cfg)


def test_no_overlap() -> None:
    fails(lambda: buddy.BuddyAllocator("block_left_on_list", black_box=True),
          [alloc(0)] * 3, "no_overlap")


def test_complete_alloc_failed() -> None:
    # orders 0..5, top blocks of 32 pages: a lost remainder makes the 4th order-5 alloc fail
    ops = [alloc(0), free(0), alloc(5), alloc(5), alloc(5), alloc(5)]
    run(lambda: buddy.BuddyAllocator(black_box=True), ops)
    fails(lambda: buddy.BuddyAllocator("lost_remainder", black_box=True), ops,
          "complete_alloc_failed")


def test_free_accepted_and_valid_request_refused() -> None:
    fails(black_box(patch=lambda r, a: {"ok": False} if r["op"] == "free" else a),
          [alloc(0), free(0)], "free_accepted")
    fails(black_box(patch=lambda r, a: {"error": "no"} if r["op"] == "drain" else a),
          [{"op": "drain", "cpu": 1}], "valid_request_refused")


def test_bad_request_refused() -> None:
    ops = [alloc(0), free(0), {"op": "bad", "kind": "double_free", "block": 0}]
    run(lambda: buddy.BuddyAllocator(), ops)
    fails(lambda: buddy.BuddyAllocator("accepts_double_free"), ops, "bad_request_refused")


def test_bad_request_unchanged() -> None:
    class Sloppy(buddy.BuddyAllocator):
        def free(self, cpu: int, pfn: int, order: int, cold: bool) -> None:
            if self.allocated.get(pfn) != order:
                self.nr_free_pages += 1  # refuses, but touches the counter first
            super().free(cpu, pfn, order, cold)

    ops = [alloc(0), {"op": "bad", "kind": "free_wrong_order", "block": 0}]
    fails(Sloppy, ops, "bad_request_unchanged")


def test_state_level_uses_specs() -> None:
    # a wrong counter is visible only in the reported state
    err = fails(lambda: buddy.BuddyAllocator("count_off_by_block"), OPS, "free_pages_conserved")
    assert isinstance(err, ConformanceViolation)
    run(lambda: buddy.BuddyAllocator("count_off_by_block", black_box=True), OPS)


def test_exact_level_result_and_state() -> None:
    engine = run(ModelSession, OPS * 2)
    assert engine.level is Level.EXACT

    def other_pfn(request: Json, answer: Json) -> Json:
        if request["op"] == "alloc" and request["order"] == 3:
            return {"pfn": 120}
        return answer
    err = fails(lambda: Patched(ModelSession(), other_pfn), OPS, "result_differs")
    assert isinstance(err, Divergence) and err.step == 2

    def reorder(request: Json, answer: Json) -> Json:
        if request["op"] == "state":
            for entry in answer["free_area"]:
                entry["pfns"] = entry["pfns"][::-1]
        return answer
    fails(lambda: Patched(ModelSession(), reorder), [alloc(0), alloc(1)], "state_differs")


def test_in_process_crash_and_hello_refusal_are_implementation_errors() -> None:
    from rmqueue.oracle.findings import ImplementationError, ProtocolError

    class Crashes(buddy.BuddyAllocator):
        def alloc(self, cpu: int, order: int, gfp: Any) -> int | None:
            if order == 1:
                raise RuntimeError("boom")
            return super().alloc(cpu, order, gfp)

    with pytest.raises(ImplementationError) as info:
        run(Crashes, [alloc(0), alloc(1)])
    assert info.value.name == "crashed" and info.value.step == 1
    assert "boom" in info.value.stderr_tail

    class Refuses(buddy.BuddyAllocator):
        def hello(self, config: Any) -> dict[str, Any]:
            raise ValueError("no CMA support")

    with pytest.raises(ProtocolError, match="hello_refused"):
        run(Refuses, [])


def workload(n: int) -> list[Json]:
    """Allocs and frees of live blocks, deterministic."""
    ops: list[Json] = []
    live: list[int] = []
    for i in range(n):
        if i % 3 == 2 and live:
            ops.append(free(live.pop(i % len(live)), cpu=i % 2))
        else:
            live.append(len(ops))
            ops.append(alloc(i % 4, cpu=i % 2))
    return ops


def test_state_every_n_checks_the_state_it_fetched() -> None:
    for every in (3, 16):
        engine = Lockstep(InProcessAdapter(buddy.BuddyAllocator), CFG, state_every=every)
        engine.run(workload(120))
        assert engine.state_step >= 100
    engine = Lockstep(InProcessAdapter(lambda: buddy.BuddyAllocator("count_off_by_block")),
                      CFG, state_every=16)
    with pytest.raises(Finding, match="free_pages_conserved"):
        engine.run(workload(120))


def test_exact_level_compares_state_detail_when_offered() -> None:
    def miscount(request: Json, answer: Json) -> Json:
        if request["op"] == "state" and request.get("detail"):
            answer["pcp_sets"][0]["count"] += 1  # lists right, pcp->count wrong
        return answer
    err = fails(lambda: Patched(ModelSession(), miscount), [alloc(0)], "state_differs")
    assert err.details["where"] == "pcp_sets"
