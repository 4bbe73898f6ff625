"""The typed record each transition returns: exactly what it changed, nothing else.

The per-transition checks of rmqueue.specs consume this record with frame reasoning: they read
the state only at the pfns and lists named here, so a check costs O(size of the record), never
O(size of the zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .vmstat import NR_VM_ITEMS

# (pfn, order, migratetype): a block taken off / put on zone.free_area[order].free_list[mt]
FreeOp = tuple[int, int, int]
# (cpu, pcp list index, pfn): an order-0 page taken off / put on pcp[cpu].lists[index]
PcpOp = tuple[int, int, int]
# (pageblock index from the zone's first pageblock, old type, new type)
Retype = tuple[int, int, int]


@dataclass(slots=True, eq=False, init=False)
class Transition:
    """What one allocator operation did (``alloc``, ``free`` or ``drain``).

    Lists are in the order the kernel performed the steps.  A move between lists
    (``move_freepages``) is a ``free_del`` followed by a ``free_add``.  ``vm_delta[item]`` is
    the change of each counter of :class:`rmqueue.model.vmstat.VmItem`.  ``pfn`` is the block
    allocated (``None`` on failure) or freed; ``allocated``/``released`` name the block that
    left or entered the user's hands.  Built by the transition; read-only afterwards.
    """

    op: str
    cpu: int
    order: int
    migratetype: int = -1
    cold: bool = False
    pfn: int | None = None
    free_del: list[FreeOp] = field(default_factory=list)
    free_add: list[FreeOp] = field(default_factory=list)
    pcp_del: list[PcpOp] = field(default_factory=list)
    pcp_add: list[PcpOp] = field(default_factory=list)
    retyped: list[Retype] = field(default_factory=list)
    vm_delta: list[int] = field(default_factory=lambda: [0] * NR_VM_ITEMS)
    pcp_count_delta: int = 0
    fair_depleted_set: bool = False
    warnings: list[str] = field(default_factory=list)

    def __init__(
        self,
        op: str,
        cpu: int,
        order: int,
        migratetype: int = -1,
        cold: bool = False,
        pfn: int | None = None,
    ) -> None:
        # Written out (rather than dataclass-generated with default factories): one record is
        # built per operation, so this is on the hot path.
        self.op = op
        self.cpu = cpu
        self.order = order
        self.migratetype = migratetype
        self.cold = cold
        self.pfn = pfn
        self.free_del = []
        self.free_add = []
        self.pcp_del = []
        self.pcp_add = []
        self.retyped = []
        self.vm_delta = [0] * NR_VM_ITEMS
        self.pcp_count_delta = 0
        self.fair_depleted_set = False
        self.warnings = []

    @property
    def failed(self) -> bool:
        return self.op == "alloc" and self.pfn is None
