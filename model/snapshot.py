"""The zone as the wire protocol's ``state`` answer, and as /proc-style text tables."""

from __future__ import annotations

from typing import Any

from .types import MIGRATE_PCPTYPES, MIGRATE_TYPES, PROC_NAMES
from .vmstat import NUMA_COUNTERS, PROTOCOL_COUNTERS, VmItem
from .zone import Zone


def state_json(zone: Zone, detail: bool = False) -> dict[str, Any]:
    """The ``state`` response: non-empty lists only, by order/cpu then migratetype, each
    with its pfns from head to tail.  ``detail`` adds the protocol extension fields
    (``nr_free``, ``pcp_sets``, ``pageblocks``, ``numa``, ``flags``)."""
    free_area = []
    for order in range(zone.max_order):
        for mt in range(MIGRATE_TYPES):
            pfns = zone.free_list(order, mt)
            if pfns:
                free_area.append({"order": order, "migratetype": PROC_NAMES[mt], "pfns": pfns})
    pcp = []
    for p in zone.pageset:
        for index in range(MIGRATE_PCPTYPES):
            pfns = zone.pcp_list(p.cpu, index)
            if pfns:
                pcp.append({"cpu": p.cpu, "migratetype": PROC_NAMES[index], "pfns": pfns})
    out: dict[str, Any] = {
        "free_area": free_area,
        "pcp": pcp,
        "counters": {VmItem(i).name: zone.vm_stat[i] for i in PROTOCOL_COUNTERS},
    }
    if detail:
        out["nr_free"] = [a.nr_free for a in zone.free_area]
        out["pcp_sets"] = [
            {"cpu": p.cpu, "count": p.count, "high": p.high, "batch": p.batch}
            for p in zone.pageset
        ]
        out["pageblocks"] = [PROC_NAMES[t] for t in zone.pageblock_mt]
        out["numa"] = {VmItem(i).name: zone.vm_stat[i] for i in NUMA_COUNTERS}
        out["flags"] = {"ZONE_FAIR_DEPLETED": zone.fair_depleted}
    return out


def buddyinfo(zone: Zone, node: int = 0) -> str:
    """/proc/buddyinfo: free blocks per order, all types together."""
    counts = " ".join(f"{a.nr_free:6d}" for a in zone.free_area)
    return f"Node {node}, zone {zone.config.zone_name:>8s} {counts}"


def pagetypeinfo(zone: Zone, node: int = 0) -> str:
    """/proc/pagetypeinfo: free blocks per order and type, then pageblocks per type."""
    orders = " ".join(f"{o:6d}" for o in range(zone.max_order))
    lines = [
        f"Page block order: {zone.pageblock_order}",
        f"Pages per block:  {1 << zone.pageblock_order}",
        "",
        f"Free pages count per migrate type at order {orders}",
    ]
    for mt in range(MIGRATE_TYPES):
        counts = " ".join(
            f"{sum(1 for _ in zone.iter_list(o * MIGRATE_TYPES + mt)):6d}"
            for o in range(zone.max_order)
        )
        lines.append(
            f"Node {node:4d}, zone {zone.config.zone_name:>8s}, type {PROC_NAMES[mt]:>12s} {counts}"
        )
    lines.append("")
    names = " ".join(f"{n:>12s}" for n in PROC_NAMES)
    lines.append(f"Number of blocks type     {names}")
    per_type = [0] * MIGRATE_TYPES
    for t in zone.pageblock_mt:
        per_type[t] += 1
    counts = " ".join(f"{c:12d}" for c in per_type)
    lines.append(f"Node {node}, zone {zone.config.zone_name:>8s} {counts}")
    return "\n".join(lines)
