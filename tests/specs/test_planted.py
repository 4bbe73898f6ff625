"""Item 5: every invariant is shown to fail, by name, with the offending pfns/orders/lists.

Each test plants one corruption in a sound state and asserts that the full check (and, for
step-level findings, the per-step check) names exactly that invariant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from specs_helpers import BACKENDS, make_checker

from rmqueue.model import Allocator
from rmqueue.model.types import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
)
from rmqueue.model.vmstat import NR_ALLOC_BATCH, NR_FREE_CMA_PAGES, NR_FREE_PAGES, PGFREE
from rmqueue.model.zone import Zone
from rmqueue.specs import INVARIANTS, InvariantViolation
from rmqueue.specs.check import StepChecker


def free_head(z: Zone, min_order: int, misaligned_up: bool = False) -> tuple[int, int, int]:
    """(pfn, order, mt) of a free block of at least ``min_order``."""
    for o in range(z.max_order - 1, min_order - 1, -1):
        for mt in range(MIGRATE_TYPES):
            for pfn in z.free_list(o, mt):
                if not misaligned_up or pfn & (1 << o) and o + 1 < z.max_order:
                    return pfn, o, mt
    raise AssertionError("no such free block")


def relink(z: Zone, pfn: int, order: int, mt: int) -> None:
    i = pfn - z.zone_start_pfn
    z.list_del(i)
    z.list_add(i, order * MIGRATE_TYPES + mt)
    z.buddy_order[i] = order


def plant_block_aligned(z: Zone) -> dict[str, Any]:
    pfn, o, mt = free_head(z, 0, misaligned_up=True)
    relink(z, pfn, o + 1, mt)
    z.free_area[o].nr_free -= 1
    z.free_area[o + 1].nr_free += 1
    return {"pfns": pfn, "orders": o + 1}


def plant_blocks_disjoint(z: Zone) -> dict[str, Any]:
    pfn, o, _ = free_head(z, 1)
    z.alloc_order[pfn + 1 - z.zone_start_pfn] = 0
    return {"pfns": pfn + 1}


def plant_buddy_flag(z: Zone) -> dict[str, Any]:
    pfn, o, _ = free_head(z, 0)
    z.buddy_order[pfn - z.zone_start_pfn] = -1
    return {"pfns": pfn, "orders": o}


def plant_buddies_merged(z: Zone) -> dict[str, Any]:
    pfn, o, mt = free_head(z, 1)
    relink(z, pfn, o - 1, mt)
    half = pfn + (1 << (o - 1))
    z.list_add(half - z.zone_start_pfn, (o - 1) * MIGRATE_TYPES + mt)
    z.buddy_order[half - z.zone_start_pfn] = o - 1
    z.free_area[o].nr_free -= 1
    z.free_area[o - 1].nr_free += 2
    return {"pfns": pfn, "orders": o - 1}


def plant_pcp_cached(z: Zone) -> dict[str, Any]:
    for p in z.pageset:
        for t in (1, 2):
            pages = z.pcp_list(p.cpu, t)
            if pages:
                z.cached_mt[pages[0] - z.zone_start_pfn] = MIGRATE_UNMOVABLE
                return {"pfns": pages[0], "lists": {"cpu": p.cpu, "pcp": t}}
    raise AssertionError("no pcp page")


def plant_nr_free(z: Zone) -> dict[str, Any]:
    z.free_area[3].nr_free += 1
    return {"orders": 3}


def plant_free_pages(z: Zone) -> dict[str, Any]:
    z.vm_stat[NR_FREE_PAGES] += 1
    return {}


def plant_free_cma(z: Zone) -> dict[str, Any]:
    z.vm_stat[NR_FREE_CMA_PAGES] -= 1
    return {}


def plant_pcp_count(z: Zone) -> dict[str, Any]:
    z.pageset[1].count += z.pageset[1].batch
    return {"lists": {"cpu": 1}}


def plant_lost_page(z: Zone) -> dict[str, Any]:
    for p in z.pageset:
        for t in range(3):
            pages = z.pcp_list(p.cpu, t)
            if pages:
                z.list_del(pages[-1] - z.zone_start_pfn)
                p.count -= 1
                return {"pfns": pages[-1]}
    raise AssertionError("no pcp page")


def plant_vm_events(z: Zone) -> dict[str, Any]:
    z.vm_stat[PGFREE] += 1
    return {}


def plant_alloc_batch(z: Zone) -> dict[str, Any]:
    z.vm_stat[NR_ALLOC_BATCH] -= 1
    return {}


def plant_fair(z: Zone) -> dict[str, Any]:
    z.fair_depleted = not z.fair_depleted
    return {}


def first_pfn(z: Zone, index: int) -> int:
    """The first pfn inside the zone of pageblock ``index`` (from the zone's first)."""
    pbo = z.pageblock_order
    return max(z.zone_start_pfn, ((z.zone_start_pfn >> pbo) + index) << pbo)


def plant_isolated_pageblock(z: Zone) -> dict[str, Any]:
    index = list(z.pageblock_mt).index(MIGRATE_MOVABLE)
    z.pageblock_mt[index] = MIGRATE_ISOLATE
    return {"pfns": first_pfn(z, index)}


def plant_cma_split(z: Zone) -> dict[str, Any]:
    # the second pageblock of a CMA max-order block stops being CMA
    types = list(z.pageblock_mt)
    index = types.index(MIGRATE_CMA) + 1
    assert types[index] == MIGRATE_CMA
    z.pageblock_mt[index] = MIGRATE_MOVABLE
    return {"pfns": first_pfn(z, index)}


def plant_cma_block_off_cma_list(z: Zone) -> dict[str, Any]:
    for o in range(z.max_order - 1, -1, -1):
        for pfn in z.free_list(o, MIGRATE_CMA):
            relink(z, pfn, o, MIGRATE_MOVABLE)
            return {"pfns": pfn, "lists": {"free_area": o, "migratetype": MIGRATE_MOVABLE}}
    raise AssertionError("no free CMA block")


PLANTS: dict[str, Callable[[Zone], dict[str, Any]]] = {
    "block_aligned": plant_block_aligned,
    "blocks_disjoint": plant_blocks_disjoint,
    "buddy_flag_on_free_heads": plant_buddy_flag,
    "buddies_merged": plant_buddies_merged,
    "pcp_list_matches_cached_mt": plant_pcp_cached,
    "no_isolated_pageblocks": plant_isolated_pageblock,
    "cma_pageblocks_whole": plant_cma_split,
    "cma_lists_match_pageblocks": plant_cma_block_off_cma_list,
    "nr_free_matches_lists": plant_nr_free,
    "free_pages_conserved": plant_free_pages,
    "free_cma_pages_conserved": plant_free_cma,
    "pcp_count_matches": plant_pcp_count,
    "zone_pages_conserved": plant_lost_page,
    "vm_events_balance": plant_vm_events,
    "alloc_batch_matches": plant_alloc_batch,
    "fair_depleted_matches": plant_fair,
}


def test_every_invariant_has_a_plant() -> None:
    assert set(PLANTS) == {inv.name for inv in INVARIANTS}


def _expect(err: InvariantViolation, want: dict[str, Any]) -> None:
    for key, value in want.items():
        got = err.details.get(key, [])
        assert value in got, (key, value, err.details)


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_full_check_names_the_planted_invariant(
    name: str, busy: tuple[Allocator, StepChecker, list[tuple[int, int]]]
) -> None:
    a, chk, _ = busy
    want = PLANTS[name](a.zone)
    with pytest.raises(InvariantViolation) as exc:
        chk.full_check()
    assert exc.value.invariant == name, str(exc.value)
    assert exc.value.kernel_ref
    _expect(exc.value, want)
    assert name in str(exc.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name",
    ["block_aligned", "buddy_flag_on_free_heads", "buddies_merged",
     "pcp_list_matches_cached_mt", "no_isolated_pageblocks", "cma_lists_match_pageblocks"],
)
def test_step_check_names_a_planted_page_invariant(
    name: str, backend: str, busy: tuple[Allocator, StepChecker, list[tuple[int, int]]]
) -> None:
    """A page corruption at a pfn the next record names is caught by that step."""
    a, _, _ = busy
    chk = make_checker(a, backend)
    want = PLANTS[name](a.zone)
    pfn = want["pfns"]
    # any step; the corrupt pfn is then named by it (an add and a del that cancel out).  (A
    # CMA block on a MOVABLE list would be stolen by an UNMOVABLE alloc, which the retype
    # predicate refuses first: that plant's step is a drain.)
    if name == "cma_lists_match_pageblocks":
        rec = a.drain(1)
    else:
        rec = a.alloc(1, 5, ["GFP_KERNEL"])
    if name == "pcp_list_matches_cached_mt":
        rec.pcp_add.append((0, 0, pfn))
        rec.pcp_del.append((0, 0, pfn))
    else:
        rec.free_add.append((pfn, 0, 0))
        rec.free_del.append((pfn, 0, 0))
    with pytest.raises(InvariantViolation) as exc:
        chk.check(rec)
        chk.flush()
    assert exc.value.invariant == name, str(exc.value)
    assert pfn in exc.value.details["pfns"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "plant"),
    [
        ("nr_free_matches_lists", lambda z: setattr(z.free_area[0], "nr_free",
                                                    z.free_area[0].nr_free + 1)),
        ("free_pages_conserved", lambda z: z.vm_stat.__setitem__(NR_FREE_PAGES,
                                                                 z.vm_stat[NR_FREE_PAGES] - 1)),
        ("pcp_count_matches", lambda z: setattr(z.pageset[0], "count", z.pageset[0].count + 3)),
        ("vm_events_balance", lambda z: z.vm_stat.__setitem__(PGFREE, z.vm_stat[PGFREE] + 1)),
        ("alloc_batch_matches", lambda z: z.vm_stat.__setitem__(NR_ALLOC_BATCH,
                                                                z.vm_stat[NR_ALLOC_BATCH] + 1)),
        ("fair_depleted_matches", lambda z: setattr(z, "fair_depleted", not z.fair_depleted)),
    ],
)
def test_step_check_names_a_planted_count(
    name: str, plant: Callable[[Zone], None], backend: str,
    busy: tuple[Allocator, StepChecker, list[tuple[int, int]]],
) -> None:
    """A counter off after a step (the step's own record says otherwise) fails that step."""
    a, _, _ = busy
    chk = make_checker(a, backend)
    rec = a.free(0, *a.allocated_blocks()[0][:1], a.allocated_blocks()[0][1])
    rec.free_add.append((0, 0, 0))  # touch order 0 so its nr_free instance is checked
    rec.free_del.append((0, 0, 0))
    plant(a.zone)
    with pytest.raises(InvariantViolation) as exc:
        chk.check(rec)
        chk.flush()
    assert exc.value.invariant == name, str(exc.value)
