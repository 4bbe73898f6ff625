#!/usr/bin/env python3
"""Throughput of the oracle's lockstep engine, as one JSON object on stdout.

* ``inprocess_steps_per_s``: checked steps per second at the state level, in-process: the
  example buddy allocator (examples/buddy) driven as a Python object, its reported state
  fetched every step, the transition predicates of specs/ on every step and the invariants
  of specs/ on every 8th state (the engine's default ``invariant_every``) and at the end.
* ``process_steps_per_s``: checked steps per second through a child process: the model via
  ``rmqueue serve``, exact level (every result and state compared with the model's, the
  model's own steps checked by specs' StepChecker), pipelined in waves with the ``batch``
  extension.
* extra keys: the same in-process at exact level (the model), with the state fetched and
  checked every 64 (in-process) or 16 (process) steps only, black box only, and through
  Hypothesis (its generation machinery included) for scale.

Operations are random (seeded) allocs of orders 0-3 over every gfp class, frees of live
blocks (hot and cold), and drains, on the fuzzer's default zone.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "buddy"))

import buddy  # noqa: E402

from rmqueue.model.config import ZoneConfig  # noqa: E402
from rmqueue.oracle.adapters import InProcessAdapter, parse_target  # noqa: E402
from rmqueue.oracle.fuzz import fuzz  # noqa: E402
from rmqueue.oracle.lockstep import Lockstep  # noqa: E402
from rmqueue.oracle.machine import DEFAULT_CONFIG, GFP_CLASSES  # noqa: E402
from rmqueue.oracle.session import ModelSession  # noqa: E402

Json = dict[str, Any]


def workload(n: int, cpus: int, seed: int = 1) -> list[Json]:
    rnd = random.Random(seed)
    ops: list[Json] = []
    live: list[int] = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.5 or not live:
            live.append(len(ops))
            ops.append({"op": "alloc", "cpu": rnd.randrange(cpus),
                        "order": rnd.choice((0, 0, 0, 1, 2, 3)),
                        "gfp": list(rnd.choice(GFP_CLASSES))})
        elif r < 0.96:
            ops.append({"op": "free", "block": live.pop(rnd.randrange(len(live))),
                        "cpu": rnd.randrange(cpus), "cold": rnd.random() < 0.3})
        else:
            ops.append({"op": "drain", "cpu": rnd.randrange(cpus)})
    return ops


def rate(engine: Lockstep, ops: list[Json]) -> float:
    start = time.perf_counter()
    engine.run(ops)
    seconds = time.perf_counter() - start
    engine.close()
    return len(ops) / seconds


def main() -> None:
    cfg = ZoneConfig.from_json(DEFAULT_CONFIG)
    ops = workload(4000, cfg.cpus)
    state_level = rate(Lockstep(InProcessAdapter(buddy.BuddyAllocator), cfg), ops)
    state_64 = rate(Lockstep(InProcessAdapter(buddy.BuddyAllocator), cfg, state_every=64), ops)
    black_box = rate(Lockstep(InProcessAdapter(lambda: buddy.BuddyAllocator(None, True)), cfg),
                     ops)
    exact_inproc = rate(Lockstep(InProcessAdapter(ModelSession), cfg), ops)
    serve = parse_target("serve")
    process = rate(Lockstep(serve.open(10.0), cfg), ops)
    process_16 = rate(Lockstep(serve.open(10.0), cfg, state_every=16), ops)
    start = time.perf_counter()
    result = fuzz("serve", cfg, max_examples=10, steps=100, seed=1, database=None)
    hyp = result.steps / (time.perf_counter() - start)
    print(json.dumps({
        "inprocess_steps_per_s": round(state_level),
        "process_steps_per_s": round(process),
        "inprocess_exact_steps_per_s": round(exact_inproc),
        "inprocess_state_every_64_steps_per_s": round(state_64),
        "inprocess_black_box_steps_per_s": round(black_box),
        "process_exact_state_every_16_steps_per_s": round(process_16),
        "hypothesis_process_exact_steps_per_s": round(hyp),
        "steps": len(ops),
        "zone_pages": cfg.pages,
    }))


if __name__ == "__main__":
    main()
