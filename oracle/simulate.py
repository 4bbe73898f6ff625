"""``rmqueue simulate``: run a workload on the Linux 4.3 model and show the zone it leaves.

The output is what a kernel developer would look at on a real machine: /proc/buddyinfo and
/proc/pagetypeinfo style tables, the per-CPU page lists, and the vmstat counters of the zone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from rmqueue.model import Allocator, ConfigError, ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.model.snapshot import buddyinfo, pagetypeinfo
from rmqueue.model.types import MIGRATE_PCPTYPES, MIGRATE_TYPES, PROC_NAMES
from rmqueue.model.vmstat import NR_VM_ITEMS, VmItem
from rmqueue.model.workload import WORKLOADS, Op, drive

DEFAULT_PAGES = 262144  # 1 GiB of 4 KiB pages
DEFAULT_CPUS = 2
DEFAULT_OPS = 200_000
DEFAULT_WORKLOAD = "mixed"

DESCRIPTION = """\
Run a seeded workload on the Linux 4.3 page allocator model and print the zone it leaves
behind: /proc/buddyinfo and /proc/pagetypeinfo style tables, the per-CPU page lists and the
counters (NR_FREE_PAGES, NR_FREE_CMA_PAGES, NR_ALLOC_BATCH, PGALLOC, PGFREE, ...).

The default zone is a 1 GiB Normal zone (262144 pages) on 2 CPUs with what Linux 4.3
computes for it: pcp high 186 / batch 31, watermarks min/low/high 1024/1280/1536 pages, 2
MIGRATE_RESERVE pageblocks, mobility grouping on.  Every zone starts with all pages free,
built as a booting kernel builds it (see oracle/PROTOCOL.md).  The same workload, seed and
zone always give the same result."""


def _epilog() -> str:
    width = max(len(n) for n in WORKLOADS)
    rows = "\n".join(f"  {name:<{width}}  {w.doc}" for name, w in WORKLOADS.items())
    return f"""\
workloads:
{rows}

examples:
  rmqueue simulate                          mixed workload, 1 GiB zone, 2 CPUs
  rmqueue simulate pcp-churn --ops 1000000  the order-0 per-CPU fast path
  rmqueue simulate fragment --seed 7        another seed, another history
  rmqueue simulate cma                      (a zone without CMA gets its last 1/8 as CMA)
  rmqueue simulate mixed --pages 65536 --cpus 4
  rmqueue simulate random --config zone.json --json > result.json

--config FILE holds one protocol CONFIG object; omitted fields get the kernel's defaults:
  {{"zone": {{"pages": 65536, "start_pfn": 4096}}, "cpus": 4, "reserve_pageblocks": 2}}

Exit status: 0 done, 2 bad arguments or config (one line on stderr)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a workload on the model, print /proc/buddyinfo-style tables",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "workload",
        nargs="?",
        default=DEFAULT_WORKLOAD,
        metavar="WORKLOAD",
        help=f"one of {', '.join(WORKLOADS)} (default: {DEFAULT_WORKLOAD})",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="zone config as a JSON protocol CONFIG object"
    )
    parser.add_argument(
        "--pages", type=int, metavar="N", help=f"zone size in pages (default {DEFAULT_PAGES})"
    )
    parser.add_argument(
        "--cpus", type=int, metavar="N", help=f"number of CPUs (default {DEFAULT_CPUS})"
    )
    parser.add_argument(
        "--ops", type=int, default=DEFAULT_OPS, metavar="N",
        help=f"operations to run (default {DEFAULT_OPS})",
    )
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.set_defaults(func=run)


# -- config ------------------------------------------------------------------------------------


def _read_config_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    if not isinstance(obj, dict):
        raise ConfigError(
            f"config file {path} must hold one JSON object (a protocol CONFIG), "
            f"got {type(obj).__name__}"
        )
    return obj


def _default_cma(cfg: dict[str, Any]) -> list[int]:
    """The last eighth of the zone (at least one max-order block) as CMA pageblocks."""
    probe = ZoneConfig.from_json(cfg)
    window = probe.max_order - 1
    per_block = 1 << (window - probe.pageblock_order)
    first = -(-probe.start_pfn >> window)  # first whole max-order block inside the zone
    last = probe.end_pfn >> window  # one past the last whole one
    if last <= first:
        return []
    count = max(1, (last - first) // 8)
    blocks = range(last - count, last)
    return [
        ((b << window) >> probe.pageblock_order) - probe.first_pageblock + k
        for b in blocks
        for k in range(per_block)
    ]


def build_config(args: argparse.Namespace) -> ZoneConfig:
    """The zone to simulate: --config FILE or the 1 GiB default, then --pages/--cpus."""
    cfg: dict[str, Any]
    if args.config is not None:
        cfg = _read_config_file(args.config)
    else:
        cfg = {"zone": {"pages": DEFAULT_PAGES}, "cpus": DEFAULT_CPUS}
    if args.pages is not None or args.cpus is not None:
        zone = cfg.get("zone", {})
        cfg = dict(cfg, zone=dict(zone) if isinstance(zone, dict) else zone)
        if args.pages is not None:
            if isinstance(cfg["zone"], dict):
                cfg["zone"]["pages"] = args.pages
        if args.cpus is not None:
            cfg["cpus"] = args.cpus
    try:
        if args.workload == "cma" and "cma_pageblocks" not in cfg:
            cfg = dict(cfg, cma_pageblocks=_default_cma(cfg))
        return ZoneConfig.from_json(cfg)
    except ConfigError as exc:
        where = f"config file {args.config}" if args.config is not None else "config"
        raise ConfigError(f"{where}: {exc}") from None


# -- run ---------------------------------------------------------------------------------------


class _Tally:
    """Counts what the operations did (for the summary), and feeds the progress bar."""

    __slots__ = ("allocs", "failed", "frees", "drains", "pages_out", "n", "bar")

    def __init__(self, bar: Any) -> None:
        self.allocs = self.failed = self.frees = self.drains = self.pages_out = self.n = 0
        self.bar = bar

    def __call__(self, op: Op, rec: Transition) -> None:
        kind = op[0]
        if kind == "alloc":
            self.allocs += 1
            if rec.pfn is None:
                self.failed += 1
            else:
                self.pages_out += 1 << rec.order
        elif kind == "free":
            self.frees += 1
            self.pages_out -= 1 << rec.order
        else:
            self.drains += 1
        self.n += 1
        if self.bar is not None and not self.n & 1023:
            self.bar.update(1024)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, w in WORKLOADS.items():
            print(f"{name:<20} {w.doc}")
        return 0
    if args.workload not in WORKLOADS:
        raise ConfigError(
            f"unknown workload {args.workload!r}; choose one of {', '.join(WORKLOADS)} "
            "(rmqueue simulate --list describes them)"
        )
    if args.ops < 0:
        raise ConfigError(f"--ops must be >= 0 (got {args.ops})")
    config = build_config(args)
    allocator = Allocator(config)
    workload = WORKLOADS[args.workload].build(args.seed, config.cpus, args.ops, config.pages)
    bar = _progress_bar(args)
    tally = _Tally(bar)
    t0 = time.perf_counter()
    try:
        drive(allocator, workload, tally)
    finally:
        if bar is not None:
            bar.update(tally.n - bar.n)
            bar.close()
    elapsed = time.perf_counter() - t0
    result = summary(allocator, args, tally, elapsed)
    text = json.dumps(result) if args.json else render_text(allocator, result)
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `rmqueue simulate | head`: the reader left; say nothing more, as cat would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def _progress_bar(args: argparse.Namespace) -> Any:
    if args.quiet or args.ops < 50_000 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=args.ops, file=sys.stderr, unit="op", unit_scale=True, desc=args.workload,
        mininterval=0.25, leave=False,
    )


# -- output ------------------------------------------------------------------------------------


def summary(allocator: Allocator, args: argparse.Namespace, tally: _Tally, elapsed: float
            ) -> dict[str, Any]:
    """Everything the run shows, as one JSON-ready object."""
    zone = allocator.zone
    free_blocks = {
        PROC_NAMES[mt]: [sum(1 for _ in zone.iter_list(o * MIGRATE_TYPES + mt))
                         for o in range(zone.max_order)]
        for mt in range(MIGRATE_TYPES)
    }
    pageblocks = {name: 0 for name in PROC_NAMES}
    for t in zone.pageblock_mt:
        pageblocks[PROC_NAMES[t]] += 1
    pcp = [
        {
            "cpu": p.cpu,
            "count": p.count,
            "high": p.high,
            "batch": p.batch,
            "lists": {
                PROC_NAMES[i]: sum(1 for _ in zone.iter_list(p.list_ids[i]))
                for i in range(MIGRATE_PCPTYPES)
            },
        }
        for p in zone.pageset
    ]
    return {
        "workload": args.workload,
        "seed": args.seed,
        "ops": tally.n,
        "elapsed_s": round(elapsed, 3),
        "config": allocator.config.to_json(),
        "summary": {
            "allocs": tally.allocs,
            "failed_allocs": tally.failed,
            "frees": tally.frees,
            "drains": tally.drains,
            "pages_in_use": tally.pages_out,
        },
        "buddyinfo": [a.nr_free for a in zone.free_area],
        "pagetypeinfo": {"free_blocks": free_blocks, "pageblocks": pageblocks},
        "pcp": pcp,
        "counters": {VmItem(i).name: zone.vm_stat[i] for i in range(NR_VM_ITEMS)},
        "flags": {"ZONE_FAIR_DEPLETED": zone.fair_depleted},
    }


def render_text(allocator: Allocator, result: dict[str, Any]) -> str:
    zone = allocator.zone
    c = allocator.config
    s = result["summary"]
    rate = result["ops"] / result["elapsed_s"] if result["elapsed_s"] else 0.0
    lines = [
        f"workload {result['workload']}, seed {result['seed']}: {result['ops']} ops in "
        f"{result['elapsed_s']:.2f} s ({rate / 1000:.0f}k ops/s)",
        f"zone {c.zone_name}: pfns {c.start_pfn}..{c.end_pfn - 1} ({c.pages} pages, "
        f"{c.pages * 4 / 1024:g} MiB), {c.cpus} CPUs, pcp high {c.pcp_high} batch "
        f"{c.pcp_batch}, watermarks min/low/high {c.wmark_min}/{c.wmark_low}/{c.wmark_high}, "
        f"reserve {c.reserve_pageblocks} and CMA {len(c.cma_pageblocks)} pageblocks, "
        f"mobility grouping {'on' if c.mobility_grouping else 'off'}",
        f"allocs {s['allocs']} (failed {s['failed_allocs']}), frees {s['frees']}, "
        f"drains {s['drains']}, pages in use {s['pages_in_use']}",
        "",
        "/proc/buddyinfo:",
        buddyinfo(zone),
        "",
        "/proc/pagetypeinfo:",
        pagetypeinfo(zone),
        "",
        "per-CPU pages:",
        "  cpu  count   high  batch " + " ".join(f"{PROC_NAMES[i]:>11s}" for i in range(3)),
    ]
    for p in result["pcp"]:
        lists = " ".join(f"{p['lists'][PROC_NAMES[i]]:11d}" for i in range(3))
        lines.append(f"  {p['cpu']:3d} {p['count']:6d} {p['high']:6d} {p['batch']:6d} {lists}")
    lines += ["", "counters:"]
    for name, value in result["counters"].items():
        lines.append(f"  {name:<20s} {value:>12d}")
    lines.append(f"  {'ZONE_FAIR_DEPLETED':<20s} {str(result['flags']['ZONE_FAIR_DEPLETED']):>12s}")
    return "\n".join(lines)
