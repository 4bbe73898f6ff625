"""vmstat counters and events, with exact (UP-style) semantics.

Mirror of ``__mod_zone_page_state()`` / ``__count_zone_vm_events()`` / ``zone_statistics()``
of Linux 4.3 as a uniprocessor build has them: every change goes straight into the zone
counter, with no per-CPU deltas and no ``stat_threshold`` lag.  So ``NR_ALLOC_BATCH`` as read
by the ``ZONE_FAIR_DEPLETED`` test is the exact value.  The model has one zone on NUMA node 0
and all CPUs on node 0, so ``zone_statistics()`` always counts a local hit.
"""

from __future__ import annotations

from enum import IntEnum


class VmItem(IntEnum):
    """Zone stat items (``enum zone_stat_item``) and the two vm events the path counts."""

    NR_FREE_PAGES = 0
    NR_ALLOC_BATCH = 1
    NR_FREE_CMA_PAGES = 2
    NR_PAGES_SCANNED = 3
    NUMA_HIT = 4
    NUMA_MISS = 5
    NUMA_FOREIGN = 6
    NUMA_LOCAL = 7
    NUMA_OTHER = 8
    PGALLOC = 9
    PGFREE = 10


NR_VM_ITEMS = len(VmItem)
NR_FREE_PAGES = 0
NR_ALLOC_BATCH = 1
NR_FREE_CMA_PAGES = 2
NR_PAGES_SCANNED = 3
NUMA_HIT = 4
NUMA_MISS = 5
NUMA_FOREIGN = 6
NUMA_LOCAL = 7
NUMA_OTHER = 8
PGALLOC = 9
PGFREE = 10

# The counters the wire protocol's `state.counters` reports (the rest go under `numa`).
PROTOCOL_COUNTERS = (NR_FREE_PAGES, NR_FREE_CMA_PAGES, NR_ALLOC_BATCH, PGALLOC, PGFREE)
NUMA_COUNTERS = (NUMA_HIT, NUMA_MISS, NUMA_FOREIGN, NUMA_LOCAL, NUMA_OTHER)
