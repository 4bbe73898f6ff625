#!/usr/bin/env python3
"""A plain buddy allocator that is not the model: one set of free block heads per order, no
per-CPU lists, no migratetypes, merges fully.  It speaks protocol v1 on stdin/stdout and
claims ``semantics: buddy``, ``observes: [state]``, ``complete: true``, ``validates: true``.

``--bug NAME`` plants one of the bugs below (kinds real kernels and allocators have had);
``--list-bugs`` prints them; ``--black-box`` hides the state (``observes: []``).  Without
``--bug`` it is correct, and the oracle passes it.

Standalone on purpose: it imports nothing from rmqueue (a third-party allocator would not).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

BUGS = {
    "lost_remainder": "a split drops the last remainder instead of freeing it",
    "count_off_by_block": "a free that merges adds the merged size to NR_FREE_PAGES",
    "block_left_on_list": "an exact-fit alloc leaves the block on its free list",
    "wrong_neighbour_merge": "merging looks at pfn + size, not the buddy pfn ^ size",
    "no_merge_at_top": "merging stops one order below the largest",
    "last_page_leaked": "boot frees every page but the zone's last one",
    "remainder_wrong_order": "a split puts the remainder one order too high",
    "merge_with_smaller_buddy": "merging accepts a free buddy head of a smaller order",
    "accepts_double_free": "a free of a block that is already free is accepted",
    "state_omits_order0": "the state answer leaves out the order-0 free list",
}


class BuddyAllocator:
    """The allocator; ``bug`` selects a planted bug (None: correct)."""

    def __init__(self, bug: str | None = None, black_box: bool = False) -> None:
        if bug is not None and bug not in BUGS:
            raise SystemExit(f"buddy.py: unknown bug {bug!r}; known: {', '.join(BUGS)}")
        self.bug = bug
        self.black_box = black_box
        self.free_sets: list[set[int]] = []
        self.allocated: dict[int, int] = {}
        self.nr_free_pages = 0

    # -- protocol operations ------------------------------------------------------------

    def hello(self, config: Mapping[str, Any]) -> dict[str, Any]:
        zone = config.get("zone", {})
        self.start = int(zone.get("start_pfn", 0))
        self.pages = int(zone.get("pages", 1024))
        self.max_order = int(config.get("max_order", 11))
        self.cpus = int(config.get("cpus", 2))
        self.end = self.start + self.pages
        self.free_sets = [set() for _ in range(self.max_order)]
        self.allocated = {}
        self.nr_free_pages = 0
        pfn, end = self.start, self.end - (1 if self.bug == "last_page_leaked" else 0)
        while pfn < end:
            order = self.max_order - 1
            while order > 0 and (pfn % (1 << order) or pfn + (1 << order) > end):
                order -= 1
            self._free_block(pfn, order)
            pfn += 1 << order
        return {"ok": True, "name": f"example-buddy{'+' + self.bug if self.bug else ''}",
                "observes": [] if self.black_box else ["state"], "semantics": "buddy",
                "complete": True,
                "validates": True}

    def alloc(self, cpu: int, order: int, gfp: Sequence[str]) -> int | None:
        self._check_cpu(cpu)
        if not 0 <= order < self.max_order:
            raise ValueError(f"order {order} out of range")
        for current in range(order, self.max_order):
            if self.free_sets[current]:
                break
        else:
            return None
        pfn = min(self.free_sets[current])
        if not (self.bug == "block_left_on_list" and current == order):
            self.free_sets[current].discard(pfn)
        while current > order:
            current -= 1
            if self.bug == "lost_remainder" and current == order:
                continue
            level = current + 1 if self.bug == "remainder_wrong_order" else current
            self.free_sets[min(level, self.max_order - 1)].add(pfn + (1 << current))
        self.nr_free_pages -= 1 << order
        self.allocated[pfn] = order
        return pfn

    def free(self, cpu: int, pfn: int, order: int, cold: bool) -> None:
        self._check_cpu(cpu)
        if self.bug == "accepts_double_free" and not self.allocated.get(pfn, -1) == order:
            if self.start <= pfn < self.end:
                return
        if self.allocated.get(pfn) != order:
            raise ValueError(f"pfn {pfn} is not an allocated block of order {order}")
        del self.allocated[pfn]
        self._free_block(pfn, order)

    def drain(self, cpu: int) -> None:
        self._check_cpu(cpu)

    def state(self) -> dict[str, Any]:
        free_area = [
            {"order": o, "migratetype": "Movable", "pfns": sorted(s)}
            for o, s in enumerate(self.free_sets)
            if s and not (self.bug == "state_omits_order0" and o == 0)
        ]
        return {"free_area": free_area, "pcp": [],
                "counters": {"NR_FREE_PAGES": self.nr_free_pages}}

    # -- helpers ----------------------------------------------------------------------

    def _check_cpu(self, cpu: int) -> None:
        if not 0 <= cpu < self.cpus:
            raise ValueError(f"cpu {cpu} out of range")

    def _free_block(self, pfn: int, order: int) -> None:
        self.nr_free_pages += 1 << order
        top = self.max_order - (2 if self.bug == "no_merge_at_top" else 1)
        while order < top:
            if self.bug == "wrong_neighbour_merge":
                buddy = pfn + (1 << order)
            else:
                buddy = pfn ^ (1 << order)
            if buddy in self.free_sets[order]:
                self.free_sets[order].discard(buddy)
            elif self.bug == "merge_with_smaller_buddy" and any(
                buddy in self.free_sets[o] for o in range(order)
            ):
                for o in range(order):
                    self.free_sets[o].discard(buddy)
            else:
                break
            pfn = min(pfn, buddy)
            order += 1
            if self.bug == "count_off_by_block":
                self.nr_free_pages += 1 << order
        self.free_sets[order].add(pfn)


def serve(allocator: BuddyAllocator) -> None:
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        answer = handle(allocator, request)
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if request.get("op") == "bye":
            return


def handle(a: BuddyAllocator, r: dict[str, Any]) -> dict[str, Any]:
    op = r.get("op")
    try:
        if op == "hello":
            return a.hello(r.get("config", {}))
        if op == "alloc":
            return {"pfn": a.alloc(r["cpu"], r["order"], r.get("gfp", []))}
        if op == "free":
            a.free(r["cpu"], r["pfn"], r["order"], r.get("cold", False))
            return {"ok": True}
        if op == "drain":
            a.drain(r["cpu"])
            return {"ok": True}
        if op == "state":
            return a.state()
        if op == "bye":
            return {"ok": True}
    except (ValueError, KeyError) as exc:
        return {"error": str(exc)}
    return {"error": f"unknown op {op!r}"}


def main(argv: list[str]) -> int:
    if "--list-bugs" in argv:
        for name, doc in BUGS.items():
            print(f"{name:26s} {doc}")
        return 0
    bug = argv[argv.index("--bug") + 1] if "--bug" in argv else None
    serve(BuddyAllocator(bug, black_box="--black-box" in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
