"""Throughput and memory of the reference model: ``python bench/model.py``.

Prints one JSON object::

    {"pcp_churn_ops_per_s": {"65536": ..., "4194304": ...},
     "mixed_ops_per_s": {...}, "peak_rss_mib": {...}, ...}

Each zone size runs in a fresh subprocess, so ``peak_rss_mib`` (``ru_maxrss``) is that
size's own peak.  Both workloads are the seeded generators of ``rmqueue.model.workload``
run through ``workload.drive``'s loop on ``Allocator`` (validation and the full Transition
record included), on a zone with kernel-computed pcp high/batch and watermarks and 4 CPUs:

* pcp churn: order-0 alloc/free of every gfp class, hot and cold, mostly pcp hits;
* mixed: orders 0-10 of every gfp class with frees at ~85% of the zone in use, so fallback,
  stealing and failures happen.  It is timed in steady state: the ops that first fill the
  zone to that level are run untimed.

Targets: pcp churn >= 250k ops/s; ops/s at 2^22 pages >= 0.8x that at 2^16; peak RSS of a
2^22-page zone <= 256 MiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.workload import ORDER_WEIGHTS, Workload, mixed, pcp_churn

SIZES = (1 << 16, 1 << 22)
CPUS = 4
SEED = 20151102  # Linux 4.3 release date


def timed_drive(
    allocator: Allocator, workload: Workload, warmup: int, chunk: int
) -> list[float]:
    """``workload.drive``'s loop, with the clock read every ``chunk`` ops after ``warmup``
    untimed ones: the ops/s of each whole chunk."""
    alloc, free, drain, send = allocator.alloc, allocator.free, allocator.drain, workload.send
    n = 0
    next_mark = warmup
    marks: list[float] = []
    result: int | None = None
    try:
        op = next(workload)
        while True:
            if n == next_mark:
                marks.append(time.perf_counter())
                next_mark += chunk
            kind = op[0]
            if kind == "alloc":
                result = alloc(op[1], op[2], op[3]).pfn
            elif kind == "free":
                free(op[1], op[2], op[3], op[4])
                result = None
            else:
                drain(op[1])
                result = None
            n += 1
            op = send(result)
    except StopIteration:
        pass
    if n == next_mark:
        marks.append(time.perf_counter())
    return [chunk / (b - a) for a, b in zip(marks, marks[1:], strict=False)]


def mixed_warmup(pages: int, fill: float = 0.85) -> int:
    """Ops the mixed workload needs to fill the zone to ``fill`` (mean block size, plus
    slack for the frees interleaved with the allocations)."""
    mean = sum(w << o for o, w in enumerate(ORDER_WEIGHTS)) / sum(ORDER_WEIGHTS)
    return int(pages * fill / mean * 1.6) + 20_000


def run_one(pages: int, ops: int, chunks: int) -> dict[str, Any]:
    """Both workloads on one zone size.  Each timed phase is cut into ``chunks`` equal
    chunks and the best chunk is reported (as ``timeit`` does), which filters out the other
    processes sharing the machine; the median is reported alongside."""
    config = ZoneConfig.kernel_default(pages, cpus=CPUS)
    chunk = ops // chunks
    a = Allocator(config)
    warm = 20_000
    pcp = timed_drive(a, pcp_churn(SEED, CPUS, warm + chunk * chunks), warm, chunk)
    del a  # one zone at a time: the peak RSS is one zone's
    a = Allocator(config)
    warm = mixed_warmup(pages)
    mix = timed_drive(a, mixed(SEED, CPUS, warm + chunk * chunks, pages), warm, chunk)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "pages": pages,
        "pcp_churn": round(max(pcp)),
        "mixed": round(max(mix)),
        "pcp_churn_median": round(statistics.median(pcp)),
        "mixed_median": round(statistics.median(mix)),
        "rss_mib": round(rss_kib / 1024, 1),
        "pcp": [config.pcp_high, config.pcp_batch],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=300_000, help="timed ops per workload")
    parser.add_argument("--chunks", type=int, default=5, help="timed chunks; best is kept")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.ops, args.chunks)))
        return 0
    rows = []
    for pages in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(pages), "--ops", str(args.ops),
             "--chunks", str(args.chunks)],
            check=True, capture_output=True, text=True,
        ).stdout
        rows.append(json.loads(out))
    result: dict[str, Any] = {
        "pcp_churn_ops_per_s": {str(r["pages"]): r["pcp_churn"] for r in rows},
        "mixed_ops_per_s": {str(r["pages"]): r["mixed"] for r in rows},
        "peak_rss_mib": {str(r["pages"]): r["rss_mib"] for r in rows},
        "median_chunk_ops_per_s": {
            str(r["pages"]): {"pcp_churn": r["pcp_churn_median"], "mixed": r["mixed_median"]}
            for r in rows
        },
        "pcp_high_batch": {str(r["pages"]): r["pcp"] for r in rows},
        "cpus": CPUS,
        "timed_ops_per_workload": args.ops,
        "chunks": args.chunks,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
