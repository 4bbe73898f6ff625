"""Workload generators: deterministic, and every op they produce is valid for the model."""

from __future__ import annotations

import pytest

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.model.snapshot import state_json
from rmqueue.model.workload import WORKLOADS, LiveSet, Op, drive


def _run(name: str, seed: int) -> tuple[list[Op], dict[str, object]]:
    cfg = ZoneConfig.kernel_default(4096, cpus=2, mobility_grouping=True)
    a = Allocator(cfg)
    ops: list[Op] = []

    def step(op: Op, rec: Transition) -> None:
        ops.append(op)

    n = drive(a, WORKLOADS[name].build(seed, 2, 600, 4096), step)
    assert n == len(ops)
    return ops, state_json(a.zone, detail=True)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_is_deterministic_and_valid(name: str) -> None:
    ops1, state1 = _run(name, 7)
    ops2, state2 = _run(name, 7)
    assert ops1 == ops2 and state1 == state2
    assert 0 < len(ops1) <= 600
    assert {op[0] for op in ops1} <= {"alloc", "free", "drain"}
    ops3, _ = _run(name, 8)
    assert ops3 != ops1


def test_pcp_churn_is_order0_and_mostly_pcp_hits() -> None:
    a = Allocator(ZoneConfig.kernel_default(65536, cpus=4))
    hits = allocs = 0

    def step(op: Op, rec: Transition) -> None:
        nonlocal hits, allocs
        if op[0] == "alloc":
            assert op[2] == 0
            allocs += 1
            hits += not rec.free_del  # no refill: served from the pcp list
    drive(a, WORKLOADS["pcp-churn"].build(1, 4, 3000, 65536), step)
    assert hits > 0.8 * allocs


def test_live_set_swap_remove() -> None:
    import random

    live = LiveSet()
    for pfn, order in ((0, 0), (8, 3), (64, 6)):
        live.add(pfn, order)
    assert live.pages == 1 + 8 + 64 and len(live) == 3
    got = {live.pop_random(random.Random(s)) for s in range(1)}
    assert got <= {(0, 0), (8, 3), (64, 6)}
    assert len(live) == 2 and live.pages == 73 - (1 << next(iter(got))[1])
    assert sorted(live.blocks + sorted(got)) == [(0, 0), (8, 3), (64, 6)]
